import { beforeAll, expect, it } from 'vitest';
import type { MemberProfile } from '../../src/exports/planner.js';
import { MemberStore } from '../../src/exports/member-store.js';
import { SegmentStore } from '../../src/segments/segment-store.js';
import { describeEachDatabase } from '../helpers/databases.js';

const V1 = '2026-01-01T00:00:00.000Z';
const V2 = '2026-02-01T00:00:00.000Z';
const EXPORT = 'exp_members';

describeEachDatabase('members of an export, as runs read them', (get) => {
  // 12 profiles; segment A holds 0-7, segment B holds 4-11 (4-7 in both).
  beforeAll(async () => {
    const { db } = get();
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
  });

  const read = async (segmentIds: string[], onlyDue: boolean, batchSize = 2) => {
    const store = new MemberStore(get().db, new SegmentStore(get().db));
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
  };

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
