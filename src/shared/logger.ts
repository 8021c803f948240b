import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { redactSecretsInText, scrubSecrets } from './secrets.js';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

/** The logging interface the rest of segsync depends on; pino implements it. */
export interface Logger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
  child(bindings: object): Logger;
}

/**
 * A pino logger writing JSON lines to `destination` (stderr by default, so `--json` outputs on
 * stdout stay clean). Every field and message passes through the secret scrubber first: a key
 * that reaches a log call by mistake is written masked.
 */
export function createLogger(
  options: { level?: LogLevel; destination?: DestinationStream } = {},
): Logger {
  return withScrubbedChildren(
    pino(
      {
        level: options.level ?? 'info',
        base: undefined,
        // pino's own `err` serializer would run before the scrubber and hide error types from it.
        serializers: { err: (value: unknown) => scrubSecrets(value) },
        formatters: {
          log: (fields) => scrubSecrets(fields) as Record<string, unknown>,
        },
        hooks: {
          logMethod(args, method) {
            const scrubbed = args.map((arg) =>
              typeof arg === 'string' ? redactSecretsInText(arg) : arg,
            );
            method.apply(this, scrubbed as Parameters<typeof method>);
          },
        },
      },
      options.destination ?? pino.destination({ fd: 2, sync: true }),
    ),
  );
}

// pino writes a child's bindings as given, past the log formatter: scrub them on the way in.
function withScrubbedChildren(base: PinoLogger): Logger {
  return {
    error: (fields, message) => base.error(fields, message),
    warn: (fields, message) => base.warn(fields, message),
    info: (fields, message) => base.info(fields, message),
    debug: (fields, message) => base.debug(fields, message),
    child: (bindings) => withScrubbedChildren(base.child(scrubSecrets(bindings) as object)),
  };
}

/** A logger that drops everything: for tests and library use. */
export const silentLogger: Logger = createLogger({ level: 'silent' });
