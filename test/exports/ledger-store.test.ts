import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/schema.js';
import { sqliteHandleOf } from '../../src/db/sqlite-handle.js';
import { LedgerStore } from '../../src/exports/ledger-store.js';
import { createTestDatabase, describeEachDatabase } from '../helpers/databases.js';
import { recordQueries } from '../helpers/queries.js';

const EXPORT = 'exp_ledger';
const OTHER = 'exp_other';
const V1 = '2026-01-01T00:00:00.000Z';
const V2 = '2026-02-01T00:00:00.000Z';

describeEachDatabase('the ledger: marking entries seen and giving them up', (get) => {
  beforeEach(async () => {
    await get().db.deleteFrom('export_ledger').execute();
    await get().db.deleteFrom('exports').execute();
    await seedLedger(get().db);
  });

  const entries = (exportId = EXPORT) =>
    get()
      .db.selectFrom('export_ledger')
      .select(['email', 'profile_id', 'seen', 'hash', 'adopted'])
      .where('export_id', '=', exportId)
      .orderBy('email')
      .execute();

  it('marks the entries named seen at the given profile versions, and nothing else', async () => {
    await new LedgerStore(get().db).markSeen(EXPORT, [
      { email: 'a@x.com', profileId: 'prf_a2', seen: V2 },
      { email: 'c@x.com', profileId: 'prf_c', seen: V2 },
      // Not in the ledger: nothing is created for it.
      { email: 'nobody@x.com', profileId: 'prf_n', seen: V2 },
    ]);
    expect(await entries()).toEqual([
      { email: 'a@x.com', profile_id: 'prf_a2', seen: V2, hash: 'h-a', adopted: 0 },
      { email: 'b@x.com', profile_id: 'prf_b', seen: V1, hash: 'h-b', adopted: 0 },
      { email: 'c@x.com', profile_id: 'prf_c', seen: V2, hash: 'h-c', adopted: 1 },
    ]);
    // Another export's ledger is its own.
    expect((await entries(OTHER)).map((e) => e.seen)).toEqual([V1]);
  });

  it('gives up the entries of the profiles named, unless another profile claimed them since', async () => {
    await new LedgerStore(get().db).giveUp(EXPORT, [
      { email: 'a@x.com', profileId: 'prf_a' },
      { email: 'b@x.com', profileId: 'prf_somebody_else' },
    ]);
    expect(await entries()).toMatchObject([
      { email: 'a@x.com', profile_id: null, seen: null, hash: 'h-a' },
      { email: 'b@x.com', profile_id: 'prf_b', seen: V1 },
      { email: 'c@x.com', profile_id: 'prf_c', seen: V1 },
    ]);
    expect((await entries(OTHER))[0]).toMatchObject({ profile_id: 'prf_a', seen: V1 });
  });

  it('marks the entries of the profiles named to be checked again, keeping what they delivered', async () => {
    await new LedgerStore(get().db).markUnseen(EXPORT, [
      { email: 'a@x.com', profileId: 'prf_a' },
      { email: 'b@x.com', profileId: 'prf_somebody_else' },
    ]);
    expect(await entries()).toMatchObject([
      { email: 'a@x.com', profile_id: 'prf_a', seen: null, hash: 'h-a' },
      { email: 'b@x.com', profile_id: 'prf_b', seen: V1 },
      { email: 'c@x.com', profile_id: 'prf_c', seen: V1 },
    ]);
    expect((await entries(OTHER))[0]).toMatchObject({ profile_id: 'prf_a', seen: V1 });
  });
});

describe('the ledger: query plans on SQLite', () => {
  // SQLite ran the UPDATE ... FROM these statements were first written as with the ledger
  // outside: for each entry of the export, a scan of every contact named. 2,000 contacts in a
  // ledger of 77,000 took 117 s, and a --full run marks every member seen. Each contact named
  // must be looked up by the ledger's primary key, and the export's entries never scanned.
  it('looks up each contact named by the primary key', async () => {
    const database = await createTestDatabase('sqlite');
    try {
      await seedLedger(database.db);
      const queries = await recordQueries(database.db, async (recorded) => {
        const ledger = new LedgerStore(recorded);
        await ledger.markSeen(EXPORT, [{ email: 'a@x.com', profileId: 'prf_a', seen: V2 }]);
        await ledger.giveUp(EXPORT, [{ email: 'a@x.com', profileId: 'prf_a' }]);
        await ledger.markUnseen(EXPORT, [{ email: 'a@x.com', profileId: 'prf_a' }]);
      });
      expect(queries).toHaveLength(3);
      const sqlite = sqliteHandleOf(database.db) as BetterSqlite3.Database;
      for (const query of queries) {
        const plan = (
          sqlite.prepare(`explain query plan ${query.sql}`).all(...query.parameters) as {
            detail: string;
          }[]
        ).map((step) => step.detail);
        const ledgerSteps = plan.filter((step) => /export_ledger| l\b/.test(step));
        expect(ledgerSteps).toEqual([
          expect.stringMatching(/^SEARCH l USING PRIMARY KEY \(export_id=\? AND email=\?\)$/),
        ]);
        // The contacts named come first, the ledger looked up for each.
        expect(plan.findIndex((step) => /^SCAN /.test(step))).toBeLessThan(
          plan.indexOf(ledgerSteps[0] ?? ''),
        );
      }
    } finally {
      await database.drop();
    }
  });
});

/** Two exports; EXPORT's ledger holds a, b and c (c adopted), OTHER's holds a. All seen at V1. */
async function seedLedger(db: Kysely<Database>): Promise<void> {
  for (const id of [EXPORT, OTHER]) {
    await db
      .insertInto('exports')
      .values({
        id,
        name: id,
        connection_id: null,
        list_id: 'list',
        mapping: '{}',
        mode: 'mirror',
        schedule: 'none',
        created_by: 'test',
        created_at: V1,
        updated_at: V1,
      })
      .execute();
  }
  const entry = (exportId: string, name: string, adopted = 0) => ({
    export_id: exportId,
    email: `${name}@x.com`,
    hash: `h-${name}`,
    delivered_at: V1,
    profile_id: `prf_${name}`,
    seen: V1,
    adopted,
  });
  await db
    .insertInto('export_ledger')
    .values([entry(EXPORT, 'a'), entry(EXPORT, 'b'), entry(EXPORT, 'c', 1), entry(OTHER, 'a')])
    .execute();
}
