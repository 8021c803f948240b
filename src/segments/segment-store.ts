import { sql, type Kysely, type SqlBool, type Expression } from 'kysely';
import { dialectOf, refreshPlannerStatistics, type SqlDialect } from '../db/dialect.js';
import type { Database } from '../db/schema.js';
import { parseAttributes } from '../profiles/profile-store.js';
import type { Rule } from './rule.js';

/** A stored segment and the summary of its last refresh. */
export interface Segment {
  id: string;
  name: string;
  description: string;
  rule: Rule;
  createdAt: string;
  updatedAt: string;
  /** Members at the last refresh; null before the first refresh. */
  memberCount: number | null;
  refreshedAt: string | null;
  /** How long the last refresh took, in milliseconds. */
  refreshMs: number | null;
}

/** One point of a segment's count history. */
export interface RefreshRecord {
  refreshedAt: string;
  memberCount: number;
  durationMs: number;
}

/** A profile as exports receive it: its id, its key and its attribute values by name. */
export interface MemberProfile {
  profileId: string;
  key: string;
  /** Values by attribute name; dates are ISO-8601 UTC strings; absent attributes are left out. */
  attributes: Record<string, string | number | boolean | null>;
}

type SegmentRow = Database['segments'];

function toSegment(row: SegmentRow): Segment {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    rule: JSON.parse(row.rule) as Rule,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    memberCount: row.member_count,
    refreshedAt: row.refreshed_at,
    refreshMs: row.refresh_ms,
  };
}

function toMember(row: { id: string; key: string; attributes: unknown }): MemberProfile {
  return {
    profileId: row.id,
    key: row.key,
    attributes: parseAttributes(row.attributes),
  };
}

/** Segments, their stored membership and refresh history, on either dialect. */
export class SegmentStore {
  constructor(private readonly db: Kysely<Database>) {}

  get dialect(): SqlDialect {
    return dialectOf(this.db);
  }

  async insert(segment: Segment): Promise<void> {
    await this.db
      .insertInto('segments')
      .values({
        id: segment.id,
        name: segment.name,
        description: segment.description,
        rule: JSON.stringify(segment.rule),
        created_at: segment.createdAt,
        updated_at: segment.updatedAt,
        member_count: null,
        refreshed_at: null,
        refresh_ms: null,
      })
      .execute();
  }

  async update(
    id: string,
    fields: { name: string; description: string; rule: Rule; updatedAt: string },
  ): Promise<void> {
    await this.db
      .updateTable('segments')
      .set({
        name: fields.name,
        description: fields.description,
        rule: JSON.stringify(fields.rule),
        updated_at: fields.updatedAt,
      })
      .where('id', '=', id)
      .execute();
  }

  async get(id: string): Promise<Segment | undefined> {
    const row = await this.db
      .selectFrom('segments')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toSegment(row);
  }

  async getByName(name: string): Promise<Segment | undefined> {
    const row = await this.db
      .selectFrom('segments')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toSegment(row);
  }

  /** Every segment, by name. */
  async list(): Promise<Segment[]> {
    const rows = await this.db
      .selectFrom('segments')
      .selectAll()
      .orderBy('name')
      .orderBy('id')
      .execute();
    return rows.map(toSegment);
  }

  /** Deletes a segment with its membership and history; false when there was none. */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // Explicit deletes: the cascade would do it, but not on an SQLite file opened elsewhere
      // without foreign keys turned on.
      await trx.deleteFrom('segment_members').where('segment_id', '=', id).execute();
      await trx.deleteFrom('segment_refreshes').where('segment_id', '=', id).execute();
      const result = await trx.deleteFrom('segments').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  /**
   * Replaces the segment's membership with the profiles matching `predicate`, records the count,
   * the time and the duration on the segment and in its history, all in one transaction.
   */
  async refresh(
    id: string,
    predicate: Expression<SqlBool>,
    refreshedAt: string,
    historyId: string,
  ): Promise<RefreshRecord> {
    const record = await this.db.transaction().execute(async (trx) => {
      // Two refreshes of one segment at once take turns: on PostgreSQL the segment's row is
      // locked first (else both delete the old members, and the second's inserts collide with
      // the first's); SQLite takes one writer at a time anyway.
      if (dialectOf(this.db) === 'postgres') {
        await sql`select id from segments where id = ${id} for update`.execute(trx);
      }
      const started = performance.now();
      await trx.deleteFrom('segment_members').where('segment_id', '=', id).execute();
      const inserted = await trx
        .insertInto('segment_members')
        .columns(['segment_id', 'profile_id'])
        .expression((eb) =>
          eb
            .selectFrom('profiles')
            .select([sql<string>`${id}`.as('segment_id'), 'profiles.id'])
            .where(predicate),
        )
        .executeTakeFirst();
      const memberCount = Number(inserted.numInsertedOrUpdatedRows ?? 0);
      const durationMs = Math.round(performance.now() - started);
      await trx
        .updateTable('segments')
        .set({ member_count: memberCount, refreshed_at: refreshedAt, refresh_ms: durationMs })
        .where('id', '=', id)
        .execute();
      await trx
        .insertInto('segment_refreshes')
        .values({
          id: historyId,
          segment_id: id,
          refreshed_at: refreshedAt,
          member_count: memberCount,
          duration_ms: durationMs,
        })
        .execute();
      return { refreshedAt, memberCount, durationMs };
    });
    await refreshPlannerStatistics(this.db, 'segment_members');
    return record;
  }

