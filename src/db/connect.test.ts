import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from './connect.js';

describe('SQLite transactions', () => {
  const opened: DatabaseHandle[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const handle of opened.splice(0)) await handle.close();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('take the write lock when they begin, so a write after a read waits instead of failing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-tx-'));
    dirs.push(dir);
    const file = path.join(dir, 'segsync.db');
    const handle = openDatabase({ kind: 'sqlite', file });
    opened.push(handle);
    await sql`create table t (n integer)`.execute(handle.db);
    // Another process, as a CLI command beside a running export is.
    const other = new BetterSqlite3(file);
    other.pragma('busy_timeout = 50');
    try {
      await handle.db.transaction().execute(async (trx) => {
        await sql`select count(*) from t`.execute(trx);
        // A deferred transaction holds no lock yet here: the other write would pass, and this
        // transaction's own write below would then fail with "database is locked".
        expect(() => other.prepare('insert into t values (1)').run()).toThrow(/locked|busy/);
        await sql`insert into t values (2)`.execute(trx);
      });
      expect(other.prepare('insert into t values (3)').run().changes).toBe(1);
    } finally {
      other.close();
    }
  });
});
