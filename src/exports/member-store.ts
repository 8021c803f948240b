import type { Kysely, SelectQueryBuilder } from 'kysely';
import type { Database } from '../db/schema.js';
import { parseAttributes } from '../profiles/profile-store.js';
import type { SegmentStore } from '../segments/segment-store.js';
import type { MemberProfile, MemberSource } from './planner.js';

type ProfileScope = Database & { p: Database['profiles'] };

interface MemberRow {
  id: string;
  key: string;
  attributes: unknown;
  updated_at: string;
  email: string | null;
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
      const hashes = await this.hashesOf(
        options.exportId,
        rows.flatMap((row) => (row.email === null ? [] : [row.email])),
      );
      yield rows.map((row) => {
        const hash = row.email === null ? undefined : hashes.get(row.email);
        return {
          profileId: row.id,
          key: row.key,
          attributes: parseAttributes(row.attributes),
          version: row.updated_at,
          delivered: row.email !== null && hash !== undefined ? { email: row.email, hash } : null,
        };
      });
    }
  }

  /**
   * One segment, the common case: one query per page walks the membership index and joins the
   * profiles and the ledger, skipping in SQL the members the ledger holds at their version.
   */
  private async *pagesOfOneSegment(
    segmentId: string,
    options: { batchSize: number; exportId: string; onlyDue: boolean },
  ): AsyncGenerator<MemberRow[]> {
    let cursor = '';
    for (;;) {
      const rows = await this.withLedger(
        this.db
          .selectFrom('segment_members as m')
          .innerJoin('profiles as p', 'p.id', 'm.profile_id')
          .where('m.segment_id', '=', segmentId)
          .where('m.profile_id', '>', cursor)
          .orderBy('m.profile_id')
          .limit(options.batchSize),
        options,
      ).execute();
      const last = rows.at(-1);
      if (!last) return;
      yield rows;
      // The limit counts due members only: a short page means the scan reached the end.
      if (rows.length < options.batchSize) return;
      cursor = last.id;
    }
  }

  /** Several segments: pages of the union's ids (segment-store.ts), then their profiles. */
  private async *pagesOfUnion(
    segmentIds: readonly string[],
    options: { batchSize: number; exportId: string; onlyDue: boolean },
  ): AsyncGenerator<MemberRow[]> {
    for await (const ids of this.segments.iterateMemberIds(segmentIds, options.batchSize)) {
      const rows = await this.withLedger(
        this.db.selectFrom('profiles as p').where('p.id', 'in', ids),
        options,
      )
        .orderBy('p.id')
        .execute();
      if (rows.length > 0) yield rows;
    }
  }

  /**
   * Adds the ledger's entry for each profile (only the columns of export_ledger_profile_idx, so
   * the lookup stays in the index) and, with `onlyDue`, keeps the profiles it does not hold at
   * their current version.
   */
  private withLedger<QB extends SelectQueryBuilder<ProfileScope, 'p', object>>(
    query: QB,
    options: { exportId: string; onlyDue: boolean },
  ) {
    const joined = query
      .leftJoin('export_ledger as l', (join) =>
        join.on('l.export_id', '=', options.exportId).onRef('l.profile_id', '=', 'p.id'),
      )
      .select(['p.id', 'p.key', 'p.attributes', 'p.updated_at', 'l.email']);
    return options.onlyDue
      ? joined.where((eb) =>
          eb.or([eb('l.seen', 'is', null), eb('l.seen', '!=', eb.ref('p.updated_at'))]),
        )
      : joined;
  }

  private async hashesOf(exportId: string, emails: string[]): Promise<Map<string, string>> {
    const hashes = new Map<string, string>();
    if (emails.length === 0) return hashes;
    const rows = await this.db
      .selectFrom('export_ledger')
      .select(['email', 'hash'])
      .where('export_id', '=', exportId)
      .where('email', 'in', emails)
      .execute();
    for (const row of rows) hashes.set(row.email, row.hash);
    return hashes;
  }
}