  /** The refresh history of a segment, newest first. */
  async history(id: string, limit: number): Promise<RefreshRecord[]> {
    const rows = await this.db
      .selectFrom('segment_refreshes')
      .select(['refreshed_at', 'member_count', 'duration_ms'])
      .where('segment_id', '=', id)
      .orderBy('refreshed_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      refreshedAt: row.refreshed_at,
      memberCount: row.member_count,
      durationMs: row.duration_ms,
    }));
  }

  /** How many profiles match `predicate`, and the first `sampleSize` of them by id. */
  async preview(
    predicate: Expression<SqlBool>,
    sampleSize: number,
  ): Promise<{ count: number; sample: MemberProfile[] }> {
    const counted = await this.db
      .selectFrom('profiles')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where(predicate)
      .executeTakeFirstOrThrow();
    const rows = await this.db
      .selectFrom('profiles')
      .select(['id', 'key', 'attributes'])
      .where(predicate)
      .orderBy('id')
      .limit(sampleSize)
      .execute();
    return { count: Number(counted.n), sample: rows.map(toMember) };
  }

  /** The number of distinct profiles in the stored membership of any of `segmentIds`. */
  /** Of `segmentIds`, the segments never refreshed: their membership was never computed. */
  /** Of `segmentIds`, those that do not exist. */
  async missing(segmentIds: readonly string[]): Promise<string[]> {
    if (segmentIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('segments')
      .select('id')
      .where('id', 'in', segmentIds)
      .execute();
    const found = new Set(rows.map((row) => row.id));
    return segmentIds.filter((id) => !found.has(id));
  }

  async unrefreshed(segmentIds: readonly string[]): Promise<{ id: string; name: string }[]> {
    if (segmentIds.length === 0) return [];
    return this.db
      .selectFrom('segments')
      .select(['id', 'name'])
      .where('id', 'in', segmentIds)
      .where('refreshed_at', 'is', null)
      .orderBy('id')
      .execute();
  }

  async countMembers(segmentIds: readonly string[]): Promise<number> {
    const [only] = segmentIds;
    if (only === undefined) return 0;
    if (segmentIds.length === 1) {
      // Stored with the membership, in the refresh's transaction: no need to count a million.
      const segment = await this.db
        .selectFrom('segments')
        .select('member_count')
        .where('id', '=', only)
        .executeTakeFirst();
      return segment?.member_count ?? 0;
    }
    const row = await this.db
      .selectFrom('segment_members')
      .select((eb) => eb.fn.count<number>('profile_id').distinct().as('n'))
      .where('segment_id', 'in', [...segmentIds])
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * The stored members of the union of `segmentIds`, each profile once, in profile-id order, in
   * batches of at most `batchSize`. Memory holds one batch of ids per segment, whatever the
   * segments' sizes.
   */
  async *iterateMembers(
    segmentIds: readonly string[],
    batchSize: number,
  ): AsyncGenerator<MemberProfile[]> {
    for await (const ids of this.iterateMemberIds(segmentIds, batchSize)) {
      const rows = await this.db
        .selectFrom('profiles')
        .select(['id', 'key', 'attributes'])
        .where('id', 'in', ids)
        .orderBy('id')
        .execute();
      // A profile deleted since the refresh is simply absent from its batch.
      if (rows.length > 0) yield rows.map(toMember);
    }
  }

  /**
   * The ids of the stored members of the union of `segmentIds`, each once, in order, in batches
   * of at most `batchSize`: each step reads the next `batchSize` ids of every segment from the
   * membership index and merges them.
   */
  async *iterateMemberIds(
    segmentIds: readonly string[],
    batchSize: number,
  ): AsyncGenerator<string[]> {
    let cursor = '';
    for (;;) {
      const lists = await Promise.all(
        segmentIds.map((id) =>
          this.db
            .selectFrom('segment_members')
            .select('profile_id')
            .where('segment_id', '=', id)
            .where('profile_id', '>', cursor)
            .orderBy('profile_id')
            .limit(batchSize)
            .execute(),
        ),
      );
      const ids =
        lists.length === 1
          ? (lists[0] ?? []).map((row) => row.profile_id)
          : [...new Set(lists.flatMap((rows) => rows.map((row) => row.profile_id)))]
              .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
              .slice(0, batchSize);
      const last = ids[ids.length - 1];
      if (last === undefined) return;
      yield ids;
      cursor = last;
    }
  }

  /** Ids and names of segments whose rule text mentions `id` (callers confirm by parsing). */
  async mentioning(id: string): Promise<Segment[]> {
    const rows = await this.db
      .selectFrom('segments')
      .selectAll()
      .where('id', '!=', id)
      .where(sql<SqlBool>`${sql.ref('rule')} like ${`%${id}%`}`)
      .orderBy('name')
      .execute();
    return rows.map(toSegment);
  }
}
