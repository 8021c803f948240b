import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import type { SqlDialect } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/schema.js';

export const testDialects: readonly SqlDialect[] = ['sqlite', 'postgres'];

/** A migrated, empty database for one test suite, and how to get rid of it. */
export interface TestDatabase {
  handle: DatabaseHandle;
  db: Kysely<Database>;
  dialect: SqlDialect;
  /** A connection URL (PostgreSQL) or file path (SQLite) another process could open. */
  location: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };
  drop(): Promise<void>;
}

/**
 * Creates a fresh database of `dialect`: an SQLite file in a temp folder, or a new database on
 * the test PostgreSQL server (see postgres-global-setup.ts). Migrated unless `migrate` is false.
 */
export async function createTestDatabase(
  dialect: SqlDialect,
  options: { migrate?: boolean } = {},
): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-sqlite-'));
    const location = { kind: 'sqlite' as const, file: path.join(dir, 'test.db') };
    const handle = openDatabase(location);
    if (options.migrate ?? true) await migrateToLatest(handle.db);
    return {
      handle,
      db: handle.db,
      dialect,
      location,
      drop: async () => {
        await handle.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const adminUrl = inject('postgresAdminUrl');
  const name = `segsync_test_${randomBytes(6).toString('hex')}`;
  await withAdminClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const location = { kind: 'postgres' as const, url: url.toString() };
  const handle = openDatabase(location, { poolSize: 4 });
  if (options.migrate ?? true) await migrateToLatest(handle.db);
  return {
    handle,
    db: handle.db,
    dialect,
    location,
    drop: async () => {
      await handle.close();
      await withAdminClient(adminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
      );
    },
  };
}

async function withAdminClient<T>(
  url: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Declares a store suite once and runs it on SQLite and on PostgreSQL, each on a fresh, migrated
 * database that is dropped afterwards. `get()` returns the suite's database inside tests.
 */
export function describeEachDatabase(
  title: string,
  body: (get: () => TestDatabase) => void,
  options: { migrate?: boolean } = {},
): void {
  for (const dialect of testDialects) {
    describe(`${title} [${dialect}]`, () => {
      let current: TestDatabase | undefined;
      beforeAll(async () => {
        current = await createTestDatabase(dialect, options);
      });
      afterAll(async () => {
        await current?.drop();
      });
      body(() => {
        if (!current) throw new Error('the test database is not ready yet (use it inside tests)');
        return current;
      });
    });
  }
}
