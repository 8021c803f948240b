import type BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlDialect } from '../../src/db/dialect.js';
import type { Database } from '../../src/db/schema.js';
import { sqliteHandleOf } from '../../src/db/sqlite-handle.js';
import type { MemberProfile } from '../../src/exports/planner.js';
import { MemberStore } from '../../src/exports/member-store.js';
import { SegmentStore } from '../../src/segments/segment-store.js';
import {
  createTestDatabase,
  describeEachDatabase,
  type TestDatabase,
} from '../helpers/databases.js';
import { recordQueries } from '../helpers/queries.js';

const V1 = '2026-01-01T00:00:00.000Z';
const V2 = '2026-02-01T00:00:00.000Z';
const EXPORT = 'exp_members';

describeEachDatabase('members of an export, as runs read them', (get) => {
  beforeAll(async () => {
    await seedMembers(get().db);
  });

  const read = (segmentIds: string[], onlyDue: boolean, batchSize = 2) =>
    readMembers(get().db, segmentIds, onlyDue, batchSize);

  it('reads every member of one segment, with what the ledger holds', async () => {
    const members = await read(['seg_a'], false);
    expect(members.map((m) => m.key)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']);
    expect(members[0]).toMatchObject({ version: V1, delivered: { email: 'p00@x.com' } });
    expect(members[5]?.delivered).toBeNull();
    expect(members[0]?.attributes).toEqual({ email: 'p0@x.com' });
  });

  it('reads only the members due: changed, never delivered, or to be checked again', async () => {
    expect((await read(['seg_a'], true)).map((m) => m.key)).toEqual(['k2', 'k5', 'k7']);
    expect((await read(['seg_a'], true, 1)).map((m) => m.key)).toEqual(['k2', 'k5', 'k7']);
    expect((await read(['seg_b'], true)).map((m) => m.key)).toEqual(['k5', 'k7', 'k9']);
  });

  it('reads the union of segments once per profile, all of it or the members due', async () => {
    const all = await read(['seg_a', 'seg_b'], false, 5);
    expect(all.map((m) => m.key)).toEqual(Array.from({ length: 12 }, (_, n) => `k${n}`));
    const due = await read(['seg_a', 'seg_b'], true, 5);
    expect(due.map((m) => m.key)).toEqual(['k2', 'k5', 'k7', 'k9']);
    expect(due.find((m) => m.key === 'k9')).toMatchObject({ version: V2 });
  });
});

describe('members of an export, as runs read them: query plans on SQLite', () => {
  const database = seededDatabase('sqlite');

  // SQLite picks its plan without statistics; left to choose, it once read the ledger entry of
  // each member through the ledger's key, scanning the export's whole ledger per member, which
  // made a full run of 100,000 members quadratic. The reads must go through the profile index.
  it("finds each member's ledger entry through the ledger's profile index, in every read", async () => {
    const queries = await queriesOfMemberReads(database().db);

    const sqlite = sqliteHandleOf(database().db) as BetterSqlite3.Database;
    const plans = queries
      .filter((query) => query.sql.includes('export_ledger'))
      .map((query) =>
        (
          sqlite.prepare(`explain query plan ${query.sql}`).all(...query.parameters) as {
            detail: string;
          }[]
        ).map((step) => step.detail),
      );
    // One-segment full and due reads, union reads of ids: at least four kinds of query.
    expect(plans.length).toBeGreaterThanOrEqual(4);
    for (const plan of plans) {
      const ledgerSteps = plan.filter((step) => / l\b/.test(step));
      expect(ledgerSteps).toHaveLength(1);
      expect(ledgerSteps[0]).toMatch(
        /INDEX export_ledger_profile_idx \(export_id=\? AND profile_id[=>]\?\)/,
      );
    }
  });
});

describe('members of an export, as runs read them: query plans on PostgreSQL', () => {
  const database = seededDatabase('postgres');

  // With statistics of a full membership, PostgreSQL may merge-join a page of members with the
  // profiles' key. The join implies p.id > cursor but PostgreSQL does not infer it, so unless
  // the query says so the profiles' scan starts at the first profile on every page: a run of
  // 1,000,000 members spent 1.2 s a page there. Merge joins are forced here to see the bound.
  it('starts the profiles at the page cursor when it merge-joins them with the members', async () => {
    const queries = await queriesOfMemberReads(database().db);
    const paged = queries.filter((query) => query.sql.includes('m.profile_id >'));
    expect(paged.length).toBeGreaterThanOrEqual(2);
    await database()
      .db.connection()
      .execute(async (connection) => {
        await sql`set enable_nestloop = off`.execute(connection);
        await sql`set enable_hashjoin = off`.execute(connection);
        // Tiny tables would be read whole and sorted; a real membership is read through indexes.
        await sql`set enable_seqscan = off`.execute(connection);
        await sql`set enable_sort = off`.execute(connection);
        for (const query of paged) {
          const { rows } = await connection.executeQuery<{ 'QUERY PLAN': string }>(
            CompiledQuery.raw(`explain ${query.sql}`, [...query.parameters]),
          );
          const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
          expect(plan).toContain('Merge Join');
          expect(plan).toMatch(/on profiles p[^\n]*\n\s*Index Cond: \(id > /);
        }
      });
  });
});

/** A database of `dialect` holding the members, for the tests of the describe block calling this. */
function seededDatabase(dialect: SqlDialect): () => TestDatabase {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    await seedMembers(database.db);
  });
  afterAll(() => database?.drop());
  return () => {
    if (!database) throw new Error('the test database is not ready yet (use it inside tests)');
    return database;
  };
}

