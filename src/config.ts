import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './shared/errors.js';
import { logLevels, type LogLevel } from './shared/logger.js';

/**
 * All of segsync's configuration comes from environment variables, read here and nowhere else,
 * once, at start. A bad value stops the start with a message naming the variable.
 */

/** Where the data lives: an SQLite file (the embedded default) or a PostgreSQL server. */
export type DatabaseTarget = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export interface Config {
  /** Absolute path of the data folder (SQLite file, master key, sandbox state). */
  dataDir: string;
  database: DatabaseTarget;
  /** The 32-byte key that encrypts stored secrets, when given by SEGSYNC_MASTER_KEY. */
  masterKey: Buffer | undefined;
  logLevel: LogLevel;
  port: number;
  host: string;
}

// An empty variable (`DATABASE_URL=`) means the same as an unset one; defaults apply in loadConfig.
function unsetWhenBlank<S extends z.ZodType>(schema: S) {
  return z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    schema.optional(),
  );
}

const envSchema = z.object({
  SEGSYNC_DATA_DIR: unsetWhenBlank(z.string()),
  DATABASE_URL: unsetWhenBlank(
    z.string().regex(/^postgres(ql)?:\/\/\S+$/, {
      message: 'expected a postgres://user:password@host:port/database URL, or unset for SQLite',
    }),
  ),
  SEGSYNC_MASTER_KEY: unsetWhenBlank(
    z.string().refine((value) => decodeMasterKey(value) !== undefined, {
      message: 'expected 32 bytes as 64 hexadecimal characters or as base64',
    }),
  ),
  SEGSYNC_LOG_LEVEL: unsetWhenBlank(
    z.enum(logLevels, { message: `expected one of ${logLevels.join(', ')}` }),
  ),
  PORT: unsetWhenBlank(
    z.coerce
      .number({ message: 'expected a port number' })
      .int({ message: 'expected a whole port number' })
      .min(0, { message: 'expected a port from 0 to 65535' })
      .max(65535, { message: 'expected a port from 0 to 65535' }),
  ),
  HOST: unsetWhenBlank(z.string()),
});

/**
 * Reads the configuration from `env` (the process environment by default, the only place in
 * segsync that reads it) relative to `cwd`, or throws a ConfigError naming each bad variable.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  cwd: string = process.cwd(),
): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.'),
      message: issue.message,
    }));
    throw new ConfigError(
      `invalid configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  const parsed = result.data;
  const dataDir = path.resolve(cwd, parsed.SEGSYNC_DATA_DIR ?? './data');
  return {
    dataDir,
    database: parsed.DATABASE_URL
      ? { kind: 'postgres', url: parsed.DATABASE_URL }
      : { kind: 'sqlite', file: path.join(dataDir, 'segsync.db') },
    masterKey: parsed.SEGSYNC_MASTER_KEY ? decodeMasterKey(parsed.SEGSYNC_MASTER_KEY) : undefined,
    logLevel: parsed.SEGSYNC_LOG_LEVEL ?? 'info',
    port: parsed.PORT ?? 3000,
    host: parsed.HOST ?? '127.0.0.1',
  };
}

/** Decodes a 32-byte master key written as hex or base64; undefined when it is neither. */
function decodeMasterKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, 'base64');
    if (bytes.length === 32) return bytes;
  }
  return undefined;
}

/** Describes where the data lives without any password, for status output and logs. */
export function describeDatabase(target: DatabaseTarget): string {
  switch (target.kind) {
    case 'sqlite':
      return `SQLite ${target.file}`;
    case 'postgres': {
      try {
        const url = new URL(target.url);
        return `PostgreSQL ${url.hostname}:${url.port || '5432'}${url.pathname}`;
      } catch {
        return 'PostgreSQL (unparseable DATABASE_URL)';
      }
    }
  }
}

/**
 * Reads a secret from the environment variable the user named (`--api-key-env VAR`), so a key
 * need not sit in shell history. Undefined when the variable is unset or empty.
 */
export function readSecretFromEnv(
  name: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}
