import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeDatabase, loadConfig } from './config.js';
import { ConfigError } from './shared/errors.js';

describe('loadConfig', () => {
  it('defaults to SQLite in ./data of the working folder', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config).toMatchObject({
      dataDir: '/srv/app/data',
      database: { kind: 'sqlite', file: '/srv/app/data/segsync.db' },
      logLevel: 'info',
      port: 3000,
      host: '127.0.0.1',
      masterKey: undefined,
    });
  });

  it('reads every variable', () => {
    const config = loadConfig(
      {
        SEGSYNC_DATA_DIR: 'var/segsync',
        DATABASE_URL: 'postgres://u:p@db:5432/segsync',
        SEGSYNC_MASTER_KEY: 'ab'.repeat(32),
        SEGSYNC_LOG_LEVEL: 'debug',
        PORT: '8080',
        HOST: '0.0.0.0',
      },
      '/srv',
    );
    expect(config.dataDir).toBe(path.resolve('/srv/var/segsync'));
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db:5432/segsync' });
    expect(config.masterKey?.length).toBe(32);
    expect(config).toMatchObject({ logLevel: 'debug', port: 8080, host: '0.0.0.0' });
  });

  it('accepts a base64 master key and treats blank variables as unset', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const config = loadConfig({ SEGSYNC_MASTER_KEY: key, DATABASE_URL: '', PORT: ' ' }, '/x');
    expect(config.masterKey).toEqual(Buffer.alloc(32, 7));
    expect(config.database.kind).toBe('sqlite');
    expect(config.port).toBe(3000);
  });

  it.each([
    ['PORT', 'abc', /PORT: expected a port number/],
    ['PORT', '70000', /PORT: expected a port from 0 to 65535/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL: expected a postgres:\/\//],
    ['SEGSYNC_LOG_LEVEL', 'loud', /SEGSYNC_LOG_LEVEL: expected one of fatal, error/],
    ['SEGSYNC_MASTER_KEY', 'short', /SEGSYNC_MASTER_KEY: expected 32 bytes/],
  ])('refuses %s=%s with a message naming the variable', (name, value, message) => {
    const attempt = () => loadConfig({ [name]: value }, '/x');
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });

  it('never echoes a bad master key back', () => {
    const secret = 'not-a-valid-key-but-secret';
    expect(() => loadConfig({ SEGSYNC_MASTER_KEY: secret }, '/x')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(secret) as unknown }),
    );
  });
});

describe('describeDatabase', () => {
  it('leaves the password out', () => {
    const text = describeDatabase({
      kind: 'postgres',
      url: 'postgres://user:hunter2@db.local:6543/seg',
    });
    expect(text).toBe('PostgreSQL db.local:6543/seg');
  });
});