/** The compiled queries that reading the members runs, in all four ways (as readMembers). */
function queriesOfMemberReads(db: Kysely<Database>): Promise<CompiledQuery[]> {
  return recordQueries(db, async (recorded) => {
    for (const segments of [['seg_a'], ['seg_a', 'seg_b']])
      for (const onlyDue of [false, true]) await readMembers(recorded, segments, onlyDue, 3);
  });
}

async function readMembers(
  db: Kysely<Database>,
  segmentIds: string[],
  onlyDue: boolean,
  batchSize: number,
): Promise<MemberProfile[]> {
  const store = new MemberStore(db, new SegmentStore(db));
  const members: MemberProfile[] = [];
  for await (const page of store.iterateMembers(segmentIds, {
    batchSize,
    exportId: EXPORT,
    onlyDue,
  })) {
    expect(page.length).toBeLessThanOrEqual(batchSize);
    members.push(...page);
  }
  return members;
}

/**
 * 12 profiles; segment A holds 0-7, segment B holds 4-11 (4-7 in both); an export whose ledger
 * holds all but profile 5.
 */
async function seedMembers(db: Kysely<Database>): Promise<void> {
  const ids = Array.from({ length: 12 }, (_, n) => `prf_${String(n).padStart(2, '0')}`);
  await db
    .insertInto('profiles')
    .values(
      ids.map((id, n) => ({
        id,
        key: `k${n}`,
        attributes: JSON.stringify({ email: `p${n}@x.com` }),
        created_at: V1,
        // Profiles 2 and 9 changed since the export delivered them.
        updated_at: n === 2 || n === 9 ? V2 : V1,
      })),
    )
    .execute();
  for (const [segment, from, to] of [
    ['seg_a', 0, 8],
    ['seg_b', 4, 12],
  ] as const) {
    await db
      .insertInto('segments')
      .values({
        id: segment,
        name: segment,
        description: '',
        rule: '{"all":[]}',
        created_at: V1,
        updated_at: V1,
        member_count: to - from,
        refreshed_at: V1,
        refresh_ms: 1,
      })
      .execute();
    await db
      .insertInto('segment_members')
      .values(ids.slice(from, to).map((id) => ({ segment_id: segment, profile_id: id })))
      .execute();
  }
  await db
    .insertInto('exports')
    .values({
      id: EXPORT,
      name: 'Members',
      connection_id: null,
      list_id: 'list',
      mapping: '{}',
      mode: 'upsert',
      schedule: 'none',
      created_by: 'usr',
      created_at: V1,
      updated_at: V1,
      ledger_settings: null,
    })
    .execute();
  // Delivered at V1: every profile but 5 (never delivered) and 7 (to be checked again).
  await db
    .insertInto('export_ledger')
    .values(
      ids
        .filter((id) => id !== 'prf_05')
        .map((id) => ({
          export_id: EXPORT,
          email: `p${id.slice(4)}@x.com`,
          hash: `h${id}`,
          delivered_at: V1,
          profile_id: id,
          seen: id === 'prf_07' ? null : V1,
        })),
    )
    .execute();
}
