import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/databases.js';
import { ProfileStore } from '../profiles/profile-store.js';
import { ProfileService } from '../profiles/service.js';
import { ManualClock } from '../shared/clock.js';
import { ConflictError, NotFoundError } from '../shared/errors.js';
import { SegmentStore } from './segment-store.js';
import { SegmentService, type SegmentUser } from './service.js';

const CSV = [
  'email,country,total_spend,opt_in,signup',
  'ana@x.com,Spain,120,true,2026-11-20',
  'bea@x.com,spain,80,true,2026-01-10',
  'carl@x.com,United Kingdom,300,false,2026-11-28',
  'dora@x.com,Spain,500,false,2025-06-01',
  'eli@x.com,Mexico,,true,',
  'fede@x.com,Mexico,40,true,2026-11-01',
].join('\n');

const everyone = { all: [{ attribute: 'email', operator: 'is_not_empty' }] };

describeEachDatabase('segments', (get) => {
  const clock = new ManualClock('2026-11-29T12:00:00.000Z');
  let users: SegmentUser[] = [];
  let segments: SegmentService;
  let profiles: ProfileService;

  beforeAll(async () => {
    const profileStore = new ProfileStore(get().db);
    profiles = new ProfileService(profileStore, clock);
    segments = new SegmentService(new SegmentStore(get().db), profileStore, clock, {
      segmentUsers: () => Promise.resolve(users),
    });
    await profiles.importStream(Readable.from([CSV]));
  });

  const keysOf = async (ids: string[], batchSize = 2) => {
    const batches: string[][] = [];
    for await (const batch of segments.iterateMembers(ids, { batchSize })) {
      batches.push(batch.map((m) => m.key));
    }
    return batches;
  };

  it('creates, previews and refreshes a segment, keeping a history of counts', async () => {
    const rule = {
      all: [
        { attribute: 'country', operator: 'equals', value: 'SPAIN' },
        { attribute: 'opt_in', operator: 'is_true' },
      ],
    };
    const preview = await segments.preview(rule);
    expect(preview.count).toBe(2);
    expect(preview.sample.map((m) => m.key).sort()).toEqual(['ana@x.com', 'bea@x.com']);

    const segment = await segments.create({ name: 'Spanish subscribers', rule });
    expect(segment.id).toMatch(/^seg_/);
    expect(segment.memberCount).toBeNull();
    await expect(segments.create({ name: 'Spanish subscribers', rule })).rejects.toBeInstanceOf(
      ConflictError,
    );

    const first = await segments.refresh(segment.id);
    expect(first).toMatchObject({
      id: segment.id,
      count: 2,
      refreshedAt: '2026-11-29T12:00:00.000Z',
    });
    expect(first.durationMs).toBeGreaterThanOrEqual(0);
    await profiles.importStream(Readable.from(['email,country,opt_in\ngil@x.com,Spain,yes\n']));
    clock.advance(60_000);
    expect((await segments.refresh(segment.id)).count).toBe(3);
    const history = await segments.history(segment.id);
    expect(history.map((h) => [h.refreshedAt, h.memberCount])).toEqual([
      ['2026-11-29T12:01:00.000Z', 3],
      ['2026-11-29T12:00:00.000Z', 2],
    ]);
    expect(await segments.get(segment.id)).toMatchObject({
      memberCount: 3,
      refreshedAt: '2026-11-29T12:01:00.000Z',
    });
  });

  it('takes two refreshes of one segment at once in turn', async () => {
    const segment = await segments.create({ name: 'Everyone, refreshed at once', rule: everyone });
    const [first, second, all] = await Promise.all([
      segments.refresh(segment.id),
      segments.refresh(segment.id),
      segments.refreshAll(),
    ]);
    const { count } = await segments.preview(everyone);
    expect(count).toBeGreaterThan(0);
    const third = all.find((r) => r.id === segment.id);
    expect([first.count, second.count, third?.count]).toEqual([count, count, count]);
    expect(await segments.history(segment.id)).toHaveLength(3);
  });

  it('leaves the planner statistics of the membership current after a refresh', async () => {
    const { db, dialect } = get();
    const segment = await segments.create({ name: 'Everyone with an email', rule: everyone });
    await segments.refresh(segment.id);
    const { count } = await db
      .selectFrom('segment_members')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    if (dialect === 'postgres') {
      // Never analyzed, PostgreSQL says -1 rows, and plans a run's pages as if none were there.
      const { rows } = await sql<{
        reltuples: number;
      }>`select reltuples from pg_class where relname = 'segment_members'`.execute(db);
      expect(rows[0]?.reltuples).toBe(count);
    } else {
      // SQLite is left without statistics: the queries that need an index name it.
      const { rows } =
        await sql`select name from sqlite_master where name = 'sqlite_stat1'`.execute(db);
      expect(rows).toEqual([]);
    }
  });

  it('evaluates date operators against the injected clock', async () => {
    const recent = await segments.preview({
      all: [{ attribute: 'signup', operator: 'within_last_days', value: 30 }],
    });
    expect(recent.sample.map((m) => m.key).sort()).toEqual([
      'ana@x.com',
      'carl@x.com',
      'fede@x.com',
    ]);
    const older = await segments.preview({
      all: [{ attribute: 'signup', operator: 'not_within_last_days', value: 30 }],
    });
    // Profiles without a signup date are "not within": negative operators include empty values.
    expect(older.count).toBe(4);
  });

  it('streams the union of segments once per profile, in id order, in batches', async () => {
    const spain = await segments.create({
      name: 'Spain',
      rule: { all: [{ attribute: 'country', operator: 'equals', value: 'spain' }] },
    });
    const subscribers = await segments.create({
      name: 'Subscribers',
      rule: { any: [{ attribute: 'opt_in', operator: 'is_true' }] },
    });
    expect(await keysOf([spain.id])).toEqual([]); // never refreshed: no stored members
    await segments.refresh(spain.id);
    await segments.refresh(subscribers.id);
    const batches = await keysOf([spain.id, subscribers.id, spain.id]);
    expect(batches.every((b) => b.length <= 2)).toBe(true);
    const keys = batches.flat();
    expect([...keys].sort()).toEqual([
      'ana@x.com',
      'bea@x.com',
      'dora@x.com',
      'eli@x.com',
      'fede@x.com',
      'gil@x.com',
    ]);
    const ids: string[] = [];
    for await (const batch of segments.iterateMembers([spain.id, subscribers.id], {
      batchSize: 4,
    })) {
      ids.push(...batch.map((m) => m.profileId));
      for (const member of batch) expect(member.attributes.email).toBe(member.key);
    }
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(6);
    expect(await segments.countMembers([spain.id, subscribers.id])).toBe(6);
    expect(await segments.countMembers([spain.id])).toBe(4);
    await expect(keysOf(['seg_missing'])).rejects.toBeInstanceOf(NotFoundError);
  });

  it('returns attributes by name with dates as ISO strings', async () => {
    const segment = await segments.create({
      name: 'Ana',
      rule: { all: [{ attribute: 'email', operator: 'starts_with', value: 'ANA@' }] },
    });
    await segments.refresh(segment.id);
    const [batch] = await (async () => {
      const out = [];
      for await (const b of segments.iterateMembers([segment.id])) out.push(b);
      return out;
    })();
    expect(batch).toEqual([
      {
        profileId: expect.stringMatching(/^prf_/) as unknown,
        key: 'ana@x.com',
        attributes: {
          email: 'ana@x.com',
          country: 'Spain',
          total_spend: 120,
          opt_in: true,
          signup: '2026-11-20T00:00:00.000Z',
        },
      },
    ]);
  });

  it('includes and excludes other segments, and refuses deleting a referenced segment', async () => {
    const big = await segments.create({
      name: 'Big spenders',
      rule: { all: [{ attribute: 'total_spend', operator: 'greater_or_equal', value: 120 }] },
    });
    const smallSpain = await segments.create({
      name: 'Spain but not big',
      rule: {
        all: [
          { attribute: 'country', operator: 'equals', value: 'Spain' },
          { not: { segment: big.id } },
        ],
      },
    });
    expect((await segments.refresh(smallSpain.id)).count).toBe(2); // bea (80) and gil (no spend)
    await expect(segments.delete(big.id)).rejects.toThrow(/is part of "Spain but not big"/);
    await expect(
      segments.update(big.id, { rule: { all: [{ segment: smallSpain.id }] } }),
    ).rejects.toThrow(/refers back to itself/);
  });

  it('refuses deleting a segment an export uses, naming the exports', async () => {
    const segment = await segments.create({
      name: 'Used',
      rule: { all: [{ attribute: 'country', operator: 'is_not_empty' }] },
    });
    await segments.refresh(segment.id);
    users = [{ id: 'exp_1', name: 'Weekly newsletter' }];
    await expect(segments.delete(segment.id)).rejects.toThrow(
      /used by export "Weekly newsletter" \(exp_1\)/,
    );
    users = [{ id: 'exp_2', name: 'Moved on', runId: 'run_7' }];
    await expect(segments.delete(segment.id)).rejects.toThrow(
      /still sent by a run that took it before its export stopped sending it: run_7 of "Moved on"; let it end, or cancel it/,
    );
    users = [];
    await segments.delete(segment.id);
    await expect(segments.get(segment.id)).rejects.toBeInstanceOf(NotFoundError);
    const leftovers = await get()
      .db.selectFrom('segment_members')
      .select('profile_id')
      .where('segment_id', '=', segment.id)
      .execute();
    expect(leftovers).toEqual([]);
  });

  it('rejects invalid rules and names', async () => {
    await expect(
      segments.create({
        name: ' ',
        rule: { all: [{ attribute: 'country', operator: 'is_empty' }] },
      }),
    ).rejects.toThrow(/name: a name is required/);
    await expect(
      segments.create({
        name: 'Bad',
        rule: {
          all: [
            { attribute: 'country', operator: 'equals', value: 'x' },
            { any: [{ attribute: 'total_spend', operator: 'less_than', value: 'cheap' }] },
          ],
        },
      }),
    ).rejects.toThrow('invalid rule: all[1].any[0].value: expected a number');
  });
});
