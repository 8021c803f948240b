import { sql, type Kysely, type RawBuilder } from 'kysely';
import { dialectOf, lookupJoin, readThroughIndex } from '../db/dialect.js';
import type { Database } from '../db/schema.js';
import { parseAttributes } from '../profiles/profile-store.js';
import type { SegmentStore } from '../segments/segment-store.js';
import type { MemberProfile, MemberSource } from './planner.js';

interface MemberRow {
  id: string;
  key: string;
  attributes: unknown;
  updated_at: string;
  email: string | null;
  hash: string | null;
  adopted: number | null;
  seen: string | null;
}

/**
 * The members of an export's segments, read for a run: each with its version and what the
 * export's ledger holds for it, so that a run can skip, in SQL, every member delivered at its
 * current version. A delta run then reads, maps and hashes only the members that are new or
 * changed, instead of rebuilding every contact to compare hashes.
 */
export class MemberStore implements MemberSource {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly segments: SegmentStore,
  ) {}

  countMembers(segmentIds: readonly string[]): Promise<number> {
    return this.segments.countMembers(segmentIds);
  }

  unrefreshedSegments(segmentIds: readonly string[]): Promise<{ id: string; name: string }[]> {
    return this.segments.unrefreshed(segmentIds);
  }

  missingSegments(segmentIds: readonly string[]): Promise<string[]> {
    return this.segments.missing(segmentIds);
  }

  async *iterateMembers(
    segmentIds: readonly string[],
    options: { batchSize: number; exportId: string; onlyDue: boolean },
  ): AsyncGenerator<MemberProfile[]> {
    const [only] = segmentIds;
    const pages =
      segmentIds.length === 1 && only !== undefined
        ? this.pagesOfOneSegment(only, options)
        : this.pagesOfUnion(segmentIds, options);
    for await (const rows of pages) {
      yield rows.map((row) => ({
        profileId: row.id,
        key: row.key,
        attributes: parseAttributes(row.attributes),
        version: row.updated_at,
        delivered:
          row.email !== null && row.hash !== null
            ? {
                email: row.email,
                hash: row.hash,
                adopted: Number(row.adopted) === 1,
                seen: row.seen,
              }
            : null,
      }));
    }
  }

  /**
   * One segment, the common case: pages of its members in id order, each with the profile and
   * the ledger's entry. With `onlyDue`, the members due are found first from indexes alone (see
   * dueMembers), and only they are read whole.
   */
  private async *pagesOfOneSegment(
    segmentId: string,
    options: { batchSize: number; exportId: string; onlyDue: boolean },
  ): AsyncGenerator<MemberRow[]> {
    let cursor = '';
    for (;;) {
      // Pages are cut by the membership's scan; the cursor is the last member it returned. The
      // queries bound the profiles by it too (p.id > cursor, implied by the join): PostgreSQL
      // may merge-join the membership with the profiles' key, and without that bound it reads
      // the profiles from the first one for every page (1.2 s a page at 1,000,000 profiles).
      let page: string[];
      let rows: MemberRow[];
      if (options.onlyDue) {
        page = await this.dueMembers(segmentId, cursor, options);
        rows = await this.rowsOf(page, options.exportId);
      } else {
        ({ rows } = await sql<MemberRow>`
          select ${memberColumns} from segment_members m
          join profiles p on p.id = m.profile_id
          ${this.ledgerOfProfile(options.exportId)}
          where m.segment_id = ${segmentId} and m.profile_id > ${cursor} and p.id > ${cursor}
          order by m.profile_id
          limit ${options.batchSize}`.execute(this.db));
        page = rows.map((row) => row.id);
      }
      if (rows.length > 0) yield rows;
      const last = page.at(-1);
      // A short page means the scan reached the end.
      if (last === undefined || page.length < options.batchSize) return;
      cursor = last;
    }
  }

  /** Several segments: pages of the union's ids (segment-store.ts), then their profiles. */
  private async *pagesOfUnion(
    segmentIds: readonly string[],
    options: { batchSize: number; exportId: string; onlyDue: boolean },
  ): AsyncGenerator<MemberRow[]> {
    for await (const ids of this.segments.iterateMemberIds(segmentIds, options.batchSize)) {
      const due = options.onlyDue ? await this.dueAmong(ids, options.exportId) : ids;
      const rows = await this.rowsOf(due, options.exportId);
      if (rows.length > 0) yield rows;
    }
  }

  /**
   * Up to `batchSize` members of the segment after `cursor`, in id order, that the export's
   * ledger does not hold at their current version (new, changed, or never delivered). Read from
   * the membership's key, the profiles' version index and the ledger's profile index alone, so
   * a delta run passes over the unchanged members without reading a single profile row.
   */
  private async dueMembers(
    segmentId: string,
    cursor: string,
    options: { batchSize: number; exportId: string },
  ): Promise<string[]> {
    const dialect = dialectOf(this.db);
    const { rows } =
      dialect === 'sqlite'
        ? // The members at their versions, except the (profile, version) pairs the ledger
          // holds: SQLite merges the two index-ordered scans (its EXCEPT with ORDER BY), one
          // lookup per member instead of two; a 100,000-member scan takes 100-115 ms, not
          // 180-200. PostgreSQL has no merging EXCEPT: it would read both sides whole per page.
          await sql<{ id: string }>`
            select m.profile_id as id, p.updated_at as version from segment_members m
            join profiles p ${readThroughIndex(dialect, 'profiles_version_idx')}
              on p.id = m.profile_id
            where m.segment_id = ${segmentId} and m.profile_id > ${cursor}
            except
            select l.profile_id, l.seen from export_ledger l
              ${readThroughIndex(dialect, 'export_ledger_profile_idx')}
            where l.export_id = ${options.exportId} and l.profile_id > ${cursor}
            order by 1, 2
            limit ${options.batchSize}`.execute(this.db)
        : await sql<{ id: string }>`
            select m.profile_id as id from segment_members m
            join profiles p on p.id = m.profile_id
            ${this.ledgerOfProfile(options.exportId)}
            where m.segment_id = ${segmentId} and m.profile_id > ${cursor} and p.id > ${cursor}
              and (l.seen is null or l.seen <> p.updated_at)
            order by m.profile_id
            limit ${options.batchSize}`.execute(this.db);
    return rows.map((row) => row.id);
  }

  /** Of `ids`, those the export's ledger does not hold at their current version (as above). */
  private async dueAmong(ids: readonly string[], exportId: string): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await sql<{ id: string }>`
      select p.id from profiles p ${readThroughIndex(dialectOf(this.db), 'profiles_version_idx')}
      ${this.ledgerOfProfile(exportId)}
      where p.id in (${sql.join(ids)}) and (l.seen is null or l.seen <> p.updated_at)`.execute(
      this.db,
    );
    return rows.map((row) => row.id);
  }

  /** The profiles `ids` (in id order), each with the ledger's entry for it. */
  private async rowsOf(ids: readonly string[], exportId: string): Promise<MemberRow[]> {
    if (ids.length === 0) return [];
    const { rows } = await sql<MemberRow>`
      select ${memberColumns} from profiles p
      ${this.ledgerOfProfile(exportId)}
      where p.id in (${sql.join(ids)})
      order by p.id`.execute(this.db);
    return rows;
  }

  /** The join to the export's ledger entry for profile `p`, as `l`: a lookup in its profile index. */
  private ledgerOfProfile(exportId: string): RawBuilder<unknown> {
    return lookupJoin(dialectOf(this.db), {
      table: 'export_ledger',
      alias: 'l',
      index: 'export_ledger_profile_idx',
      on: sql`l.export_id = ${exportId} and l.profile_id = p.id`,
    });
  }
}

/**
 * A member's columns: its profile, and the contact, payload hash, adoption and checked version the
 * ledger holds.
 */
const memberColumns = sql.raw(
  'p.id, p.key, p.attributes, p.updated_at, l.email, l.hash, l.adopted, l.seen',
);
