import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Actor } from '../../src/auth/permissions.js';
import type { DestinationType } from '../../src/destinations/destination.js';
import { sendgridDestination } from '../../src/destinations/sendgrid/sendgrid.js';
import { ExportService, type ExportSources } from '../../src/exports/export-service.js';
import { ExportStore } from '../../src/exports/export-store.js';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { LedgerStore } from '../../src/exports/ledger-store.js';
import { MemberStore } from '../../src/exports/member-store.js';
import type { RunnerDeps, RunProgress } from '../../src/exports/run-execution.js';
import { ExportRunner } from '../../src/exports/runner.js';
import { ExportWorker } from '../../src/exports/worker.js';
import { SegmentStore } from '../../src/segments/segment-store.js';
import { RunStore } from '../../src/exports/run-store.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { silentLogger } from '../../src/shared/logger.js';
import { NotFoundError } from '../../src/shared/errors.js';
import { describeEachDatabase } from '../helpers/databases.js';
import { contractCheckedFetch } from '../helpers/openapi.js';

const admin: Actor = { id: 'usr_admin', name: 'Admin', role: 'admin' };
const CONNECTION = 'con_test';
const SEGMENT = 'seg_test';
/** A segment a test fills by hand (Members keeps SEGMENT only). */
const OTHER_SEGMENT = 'seg_other';

/** A profile as a test writes it. */
interface TestProfile {
  profileId: string;
  key: string;
  attributes: Record<string, string | number>;
}

/**
 * The test's profiles, edited in memory and written to the database (profiles and the segment's
 * membership) whenever a run or the service reads them, so runs read them as in production: a
 * profile whose attributes changed gets a new version (updated_at).
 */
class Members implements ExportSources {
  profiles: TestProfile[] = [];
  /** Profiles kept, unchanged, but out of the segment (as after a refresh they no longer match). */
  readonly away = new Set<string>();
  private readonly written = new Map<string, string>();
  private versions = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: MemberStore,
  ) {}

  async reset(): Promise<void> {
    await this.db.deleteFrom('segment_members').execute();
    await this.db.deleteFrom('profiles').execute();
    this.written.clear();
    this.away.clear();
  }

  async sync(): Promise<void> {
    const ids = new Set(this.profiles.map((p) => p.profileId));
    for (const id of [...this.written.keys()].filter((id) => !ids.has(id))) {
      await this.db.deleteFrom('profiles').where('id', '=', id).execute();
      this.written.delete(id);
    }
    for (const profile of this.profiles) {
      const document = JSON.stringify(profile.attributes);
      if (this.written.get(profile.profileId) === document) continue;
      const version = new Date(Date.UTC(2026, 0, 1) + ++this.versions * 1000).toISOString();
      await this.db
        .insertInto('profiles')
        .values({
          id: profile.profileId,
          key: profile.key,
          attributes: document,
          created_at: version,
          updated_at: version,
        })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet({ attributes: document, updated_at: version }),
        )
        .execute();
      this.written.set(profile.profileId, document);
    }
    // As a refresh does: the membership and its count together.
    const inSegment = this.profiles.filter((p) => !this.away.has(p.profileId));
    await this.db
      .updateTable('segments')
      .set({ member_count: inSegment.length })
      .where('id', '=', SEGMENT)
      .execute();
    await this.db.deleteFrom('segment_members').where('segment_id', '=', SEGMENT).execute();
    for (let i = 0; i < inSegment.length; i += 200) {
      await this.db
        .insertInto('segment_members')
        .values(
          inSegment
            .slice(i, i + 200)
            .map((p) => ({ segment_id: SEGMENT, profile_id: p.profileId })),
        )
        .execute();
    }
  }

  countMembers = async (ids: readonly string[]) => {
    await this.sync();
    return this.store.countMembers(ids);
  };
  unrefreshedSegments = () => Promise.resolve([]);
  missingSegments = (ids: readonly string[]) =>
    Promise.resolve(ids.filter((id) => id !== SEGMENT && id !== OTHER_SEGMENT));
  attributeTypes = () =>
    Promise.resolve(
      new Map([
        ['email', 'string'],
        ['first_name', 'string'],
        ['city', 'string'],
        ['town', 'string'],
        ['spend', 'number'],
      ]),
    );
  async *iterateMembers(
    ids: readonly string[],
    options: { batchSize: number; exportId: string; onlyDue: boolean },
  ) {
    await this.sync();
    yield* this.store.iterateMembers(ids, options);
  }
}

/** The URL a fetch call was given, whichever form it took. */
function urlOf(input: string | URL | Request): string {
  if (typeof input === 'string') return input;
  return input instanceof URL ? input.href : input.url;
}

function makeProfiles(count: number, offset = 0): TestProfile[] {
  return Array.from({ length: count }, (_, i) => {
    const n = i + offset;
    return {
      profileId: `prf_${String(n).padStart(6, '0')}`,
      key: `customer-${n}`,
      attributes: {
        email: `Person.${n}@Example.com`,
        first_name: `Name ${n}`,
        city: 'Madrid',
        spend: n,
      },
    };
  });
}

interface Scenario {
  apiKey?: string;
  profileLimit?: number;
  destination?: DestinationType<never>;
  fetch?: typeof fetch;
  /** Where the export's connection leads, when not to the sandbox (another account). */
  baseUrl?: string;
}

describeEachDatabase('export runner against the sandbox', (get) => {
  let sandbox: Sandbox;
  let clock: ManualClock;
  let members: Members;
  let service: ExportService;
  let runs: RunStore;
  let ledger: LedgerStore;
  let listId: string;
  let scenario: Scenario;
  let exportId: string;

  // Small requests, so a few hundred contacts make several batches.
  const smallLimits: DestinationType<never> = {
    ...(sendgridDestination as DestinationType<never>),
    limits: { ...sendgridDestination.limits, maxContactsPerRequest: 50 },
  };

  const list = async (): Promise<string[]> => {
    sandbox.runPendingJobs();
    const response = await fetch(`${sandbox.url}/__sandbox/lists/${listId}/contacts`);
    const body = (await response.json()) as { contacts: { email: string }[] };
    return body.contacts.map((c) => c.email).sort();
  };
  /** A session on a sandbox, as someone outside the export would use it (no contract check). */
  const sandboxSession = (url = sandbox.url) =>
    sendgridDestination.open({ apiKey: 'SG.sandbox', baseUrl: url }, { fetch });
  /** Puts contacts in the list as someone outside the export would. */
  const addToList = (session: ReturnType<typeof sandboxSession>, emails: string[]) =>
    session.upsert(
      listId,
      Buffer.from(
        emails
          .map((email) =>
            sendgridDestination.encodeContact({ email, fields: {}, customFields: {} }),
          )
          .join(','),
      ),
      emails.length,
    );
  /** The requests of a run whose contacts are still kept (run_batch_contacts), by seq. */
  const carriedBy = async (runId: string) =>
    (
      await get()
        .db.selectFrom('run_batch_contacts')
        .select('seq')
        .where('run_id', '=', runId)
        .execute()
    ).map((row) => row.seq);

  const putCount = () =>
    sandbox
      .stats()
      .requests.filter((r) => r.method === 'PUT' && r.status === 202)
      .reduce((sum, r) => sum + r.count, 0);

  const runner = (overrides: Partial<RunnerDeps> = {}) =>
    new ExportRunner({
      runs,
      ledger,
      members,
      loadSettings: (run) => service.settingsForRun(run),
      openDestination: () => {
        const destination = scenario.destination ?? smallLimits;
        const session = destination.open(
          { apiKey: scenario.apiKey ?? 'SG.sandbox', baseUrl: sandbox.url } as never,
          { fetch: scenario.fetch ?? contractCheckedFetch() },
        );
        return Promise.resolve({ destination, session });
      },
      clock,
      logger: silentLogger,
      // Waits move the shared manual clock: rate-limit resets arrive at once, tests stay fast.
      sleep: (ms) => {
        clock.advance(ms);
        return new Promise((resolve) => setImmediate(resolve));
      },
      random: () => 0.5,
      workerId: 'test-worker',
      pollIntervalMs: { initial: 1, max: 10 },
      planningBatchSize: 70,
      ...overrides,
    });

  const runOnce = async (options: { full?: boolean } = {}) => {
    const queued = await service.startRun(admin, exportId, { trigger: 'manual', ...options });
    const done = await runner().execute(queued.id);
    return service.getRun(admin, done?.id ?? queued.id);
  };

  const defineExport = async (mode: 'upsert' | 'mirror') => {
    const { db } = get();
    await db.deleteFrom('exports').execute();
    const now = clock.now().toISOString();
    await db
      .insertInto('connections')
      .values({
        id: CONNECTION,
        type: 'sendgrid',
        name: 'Sandbox',
        sharing: 'admins',
        settings: '{}',
        secret_sealed: 'v1:x:y:z',
        secret_mask: 'SG.****',
        profile_limit: 100_000,
        consent_by: admin.id,
        consent_at: now,
        export_user: admin.id,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    await db
      .insertInto('segments')
      .values({
        id: SEGMENT,
        name: 'Everyone',
        description: '',
        rule: '{"all":[]}',
        created_at: now,
        updated_at: now,
        member_count: null,
        refreshed_at: null,
        refresh_ms: null,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    const created = await service.add(admin, {
      name: `Export ${mode}`,
      connectionId: CONNECTION,
      listId,
      mapping: { email: 'email', fields: { first_name: 'first_name', city: 'city' } },
      segmentIds: [SEGMENT],
      mode,
    });
    exportId = created.export.id;
  };

  beforeAll(async () => {
    clock = new ManualClock('2026-11-29T12:00:00.000Z');
    sandbox = await startSandbox({ port: 0, jobDelayMs: 0, clock, seed: 7 });
  });
  afterAll(() => sandbox.stop());

  beforeEach(async () => {
    sandbox.reset();
    scenario = {};
    members = new Members(get().db, new MemberStore(get().db, new SegmentStore(get().db)));
    await members.reset();
    members.profiles = makeProfiles(230);
    runs = new RunStore(get().db);
    ledger = new LedgerStore(get().db);
    const connections = {
      openSession: () => {
        const destination = scenario.destination ?? smallLimits;
        return Promise.resolve({
          connection: {
            id: CONNECTION,
            profile_limit: scenario.profileLimit ?? 100_000,
            export_user: admin.id,
          },
          destination,
          session: destination.open(
            { apiKey: 'SG.sandbox', baseUrl: scenario.baseUrl ?? sandbox.url } as never,
            { fetch: contractCheckedFetch() },
          ),
        });
      },
    };
    service = new ExportService({
      exports: new ExportStore(get().db),
      runs,
      ledger,
      connections,
      sources: members,
      clock,
    });
    const session = sandboxSession();
    listId = (await session.createList('Customers')).id;
    await defineExport('upsert');
  });

  it('delivers every member once, in the fewest requests, and reports skips with reasons', async () => {
    members.profiles.push(
      { profileId: 'prf_x_dup', key: 'dup', attributes: { email: ' person.3@example.COM ' } },
      { profileId: 'prf_x_bad', key: 'bad', attributes: { email: 'not-an-email' } },
      { profileId: 'prf_x_none', key: 'none', attributes: { first_name: 'No mail' } },
      {
        profileId: 'prf_x_long',
        key: 'long',
        attributes: { email: 'long@example.com', first_name: 'x'.repeat(80) },
      },
    );
    const run = await runOnce();
    expect(run).toMatchObject({
      status: 'succeeded',
      counts: {
        members: 234,
        sent: 231,
        created: 231,
        updated: 0,
        skipped: 3,
        failed: 0,
        unchanged: 0,
      },
    });
    expect(putCount()).toBe(5); // 231 contacts at 50 per request
    const emails = await list();
    expect(emails).toHaveLength(231);
    expect(emails).toContain('person.0@example.com');
    expect(emails).toContain('long@example.com');
    const problems = await service.runProblems(admin, run.id);
    expect(problems.map((p) => [p.severity, p.code, p.profile_key])).toEqual(
      expect.arrayContaining([
        ['skipped', 'duplicate_email', 'dup'],
        ['skipped', 'invalid_email', 'bad'],
        ['skipped', 'missing_email', 'none'],
        ['warning', 'field_adjusted', 'long'],
      ]),
    );
    expect(await ledger.ledgerSize(exportId)).toBe(231);
    // The checkpoints stay as history; what the requests carried goes once the run ended.
    const { db } = get();
    expect(
      await db.selectFrom('run_batches').select('seq').where('run_id', '=', run.id).execute(),
    ).toHaveLength(5);
    expect(await db.selectFrom('run_batch_contacts').selectAll().execute()).toEqual([]);
  });

  it('settles jobs while it is still sending, and reports each stage', async () => {
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    const seen: RunProgress[] = [];
    await runner().execute(queued.id, (progress) => seen.push(progress));
    // Reports are read asynchronously: let the last ones arrive.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen.some((p) => p.stage === 'sending' && p.jobsDone > 0 && p.batchesSent < 5)).toBe(
      true,
    );
    expect(seen.at(-1)).toMatchObject({ stage: 'done', jobsDone: 5, jobsTotal: 5, sent: 230 });
    // The ETA's figures are run-eta.test.ts's: this clock stands still.
  });

  it("records when each request was acknowledged, so later runs know how long SendGrid's jobs take", async () => {
    expect(await runs.recentJobMs(exportId)).toBeUndefined();
    const run = await runOnce();
    const { db } = get();
    const batches = await db.selectFrom('run_batches').selectAll().execute();
    expect(batches).toHaveLength(5);
    for (const b of batches) expect(b.acknowledged_at).toBe(b.updated_at); // this clock stands still
    // Settled 3 s and 5 s after their acknowledgement: 4 s on average.
    const at = (ms: number) =>
      new Date(Date.parse(batches[0]!.acknowledged_at!) + ms).toISOString();
    await db
      .updateTable('run_batches')
      .set({ updated_at: at(3_000) })
      .where('seq', '<=', 2)
      .execute();
    await db
      .updateTable('run_batches')
      .set({ updated_at: at(5_000) })
      .where('seq', '>', 2)
      .execute();
    expect(await runs.recentJobMs(exportId)).toBe((2 * 3_000 + 3 * 5_000) / 5);
    // Batches of other exports, and open ones, do not count.
    await db.updateTable('run_batches').set({ status: 'submitted' }).where('seq', '>', 2).execute();
    expect(await runs.recentJobMs(exportId)).toBe(3_000);
    expect(await runs.recentJobMs('exp_other')).toBeUndefined();
    // Only runs that sent something are looked at (the latest few of them).
    await db.updateTable('export_runs').set({ sent: 0 }).where('id', '=', run.id).execute();
    expect(await runs.recentJobMs(exportId)).toBeUndefined();
    expect(run.status).toBe('succeeded');
  });

  it('counts the unchanged members of a delta run as planned once planning ends', async () => {
    await runOnce();
    members.profiles[5]!.attributes = { ...members.profiles[5]!.attributes, city: 'Sevilla' };
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    const seen: RunProgress[] = [];
    await runner().execute(queued.id, (progress) => seen.push(progress));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Every report once planning ended (waiting for SendGrid, done) counts all members planned.
    const after = seen.filter((p) => p.stage !== 'sending');
    expect(after.at(-1)?.stage).toBe('done');
    for (const p of after) expect(p).toMatchObject({ planned: 230, members: 230 });
  });

  it('sends only what changed on the next run, and everything with --full', async () => {
    await runOnce();
    const second = await runOnce();
    expect(second).toMatchObject({ status: 'succeeded', counts: { sent: 0, unchanged: 230 } });
    members.profiles[5]!.attributes = { ...members.profiles[5]!.attributes, city: 'Sevilla' };
    members.profiles.push(...makeProfiles(2, 1000));
    const third = await runOnce();
    expect(third.counts).toMatchObject({ sent: 3, created: 2, updated: 1, unchanged: 229 });
    const full = await runOnce({ full: true });
    expect(full.counts).toMatchObject({ sent: 232, unchanged: 0 });
  });

  it('reads only new and changed members on a delta run, and re-checks all after a mapping change', async () => {
    await runOnce();
    const read: number[] = [];
    const iterate = members.iterateMembers.bind(members);
    members.iterateMembers = async function* (ids, options) {
      for await (const batch of iterate(ids, options)) {
        read.push(batch.length);
        yield batch;
      }
    };
    // A new version with the same values: read again, found unchanged, not sent.
    members.profiles[1]!.attributes = { ...members.profiles[1]!.attributes, spend: 9999 };
    members.profiles[2]!.attributes = { ...members.profiles[2]!.attributes, city: 'Bilbao' };
    // The preview reads as the run does.
    expect(await service.preview(admin, exportId)).toMatchObject({
      would_upsert: 1,
      unchanged: 229,
    });
    expect(read.reduce((a, b) => a + b, 0)).toBe(2);
    read.length = 0;
    const delta = await runOnce();
    expect(read.reduce((a, b) => a + b, 0)).toBe(2);
    expect(delta.counts).toMatchObject({ members: 230, sent: 1, updated: 1, unchanged: 229 });
    // Nothing changed since: nothing is even read.
    read.length = 0;
    expect((await runOnce()).counts).toMatchObject({ sent: 0, unchanged: 230 });
    expect(read).toEqual([]);
    // Another mapping changes every payload: all are read and sent again.
    await service.edit(admin, exportId, {
      mapping: { email: 'email', fields: { first_name: 'first_name' } },
    });
    expect(await service.preview(admin, exportId)).toMatchObject({
      would_upsert: 230,
      unchanged: 0,
    });
    read.length = 0;
    const remapped = await runOnce();
    expect(read.reduce((a, b) => a + b, 0)).toBe(230);
    expect(remapped.counts).toMatchObject({ sent: 230, unchanged: 0 });
    expect((await runOnce()).counts).toMatchObject({ sent: 0, unchanged: 230 });
  });

  it('after a mapping change, writes only the entries whose contacts changed, and keeps those SendGrid did not confirm due', async () => {
    members.profiles.forEach((p, i) => (p.attributes.town = i < 220 ? 'Madrid' : 'Toledo'));
    await runOnce();
    const marked = { seen: 0, unseen: 0 };
    const markSeen = ledger.markSeen.bind(ledger);
    ledger.markSeen = (id, contacts) => {
      marked.seen += contacts.length;
      return markSeen(id, contacts);
    };
    const markUnseen = ledger.markUnseen.bind(ledger);
    ledger.markUnseen = (id, contacts) => {
      marked.unseen += contacts.length;
      return markUnseen(id, contacts);
    };
    // Filled from `town` instead of `city`, 10 contacts change; the others are read and hashed
    // again, and found unchanged without a write.
    await service.edit(admin, exportId, {
      mapping: { email: 'email', fields: { first_name: 'first_name', city: 'town' } },
    });
    expect(await service.preview(admin, exportId)).toMatchObject({
      would_upsert: 10,
      unchanged: 220,
    });
    // SendGrid never finishes the job carrying the 10.
    scenario.fetch = async (input, init) => {
      const job = /\/contacts\/imports\/([^/?]+)/.exec(urlOf(input))?.[1];
      if (job !== undefined) {
        const body = { id: job, status: 'pending', job_type: 'upsert_contacts', results: {} };
        return new Response(JSON.stringify(body), { status: 200 });
      }
      return fetch(input, init);
    };
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    await runner({ jobDeadlineMs: 5_000 }).execute(queued.id);
    expect(await service.getRun(admin, queued.id)).toMatchObject({
      status: 'failed',
      counts: { sent: 10, failed: 10, unchanged: 220 },
    });
    // Their entries still hold the old contacts, at the profiles' current versions: they stay
    // due, and the next run sends them again, and only them.
    scenario.fetch = undefined;
    expect((await runOnce()).counts).toMatchObject({ sent: 10, failed: 0, unchanged: 220 });
    expect((await runOnce()).counts).toMatchObject({ sent: 0, unchanged: 230 });
    expect((await list()).length).toBe(230);
    // The 10 were the only entries any of these runs marked.
    expect(marked).toEqual({ seen: 0, unseen: 10 });
    // A member away from the segments while the mapping changes (its entry kept: upsert mode) is
    // checked again when it comes back, its profile unchanged.
    members.away.add(members.profiles[225]!.profileId);
    await service.edit(admin, exportId, {
      mapping: { email: 'email', fields: { first_name: 'first_name', city: 'city' } },
    });
    expect((await runOnce()).counts).toMatchObject({ sent: 9, unchanged: 220 });
    members.away.clear();
    expect((await runOnce()).counts).toMatchObject({ sent: 1, unchanged: 229 });
  });

  it('leaves an email to the member that holds it, and hands it over when that member leaves', async () => {
    await defineExport('mirror');
    await runOnce();
    // A second profile with person.3's email, read before it: the incumbent keeps the contact,
    // and the twin, skipped, gets no warning for its name cut to length. Preview says the same.
    members.profiles.push({
      profileId: 'prf_000000_twin',
      key: 'twin',
      attributes: { email: 'person.3@example.com', first_name: 'T'.repeat(80), city: 'Vigo' },
    });
    const preview = await service.preview(admin, exportId);
    expect(preview).toMatchObject({
      would_upsert: 0,
      unchanged: 230,
      skipped: 1,
      skipped_by_reason: { duplicate_email: 1 },
      warnings: 0,
      would_remove: 0,
    });
    const second = await runOnce();
    expect(second.counts).toMatchObject({ sent: 0, skipped: 1 });
    const problems = await service.runProblems(admin, second.id);
    expect(problems.map((p) => [p.code, p.profile_key])).toEqual([['duplicate_email', 'twin']]);
    // The incumbent leaves the segment: the twin takes the contact over; it stays in the list.
    members.profiles = members.profiles.filter((p) => p.profileId !== 'prf_000003');
    const third = await runOnce();
    expect(third.counts).toMatchObject({ sent: 1, removed: 0, skipped: 0 });
    expect(await list()).toContain('person.3@example.com');
    expect(await list()).toHaveLength(230);
    expect((await runOnce()).counts).toMatchObject({ sent: 0, removed: 0, unchanged: 230 });
  });

  it('mirror mode removes the contacts it added that left the segments, and only those', async () => {
    await defineExport('mirror');
    const session = sandboxSession();
    // Contacts someone else put in the list: not ours to remove, even one of our members.
    await addToList(session, ['other@example.org', 'person.0@example.com']);
    sandbox.runPendingJobs();
    await runOnce();
    expect(await list()).toHaveLength(231);
    const leavers = members.profiles.splice(0, 120);
    expect((await service.preview(admin, exportId)).would_remove).toBe(119);
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'succeeded', counts: { removed: 119, sent: 0 } });
    const emails = await list();
    expect(emails).toHaveLength(112);
    expect(emails).toContain('other@example.org');
    expect(emails).toContain('person.0@example.com');
    for (const leaver of leavers.slice(1, 6))
      expect(emails).not.toContain(String(leaver.attributes.email).toLowerCase());
    // Removed from the list, never deleted from the account.
    expect((await session.findContacts(['person.1@example.com'])).size).toBe(1);
    // The one it found in the list stays in its ledger, so it is never taken for its own.
    expect(await ledger.ledgerSize(exportId)).toBe(111);
    expect((await runOnce()).counts).toMatchObject({ removed: 0, sent: 0 });
  });

  // 127 characters: SendGrid takes it in an upsert (254 at most), but never looks it up (100).
  const longEmail = `${'a'.repeat(64)}@${'b'.repeat(50)}.example.com`;
  const longProfile = () => ({
    profileId: 'prf_x_long',
    key: 'long',
    attributes: { email: longEmail },
  });

  it('never looks up an email too long for SendGrid to search: one the list may hold stays there', async () => {
    await defineExport('mirror');
    await addToList(sandboxSession(), ['other@example.org']);
    sandbox.runPendingJobs();
    members.profiles.push(longProfile());
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'succeeded', counts: { sent: 231, failed: 0 } });
    const problems = await service.runProblems(admin, run.id);
    expect(problems).toMatchObject([
      { severity: 'warning', code: 'not_looked_up', email: longEmail, profile_key: 'long' },
    ]);
    // Whether someone else put it there cannot be told: it is never the export's to remove.
    members.profiles.pop();
    expect(await runOnce()).toMatchObject({
      status: 'succeeded',
      counts: { removed: 0, failed: 0 },
    });
    expect(await list()).toContain(longEmail);
  });

  it('reports a leaver too long for SendGrid to look up as not removed, once', async () => {
    await defineExport('mirror');
    members.profiles.push(longProfile());
    expect((await runOnce()).counts).toMatchObject({ sent: 231, failed: 0 });
    members.profiles.pop();
    members.profiles.shift();
    // The preview counts what a run would remove: not the one it cannot look up.
    expect((await service.preview(admin, exportId)).would_remove).toBe(1);
    const run = await runOnce();
    expect(run).toMatchObject({
      status: 'partially_succeeded',
      counts: { removed: 1, failed: 1 },
    });
    expect(
      (await service.runProblems(admin, run.id)).filter((p) => p.severity === 'failed'),
    ).toMatchObject([
      {
        code: 'not_removed',
        email: longEmail,
        reason: expect.stringMatching(
          /only up to 100 characters.*remove it in SendGrid$/,
        ) as unknown,
      },
    ]);
    expect(await list()).toContain(longEmail);
    expect(await runOnce()).toMatchObject({
      status: 'succeeded',
      counts: { removed: 0, failed: 0 },
    });
  });

  it('removes the rest when a contact was deleted in SendGrid between its lookup and removal', async () => {
    await defineExport('mirror');
    await runOnce();
    members.profiles.splice(0, 3);
    let refused = 0;
    // SendGrid's answer when one of the ids no longer exists (the document's 404).
    scenario.fetch = (input, init) => {
      if (init?.method === 'DELETE' && refused++ === 0) {
        const body = { errors: [{ field: 'contact_ids', message: 'contact ID does not exist' }] };
        return Promise.resolve(new Response(JSON.stringify(body), { status: 404 }));
      }
      return fetch(input, init);
    };
    expect(await runOnce()).toMatchObject({ status: 'succeeded', counts: { removed: 3 } });
    expect(refused).toBe(2);
    expect(await list()).toHaveLength(227);
  });

  it('keeps a leaver SendGrid does not find yet when it was delivered lately, and forgets older ones', async () => {
    await defineExport('mirror');
    await runOnce();
    members.profiles.splice(0, 3);
    // SendGrid's search not showing the contacts yet: it answers 404 when none is found.
    const notYet = (input: string | URL | Request, init?: RequestInit) =>
      urlOf(input).includes('/search/emails')
        ? Promise.resolve(new Response(JSON.stringify({ errors: [] }), { status: 404 }))
        : fetch(input, init);
    scenario.fetch = notYet;
    const first = await runOnce();
    expect(first).toMatchObject({ status: 'succeeded', counts: { removed: 0 } });
    const warnings = await service.runProblems(admin, first.id);
    expect(warnings.map((p) => p.code)).toEqual([
      'not_found_yet',
      'not_found_yet',
      'not_found_yet',
    ]);
    expect(await ledger.ledgerSize(exportId)).toBe(230);
    // Found now: removed.
    scenario.fetch = undefined;
    expect((await runOnce()).counts).toMatchObject({ removed: 3 });
    expect(await list()).toHaveLength(227);
    // Delivered over a day ago and not found: deleted in SendGrid, so forgotten.
    members.profiles.splice(0, 2);
    clock.advance(25 * 60 * 60 * 1000);
    scenario.fetch = notYet;
    const later = await runOnce();
    expect(later).toMatchObject({ status: 'succeeded', counts: { removed: 0 } });
    expect(await service.runProblems(admin, later.id)).toEqual([]);
    expect(await ledger.ledgerSize(exportId)).toBe(225);
  });

  it('checks the list itself when SendGrid cannot report on a removal job', async () => {
    await defineExport('mirror');
    await runOnce();
    members.profiles.splice(0, 3);
    // A removal SendGrid takes (202) but whose job it does not know; the first one it does not
    // even apply yet.
    const removalJobs = new Set<string>();
    let removals = 0;
    scenario.fetch = async (input, init) => {
      const url = urlOf(input);
      if (init?.method === 'DELETE') {
        const jobId = crypto.randomUUID();
        removalJobs.add(jobId);
        if (removals++ === 0)
          return new Response(JSON.stringify({ job_id: jobId }), { status: 202 });
        const response = await fetch(input, init);
        return new Response(JSON.stringify({ job_id: jobId }), { status: response.status });
      }
      const job = /\/contacts\/imports\/([^/?]+)/.exec(url)?.[1];
      if (job !== undefined && removalJobs.has(job)) {
        const body = { errors: [{ field: 'id', message: 'job ID does not exist' }] };
        return new Response(JSON.stringify(body), { status: 404 });
      }
      return fetch(input, init);
    };
    const first = await runOnce();
    expect(first).toMatchObject({ status: 'succeeded', counts: { removed: 0 } });
    expect((await service.runProblems(admin, first.id)).map((p) => p.code)).toEqual([
      'not_removed_yet',
      'not_removed_yet',
      'not_removed_yet',
    ]);
    expect(await ledger.ledgerSize(exportId)).toBe(230);
    // Applied this time: the list no longer holds them, so they count as removed.
    expect(await runOnce()).toMatchObject({ status: 'succeeded', counts: { removed: 3 } });
    expect(await list()).toHaveLength(227);
    expect(await ledger.ledgerSize(exportId)).toBe(227);
  });

  it('removes nothing once a segment of the run is deleted, before or while it runs', async () => {
    await defineExport('mirror');
    await runOnce();
    members.profiles.splice(0, 5);
    members.profiles[10]!.attributes.first_name = 'Changed';
    // The segment deleted while the run goes on (once it has sent its change).
    const everyMissing = (ids: readonly string[]) => Promise.resolve([...ids]);
    scenario.fetch = (input, init) => {
      if (init?.method === 'PUT') members.missingSegments = everyMissing;
      return fetch(input, init);
    };
    const during = await runOnce();
    expect(during).toMatchObject({
      status: 'partially_succeeded',
      counts: { sent: 1, removed: 0 },
    });
    expect(during.error).toBe(
      `segment ${SEGMENT} no longer exists (deleted since the run took the export's settings): no more contacts were removed`,
    );
    expect(await list()).toHaveLength(230);
    // Deleted before it starts: the run sends and removes nothing.
    const before = await runOnce();
    expect(before).toMatchObject({ status: 'failed', counts: { sent: 0, removed: 0 } });
    expect(before.error).toMatch(/^segment \S+ no longer exists .*; nothing was sent$/);
  });

  it('leaves the leavers in the list while another export of the list is running', async () => {
    await defineExport('mirror');
    await runOnce();
    members.profiles.splice(0, 2);
    const { export: other } = await service.add(admin, {
      name: 'Same list',
      connectionId: CONNECTION,
      listId,
      mapping: { email: 'email' },
      segmentIds: [SEGMENT],
    });
    const going = await service.startRun(admin, other.id, { trigger: 'manual' });
    const waited = await runOnce();
    expect(waited).toMatchObject({ status: 'partially_succeeded', counts: { removed: 0 } });
    expect(waited.error).toBe(
      `another export of the list is running ("Same list" (run ${going.id})), and may be sending some of the leavers to its members; a later run removes them: no more contacts were removed`,
    );
    await service.cancelRun(admin, going.id);
    expect(await runOnce()).toMatchObject({ status: 'succeeded', counts: { removed: 2 } });
  });

  it('an upsert export switched to mirror removes what it added, never what it found in its list', async () => {
    await defineExport('upsert');
    await addToList(sandboxSession(), ['person.0@example.com']);
    sandbox.runPendingJobs();
    await runOnce();
    await service.edit(admin, exportId, { mode: 'mirror' });
    members.profiles.splice(0, 3);
    expect((await service.preview(admin, exportId)).would_remove).toBe(2);
    expect((await runOnce()).counts).toMatchObject({ removed: 2, sent: 0 });
    const emails = await list();
    expect(emails).toContain('person.0@example.com');
    expect(emails).not.toContain('person.1@example.com');
    expect(emails).toHaveLength(228);
  });

  /** The other segment, refreshed, holding exactly `profiles` (as a refresh would store it). */
  const useOtherSegment = async (profiles: readonly TestProfile[]) => {
    const { db } = get();
    const now = clock.now().toISOString();
    await db
      .insertInto('segments')
      .values({
        id: OTHER_SEGMENT,
        name: 'Other',
        description: '',
        rule: '{"all":[]}',
        created_at: now,
        updated_at: now,
        member_count: profiles.length,
        refreshed_at: now,
        refresh_ms: 1,
      })
      .onConflict((oc) => oc.column('id').doUpdateSet({ member_count: profiles.length }))
      .execute();
    await db.deleteFrom('segment_members').where('segment_id', '=', OTHER_SEGMENT).execute();
    if (profiles.length === 0) return;
    await db
      .insertInto('segment_members')
      .values(profiles.map((p) => ({ segment_id: OTHER_SEGMENT, profile_id: p.profileId })))
      .execute();
  };

  it('mirror mode leaves a leaver in the list while another export of the list still wants it', async () => {
    await defineExport('mirror');
    await runOnce();
    await useOtherSegment(members.profiles);
    const { db } = get();
    // Another export of the same list, of another segment holding the same profiles.
    const original = exportId;
    const other = await service.add(admin, {
      name: 'Same list',
      connectionId: CONNECTION,
      listId,
      mapping: { email: 'email', fields: { first_name: 'first_name', city: 'city' } },
      segmentIds: [OTHER_SEGMENT],
    });
    exportId = other.export.id;
    await runOnce();
    exportId = original;
    // Ten leave the original's segment, not the other's: they stay in the list.
    const leavers = members.profiles.splice(0, 10);
    expect((await service.preview(admin, exportId)).would_remove).toBe(0);
    expect((await runOnce()).counts).toMatchObject({ removed: 0 });
    expect(await list()).toHaveLength(230);
    // Once the other export does not want them either, the original removes them.
    await db
      .deleteFrom('segment_members')
      .where('segment_id', '=', OTHER_SEGMENT)
      .where(
        'profile_id',
        'in',
        leavers.map((p) => p.profileId),
      )
      .execute();
    expect((await service.preview(admin, exportId)).would_remove).toBe(10);
    expect((await runOnce()).counts).toMatchObject({ removed: 10 });
    expect(await list()).toHaveLength(220);
  });

  it('mirror mode leaves a leaver whose profile another export of the list takes, before that one sends it', async () => {
    await defineExport('mirror');
    await runOnce();
    // Three profiles move from this export's segment to the other's, whose export has not run:
    // it is about to send them (or sending them), and its ledger does not know them yet.
    const moved = members.profiles.splice(0, 3);
    const leavers = members.profiles.splice(0, 2);
    await useOtherSegment(moved);
    await service.add(admin, {
      name: 'Takes the moved',
      connectionId: CONNECTION,
      listId,
      mapping: { email: 'email' },
      segmentIds: [OTHER_SEGMENT],
    });
    expect((await service.preview(admin, exportId)).would_remove).toBe(2);
    expect((await runOnce()).counts).toMatchObject({ removed: 2 });
    const emails = await list();
    for (const p of moved) expect(emails).toContain(String(p.attributes.email).toLowerCase());
    for (const p of leavers) expect(emails).not.toContain(String(p.attributes.email).toLowerCase());
  });

  it('mirror mode claims the contacts a profile-less ledger holds and removes the rest', async () => {
    // What the ledger held before it knew profiles (migration 0006): emails without a profile.
    await defineExport('mirror');
    const session = sandboxSession();
    await addToList(session, ['person.1@example.com', 'gone@example.com']);
    const at = clock.now().toISOString();
    await get()
      .db.insertInto('export_ledger')
      .values(
        ['person.1@example.com', 'gone@example.com'].map((email) => ({
          export_id: exportId,
          email,
          hash: 'old',
          delivered_at: at,
          profile_id: null,
          seen: null,
        })),
      )
      .execute();
    const run = await runOnce();
    expect(run.counts).toMatchObject({ sent: 230, removed: 1 });
    const emails = await list();
    expect(emails).toContain('person.1@example.com');
    expect(emails).not.toContain('gone@example.com');
    expect(await ledger.ledgerSize(exportId)).toBe(230);
    expect((await runOnce()).counts).toMatchObject({ sent: 0, removed: 0, unchanged: 230 });
  });

  it('mirror mode follows a changed email: the new address is added, the old one removed', async () => {
    await defineExport('mirror');
    await runOnce();
    members.profiles[3]!.attributes = {
      ...members.profiles[3]!.attributes,
      email: 'new.address@example.com',
    };
    const run = await runOnce();
    expect(run.counts).toMatchObject({ sent: 1, created: 1, removed: 1 });
    const emails = await list();
    expect(emails).toContain('new.address@example.com');
    expect(emails).not.toContain('person.3@example.com');
    expect(emails).toHaveLength(230);
  });

  it('mirror mode keeps both contacts when two profiles swap emails, and preview agrees', async () => {
    await defineExport('mirror');
    await runOnce();
    const [a, b] = [members.profiles[3]!, members.profiles[150]!];
    const [emailA, emailB] = [String(a.attributes.email), String(b.attributes.email)];
    a.attributes = { ...a.attributes, email: emailB, first_name: 'Swapped A' };
    b.attributes = { ...b.attributes, email: emailA, first_name: 'Swapped B' };
    const preview = await service.preview(admin, exportId);
    const run = await runOnce();
    expect(run.counts).toMatchObject({ sent: 2, removed: 0, skipped: 0, unchanged: 228 });
    expect(preview).toMatchObject({ would_upsert: 2, would_remove: 0, skipped: 0, unchanged: 228 });
    expect(await list()).toHaveLength(230);
    const nameOf = (email: unknown) => sandbox.state.findByEmail(String(email))?.fields.first_name;
    expect([nameOf(emailB), nameOf(emailA)]).toEqual(['Swapped A', 'Swapped B']);
    expect((await runOnce()).counts).toMatchObject({ sent: 0, removed: 0, unchanged: 230 });
  });

  it('checks the list again when the export moves to another connection, and keeps its ledger there', async () => {
    await defineExport('upsert');
    await runOnce();
    const { db } = get();
    const row = await db
      .selectFrom('connections')
      .selectAll()
      .where('id', '=', CONNECTION)
      .executeTakeFirstOrThrow();
    await db
      .insertInto('connections')
      .values({ ...row, id: 'con_other', name: 'Other' })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    // Another account, which has no such list: refused, and the export is left as it was.
    const other = await startSandbox({ port: 0, jobDelayMs: 0, clock });
    try {
      scenario.baseUrl = other.url;
      await expect(service.edit(admin, exportId, { connectionId: 'con_other' })).rejects.toThrow(
        new RegExp(`no list ${listId}.*connection con_other`),
      );
      expect((await service.get(admin, exportId)).connection_id).toBe(CONNECTION);
    } finally {
      await other.stop();
    }
    // Another key to the same account: the list is there, and the ledger still true.
    scenario.baseUrl = undefined;
    await service.edit(admin, exportId, { connectionId: 'con_other' });
    expect((await runOnce()).counts).toMatchObject({ sent: 0, unchanged: 230 });
  });

  it('delivers everything through 30% rate limits and 10% server errors', async () => {
    const faulty = await startSandbox({
      port: 0,
      jobDelayMs: 0,
      clock,
      seed: 42,
      fault429: 0.3,
      fault5xx: 0.1,
    });
    try {
      const session = sandboxSession(faulty.url);
      let faultyList = '';
      for (let i = 0; i < 20 && !faultyList; i++)
        faultyList = await session.createList('Faulty').then(
          (l) => l.id,
          () => '',
        );
      scenario.destination = smallLimits;
      const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
      await runs.update(queued.id, {
        settings: JSON.stringify({
          ...(await service.settingsForRun(await runs.findRun(queued.id).then((r) => r!))),
          listId: faultyList,
        }),
      });
      const faultyRunner = runner({
        openDestination: () =>
          Promise.resolve({
            destination: smallLimits,
            session: smallLimits.open({ apiKey: 'SG.sandbox', baseUrl: faulty.url } as never, {
              fetch,
            }),
          }),
      });
      await faultyRunner.execute(queued.id);
      const run = await service.getRun(admin, queued.id);
      expect(run).toMatchObject({ status: 'succeeded', counts: { sent: 230, failed: 0 } });
      expect(
        faulty.stats().faults.injected_429 + faulty.stats().faults.injected_5xx,
      ).toBeGreaterThan(3);
      faulty.runPendingJobs();
      const response = await fetch(`${faulty.url}/__sandbox/lists/${faultyList}/contacts`);
      expect(((await response.json()) as { contacts: unknown[] }).contacts).toHaveLength(230);
    } finally {
      await faulty.stop();
    }
  });

  it('isolates the contacts of a rejected batch and delivers the rest', async () => {
    // A destination that trusts every address lets invalid ones reach SendGrid, which answers 400.
    scenario.destination = { ...smallLimits, isValidEmail: () => true };
    members.profiles[7]!.attributes = { email: 'broken@@example.com' };
    members.profiles[8]!.attributes = { email: 'also broken@example.com' };
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'partially_succeeded', counts: { sent: 228, failed: 2 } });
    expect(await list()).toHaveLength(228);
    const failed = (await service.runProblems(admin, run.id)).filter(
      (p) => p.severity === 'failed',
    );
    expect(failed.map((p) => p.email).sort()).toEqual([
      'also broken@example.com',
      'broken@@example.com',
    ]);
    // Each with SendGrid's complaint about it alone, not the whole answer.
    for (const problem of failed) {
      expect(problem.reason).toBe(
        `SendGrid rejected the contact (email: email ${JSON.stringify(problem.email)} is not a valid email address)`,
      );
    }
  });

  it('isolates bad contacts by halving when SendGrid does not name them', async () => {
    scenario.destination = { ...smallLimits, isValidEmail: () => true };
    members.profiles[60]!.attributes = { email: 'broken@@example.com' };
    // Strip the field names from SendGrid's 400s: the runner must bisect instead.
    scenario.fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (response.status !== 400) return response;
      const body = (await response.json()) as { errors: { message: string }[] };
      return new Response(
        JSON.stringify({ errors: body.errors.map((e) => ({ field: null, message: e.message })) }),
        { status: 400 },
      );
    };
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'partially_succeeded', counts: { sent: 229, failed: 1 } });
    expect(await list()).toHaveLength(229);
  });

  it('sends custom fields by their SendGrid id, and names an unknown one', async () => {
    const created = await fetch(`${sandbox.url}/v3/marketing/field_definitions`, {
      method: 'POST',
      headers: { authorization: 'Bearer SG.sandbox', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'total_spend', field_type: 'Number' }),
    });
    const field = (await created.json()) as { id: string };
    await expect(
      service.add(admin, {
        name: 'With a typo',
        connectionId: CONNECTION,
        listId,
        mapping: { email: 'email', customFields: { totl_spend: 'spend' } },
        segmentIds: [SEGMENT],
      }),
    ).rejects.toThrow(
      /mapping\.customFields\.totl_spend: SendGrid has no custom field named "totl_spend" \(it has: total_spend\)/,
    );
    // A number field filled from text is saved, with a warning of what will be left out.
    const { warnings } = await service.add(admin, {
      name: 'Spend from city',
      connectionId: CONNECTION,
      listId,
      mapping: { email: 'email', customFields: { total_spend: 'city' } },
      segmentIds: [SEGMENT],
    });
    expect(warnings).toEqual([
      'custom field total_spend is a number field, but attribute "city" holds text: values that are not numbers will be left out of the contacts (each with a warning)',
    ]);
    const { export: custom, warnings: none } = await service.add(admin, {
      name: 'With spend',
      connectionId: CONNECTION,
      listId,
      // SendGrid's names are unique regardless of case: the field is found, and named as there.
      mapping: { email: 'email', customFields: { Total_Spend: 'spend' } },
      segmentIds: [SEGMENT],
    });
    expect(none).toEqual([]);
    expect(custom.mapping.customFields).toEqual([
      { name: 'total_spend', id: field.id, type: 'number', attribute: 'spend' },
    ]);
    exportId = custom.id;
    expect((await runOnce()).status).toBe('succeeded');
    sandbox.runPendingJobs();
    const response = await fetch(`${sandbox.url}/__sandbox/lists/${listId}/contacts`);
    const contacts = (
      (await response.json()) as {
        contacts: { email: string; custom_fields?: Record<string, unknown> }[];
      }
    ).contacts;
    // Sent by field id; SendGrid (and the sandbox) show custom fields by name when read back.
    expect(contacts.find((c) => c.email === 'person.7@example.com')?.custom_fields).toEqual({
      total_spend: 7,
    });
    // Renamed in SendGrid, the field keeps its id: runs go on filling it.
    const renamed = await fetch(`${sandbox.url}/v3/marketing/field_definitions/${field.id}`, {
      method: 'PATCH',
      headers: { authorization: 'Bearer SG.sandbox', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'lifetime_spend' }),
    });
    expect(renamed.status).toBe(200);
    members.profiles[3]!.attributes = { ...members.profiles[3]!.attributes, spend: 1234 };
    expect(await runOnce()).toMatchObject({ status: 'succeeded', counts: { sent: 1 } });
    sandbox.runPendingJobs();
    const after = (await (
      await fetch(`${sandbox.url}/__sandbox/lists/${listId}/contacts`)
    ).json()) as { contacts: { custom_fields?: Record<string, unknown> }[] };
    expect(after.contacts.filter((c) => c.custom_fields?.lifetime_spend === 1234)).toHaveLength(1);
    // The field deleted in SendGrid since: preview says a run would fail, and a run fails
    // before sending anything, naming it.
    const deleted = await fetch(`${sandbox.url}/v3/marketing/field_definitions/${field.id}`, {
      method: 'DELETE',
      headers: { authorization: 'Bearer SG.sandbox' },
    });
    expect(deleted.status).toBe(204);
    members.profiles[3]!.attributes = { ...members.profiles[3]!.attributes, spend: 4321 };
    expect((await service.preview(admin, exportId)).would_fail).toMatch(
      /no longer has the custom field "total_spend"/,
    );
    const puts = putCount();
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'failed', counts: { sent: 0 } });
    expect(run.error).toMatch(/no longer has the custom field "total_spend".*exports edit --map/);
    expect(putCount()).toBe(puts);
    // Moving the export to another list checks its custom fields again, by name.
    const second = (await sandboxSession().createList('Second')).id;
    await expect(service.edit(admin, exportId, { listId: second })).rejects.toThrow(
      /cannot move to that list: a custom field it fills: SendGrid has no custom field named "total_spend"/,
    );
    // Made again under the same name, it has another id: the export must map it again.
    sandbox.state.createField('Total_Spend', 'Number');
    expect((await service.preview(admin, exportId)).would_fail).toMatch(
      /the custom field "total_spend" the export fills was deleted and made again/,
    );
  });

  /** Runs the export into a new list of `other` (another SendGrid account), with small limits. */
  const runInto = async (other: Sandbox) => {
    const otherList = (await sandboxSession(other.url).createList('Other')).id;
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    const settings = await service.settingsForRun((await runs.findRun(queued.id))!);
    await runs.update(queued.id, { settings: JSON.stringify({ ...settings, listId: otherList }) });
    await runner({
      openDestination: () =>
        Promise.resolve({
          destination: smallLimits,
          session: smallLimits.open({ apiKey: 'SG.sandbox', baseUrl: other.url } as never, {
            fetch: contractCheckedFetch(),
          }),
        }),
    }).execute(queued.id);
    return service.getRun(admin, queued.id);
  };

  it("reports a job SendGrid failed (a contact cap) in the run's error, and keeps those contacts out of the ledger", async () => {
    const capped = await startSandbox({ port: 0, jobDelayMs: 0, clock, contactCap: 100 });
    try {
      const run = await runInto(capped);
      expect(run.status).toBe('partially_succeeded');
      expect(run.error).toMatch(/failed: .*contact limit/i);
      expect(run.counts.failed).toBeGreaterThan(0);
      expect(await ledger.ledgerSize(exportId)).toBe(230 - run.counts.failed);
    } finally {
      await capped.stop();
    }
  });

  it('ends a run whose every contact failed (an account full to its cap) as failed, not partial', async () => {
    const full = await startSandbox({ port: 0, jobDelayMs: 0, clock, contactCap: 0 });
    try {
      const run = await runInto(full);
      expect(run.status).toBe('failed');
      expect(run.counts).toMatchObject({ sent: 230, created: 0, updated: 0, failed: 230 });
      expect(run.error).toMatch(/contact limit exceeded/);
    } finally {
      await full.stop();
    }
  });

  /** Saves an export of the segment filling these custom fields (name -> attribute): the test's. */
  const useExportFilling = async (name: string, customFields: Record<string, string>) => {
    const { export: saved } = await service.add(admin, {
      name,
      connectionId: CONNECTION,
      listId,
      mapping: { email: 'email', customFields },
      segmentIds: [SEGMENT],
    });
    exportId = saved.id;
  };

  /**
   * An export filling a SendGrid date field that the mapper lets through whatever it holds, so
   * the sandbox refuses the one bad value inside an accepted job (an `errored` job).
   */
  const exportWithOneBadDate = async () => {
    const field = sandbox.state.createField('since', 'Date');
    scenario.destination = { ...smallLimits, isValidDate: () => true };
    for (const profile of members.profiles) profile.attributes.city = '2024-01-15';
    members.profiles[60]!.attributes.city = 'someday';
    await useExportFilling('With a date', { since: 'city' });
    return field;
  };

  it('fails the contacts SendGrid refused inside an accepted job, naming why, and delivers the rest', async () => {
    await exportWithOneBadDate();
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'partially_succeeded', counts: { sent: 230, failed: 1 } });
    const problems = await service.runProblems(admin, run.id);
    expect(problems.filter((p) => p.severity === 'failed')).toMatchObject([
      {
        source: 'job',
        code: 'destination_failed',
        email: 'person.60@example.com',
        profile_key: 'customer-60',
        reason: expect.stringMatching(/^SendGrid refused the contact: .*since/) as unknown,
      },
    ]);
    expect(await list()).toHaveLength(229);
    expect(await ledger.ledgerSize(exportId)).toBe(229);
    // Not in the ledger: the next run tries it again (and only it).
    expect((await runOnce()).counts).toMatchObject({ sent: 1, failed: 1 });
  });

  it("fails each contact of a job SendGrid failed whole with the contact's own reason", async () => {
    await exportWithOneBadDate();
    // Every row of every request refused: SendGrid fails such jobs ("finished with all errors").
    for (const profile of members.profiles) profile.attributes.city = 'someday';
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'failed', counts: { sent: 230, failed: 230 } });
    expect(run.error).toMatch(/^SendGrid's job \S+ failed: .*since/);
    const problems = await service.runProblems(admin, run.id);
    expect(problems).toHaveLength(230);
    for (const problem of problems)
      expect(problem.reason).toMatch(/^SendGrid refused the contact: .*since/);
    expect(await ledger.ledgerSize(exportId)).toBe(0);
  });

  it('takes none of a job as delivered when SendGrid refused contacts without naming them', async () => {
    await exportWithOneBadDate();
    // SendGrid's job says it refused a contact, but not which one.
    scenario.fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!/\/v3\/marketing\/contacts\/imports\//.test(urlOf(input))) return response;
      const body = (await response.json()) as { results?: { errors_url?: string } };
      delete body.results?.errors_url;
      return new Response(JSON.stringify(body), { status: response.status });
    };
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'partially_succeeded', counts: { sent: 230, failed: 0 } });
    expect(run.error).toMatch(
      /^SendGrid's job \S+ refused 1 of its 50 contacts without naming them: none of them is taken as delivered, and the next run sends them again$/,
    );
    expect(await ledger.ledgerSize(exportId)).toBe(180);
    // The next run sends that request's contacts again; SendGrid names the bad one this time.
    scenario.fetch = undefined;
    expect((await runOnce()).counts).toMatchObject({ sent: 50, failed: 1 });
    expect(await ledger.ledgerSize(exportId)).toBe(229);
  });

  it('skips, with the reason, a contact too large for any request, in previews and runs alike', async () => {
    sandbox.state.createField('note', 'Text');
    scenario.destination = {
      ...smallLimits,
      limits: { ...smallLimits.limits, maxBytesPerRequest: 2_000 },
    };
    members.profiles[7]!.attributes.city = 'x'.repeat(3_000);
    await useExportFilling('With a note', { note: 'city' });
    expect(await service.preview(admin, exportId)).toMatchObject({
      would_upsert: 229,
      skipped: 1,
      skipped_by_reason: { too_large: 1 },
    });
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'succeeded', counts: { sent: 229, skipped: 1 } });
    expect(await service.runProblems(admin, run.id)).toMatchObject([
      {
        severity: 'skipped',
        code: 'too_large',
        email: 'person.7@example.com',
        reason: expect.stringMatching(
          /^the contact takes 30\d\d bytes \(3\d{3} in a request of its own\), more than/,
        ) as unknown,
      },
    ]);
  });

  it('gives up on a job that stays pending past the deadline, and the next run sends its contacts again', async () => {
    let stuck: string | undefined;
    // SendGrid never finishing the run's first job ("some jobs never applied").
    scenario.fetch = async (input, init) => {
      const job = /\/contacts\/imports\/([^/?]+)/.exec(urlOf(input))?.[1];
      if (job !== undefined && (stuck ??= job) === job) {
        const body = { id: job, status: 'pending', job_type: 'upsert_contacts', results: {} };
        return new Response(JSON.stringify(body), { status: 200 });
      }
      return fetch(input, init);
    };
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    await runner({ jobDeadlineMs: 5_000 }).execute(queued.id);
    const run = await service.getRun(admin, queued.id);
    expect(run).toMatchObject({ status: 'partially_succeeded', counts: { sent: 230, failed: 50 } });
    expect(run.error).toMatch(/^SendGrid's job \S+ failed: it was still pending 5 seconds after/);
    expect(await ledger.ledgerSize(exportId)).toBe(180);
    scenario.fetch = undefined;
    expect((await runOnce()).counts).toMatchObject({ sent: 50, failed: 0 });
  });

  it('clears in the list the text fields a delivered profile lost, and leaves others alone', async () => {
    sandbox.state.createField('tier', 'Text');
    const { export: saved } = await service.add(admin, {
      name: 'With a tier',
      connectionId: CONNECTION,
      listId,
      mapping: {
        email: 'email',
        fields: { first_name: 'first_name' },
        customFields: { tier: 'city' },
      },
      segmentIds: [SEGMENT],
    });
    exportId = saved.id;
    // Someone else's contact, found in the list: what it holds is theirs, never cleared.
    await addToList(sandboxSession(), ['person.6@example.com']);
    sandbox.runPendingJobs();
    expect((await runOnce()).counts).toMatchObject({ sent: 230 });
    const profile = members.profiles[4]!;
    delete profile.attributes.first_name;
    delete profile.attributes.city;
    delete members.profiles[6]!.attributes.first_name;
    expect((await runOnce()).counts).toMatchObject({ sent: 2, updated: 2 });
    sandbox.runPendingJobs();
    const response = await fetch(`${sandbox.url}/__sandbox/lists/${listId}/contacts`);
    const { contacts } = (await response.json()) as {
      contacts: { email: string; first_name?: string; custom_fields?: Record<string, unknown> }[];
    };
    const cleared = contacts.find((c) => c.email === 'person.4@example.com');
    expect(cleared?.first_name ?? '').toBe('');
    expect(cleared?.custom_fields?.tier ?? '').toBe('');
    const kept = contacts.find((c) => c.email === 'person.5@example.com');
    expect(kept).toMatchObject({ first_name: 'Name 5', custom_fields: { tier: 'Madrid' } });
    const theirs = contacts.find((c) => c.email === 'person.6@example.com');
    expect(theirs).toMatchObject({ first_name: 'Name 6' });
  });

  it('delivers very small and very large numbers to a number field', async () => {
    sandbox.state.createField('score', 'Number');
    members.profiles[1]!.attributes.spend = 1e-7;
    members.profiles[2]!.attributes.spend = 1e21;
    await useExportFilling('With a score', { score: 'spend' });
    expect(await runOnce()).toMatchObject({ status: 'succeeded', counts: { failed: 0 } });
    sandbox.runPendingJobs();
    const response = await fetch(`${sandbox.url}/__sandbox/lists/${listId}/contacts`);
    const { contacts } = (await response.json()) as {
      contacts: { email: string; custom_fields?: Record<string, unknown> }[];
    };
    const score = (email: string) => contacts.find((c) => c.email === email)?.custom_fields;
    expect(score('person.1@example.com')).toEqual({ score: 1e-7 });
    expect(score('person.2@example.com')).toEqual({ score: 1e21 });
  });

  it("treats a job's errors file it cannot read as naming nobody, and says why", async () => {
    await exportWithOneBadDate();
    scenario.fetch = async (input, init) =>
      urlOf(input).includes('/errors.csv')
        ? new Response('AccessDenied', { status: 403 })
        : fetch(input, init);
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'partially_succeeded', counts: { sent: 230 } });
    expect(run.error).toMatch(
      /refused 1 of its 50 contacts without naming them \(reading the job errors file failed: the link was refused with HTTP 403\): none of them is taken as delivered/,
    );
    expect(await ledger.ledgerSize(exportId)).toBe(180);
  });

  it("keeps the per-contact problems of an export's latest runs only", async () => {
    members.profiles.push({ profileId: 'prf_x_bad', key: 'bad', attributes: { email: 'nope' } });
    const runKeepingTwo = async () => {
      clock.advance(60_000);
      const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
      await runner({ problemRunsKept: 2 }).execute(queued.id);
      return service.getRun(admin, queued.id);
    };
    const [first, second, third] = [
      await runKeepingTwo(),
      await runKeepingTwo(),
      await runKeepingTwo(),
    ];
    // Each skipped the bad profile; the oldest run lost its list, but not its counts.
    expect(await service.getRun(admin, first.id)).toMatchObject({
      counts: { skipped: 1 },
      problems_pruned_at: expect.any(String) as unknown,
    });
    expect(await service.runProblems(admin, first.id)).toEqual([]);
    for (const kept of [second, third]) {
      expect(kept.problems_pruned_at).toBeNull();
      expect(await service.runProblems(admin, kept.id)).toMatchObject([
        { severity: 'skipped', code: 'invalid_email', profile_key: 'bad' },
      ]);
    }
    // Runs still going are never pruned, and do not count among the latest ended ones.
    const going = await service.startRun(admin, exportId, { trigger: 'manual' });
    await runs.addProblems(going.id, [
      {
        run_id: going.id,
        severity: 'skipped',
        source: 'plan',
        profile_key: 'k',
        email: null,
        code: 'c',
        reason: 'r',
      },
    ]);
    await runs.pruneProblems(exportId, 1, clock.now().toISOString());
    expect(await service.runProblems(admin, going.id)).toHaveLength(1);
    expect(await service.runProblems(admin, third.id)).toHaveLength(1);
    expect((await service.getRun(admin, second.id)).problems_pruned_at).not.toBeNull();
  });

  it('previews a run without writing anything', async () => {
    members.profiles.push({ profileId: 'prf_x_bad', key: 'bad', attributes: { email: 'nope' } });
    const before = putCount();
    const preview = await service.preview(admin, exportId);
    expect(preview).toMatchObject({
      members: 231,
      would_upsert: 230,
      unchanged: 0,
      skipped: 1,
      skipped_by_reason: { invalid_email: 1 },
    });
    expect(preview.sample[0]).toMatchObject({
      email: expect.stringMatching(/@example\.com$/) as unknown,
    });
    expect(putCount()).toBe(before);
    await runOnce();
    expect((await service.preview(admin, exportId)).unchanged).toBe(230);
  });

  it('names the exports that keep a segment or a connection from being removed', async () => {
    const store = new ExportStore(get().db);
    expect(await store.usersOfSegment(SEGMENT)).toEqual([{ id: exportId, name: 'Export upsert' }]);
    expect(await store.usersOfConnection(CONNECTION)).toEqual([
      { id: exportId, name: 'Export upsert' },
    ]);
    await service.detach(admin, exportId);
    expect(await store.usersOfConnection(CONNECTION)).toEqual([]);
    await expect(service.startRun(admin, exportId, { trigger: 'manual' })).rejects.toMatchObject({
      code: 'export_detached',
    });
  });

  it('allows one active run per export, even when two start at once', async () => {
    const attempts = await Promise.allSettled([
      service.startRun(admin, exportId, { trigger: 'manual' }),
      service.startRun(admin, exportId, { trigger: 'manual' }),
    ]);
    expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    expect(attempts.find((a) => a.status === 'rejected')).toMatchObject({
      reason: { code: 'run_in_progress' },
    });
  });

  it("keeps a run's list, connection and segments while it runs: no move to another list, no removal of its connection or segments", async () => {
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    const otherList = (await sandboxSession().createList('Elsewhere')).id;
    await expect(service.edit(admin, exportId, { listId: otherList })).rejects.toMatchObject({
      code: 'run_in_progress',
    });
    // The run took connection con_before and segment seg_before; the export moved on since.
    const settings = await service.settingsForRun((await runs.findRun(queued.id))!);
    await runs.update(queued.id, {
      settings: JSON.stringify({
        ...settings,
        connectionId: 'con_before',
        segmentIds: ['seg_before', ...settings.segmentIds],
      }),
    });
    expect(await new ExportStore(get().db).usersOfConnection('con_before')).toEqual([
      { id: exportId, name: 'Export upsert', runId: queued.id },
    ]);
    expect(await new ExportStore(get().db).usersOfSegment('seg_before')).toEqual([
      { id: exportId, name: 'Export upsert', runId: queued.id },
    ]);
    // The export itself still sends SEGMENT: named as the export, once.
    expect(await new ExportStore(get().db).usersOfSegment(SEGMENT)).toEqual([
      { id: exportId, name: 'Export upsert' },
    ]);
    // Removed anyway (before this rule), the run fails saying so, without a crash.
    const run = await runner({
      openDestination: () => Promise.reject(new NotFoundError('connection', 'con_before')),
    }).execute(queued.id);
    expect(run).toMatchObject({ status: 'failed' });
    expect(run?.error).toMatch(/^the run's connection con_before no longer exists/);
    expect(await new ExportStore(get().db).usersOfConnection('con_before')).toEqual([]);
    expect(await new ExportStore(get().db).usersOfSegment('seg_before')).toEqual([]);
  });

  it('refuses to send anything over the connection limit', async () => {
    scenario.profileLimit = 100;
    const run = await runOnce();
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/230 profiles, over the connection's limit of 100/);
    expect(putCount()).toBe(0);
  });

  it('fails at once, saying so, when the key is refused', async () => {
    scenario.apiKey = 'SG.revoked-key-000000000';
    const run = await runOnce();
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/refused the connection's API key/);
    expect(run.error).not.toContain('revoked-key');
    expect(await list()).toEqual([]);
  });

  it('fails saying so when the list was deleted in SendGrid since the export was saved', async () => {
    sandbox.state.deleteList(listId);
    const run = await runOnce();
    expect(run.status).toBe('failed');
    expect(run.error).toContain(listId);
    expect(putCount()).toBe(0);
  });

  it('fails a mirror run with nothing to send when its list was deleted since', async () => {
    await defineExport('mirror');
    await runOnce();
    sandbox.state.deleteList(listId);
    members.profiles.splice(0, 1);
    const run = await runOnce();
    expect(run).toMatchObject({ status: 'failed', counts: { sent: 0, removed: 0 } });
    expect(run.error).toBe(
      `SendGrid has no list ${listId} in this account any more; nothing was sent`,
    );
  });

  /**
   * Executes the run on a worker that "dies" right before its third request: every call it makes
   * from then on hangs forever. Returns once its heartbeat has gone stale (the clock moved on).
   */
  /** The worker dies as its third request goes out: before SendGrid has it, or once it `landed`. */
  const dieBeforeThirdRequest = async (runId: string, { landed = false } = {}) => {
    let puts = 0;
    let dead = false;
    const hang = () => new Promise<Response>(() => undefined);
    scenario.fetch = async (input, init) => {
      if (init?.method === 'PUT' && ++puts === 3) dead = true;
      if (dead && landed && puts === 3 && init?.method === 'PUT') {
        await fetch(input, init);
        return hang();
      }
      if (dead) return hang();
      const response = await fetch(input, init);
      return dead ? hang() : response;
    };
    void runner({ workerId: 'worker-a' }).execute(runId);
    for (let i = 0; i < 500 && puts < 3; i++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    expect(puts).toBe(3);
    scenario.fetch = undefined;
    // Let what it was writing land before its heartbeat goes stale.
    await new Promise((resolve) => setTimeout(resolve, 50));
    clock.advance(10 * 60_000);
  };

  it('resumes after the worker died without resending acknowledged requests', async () => {
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    await dieBeforeThirdRequest(queued.id);
    const second = runner({ workerId: 'worker-b' });
    expect(await second.requeueStale(60_000, () => true)).toEqual([queued.id]);
    const seen: RunProgress[] = [];
    await second.execute(queued.id, (progress) => seen.push(progress));
    const run = await service.getRun(admin, queued.id);
    expect(run).toMatchObject({
      status: 'succeeded',
      counts: { sent: 230, created: 230, unchanged: 0 },
    });
    expect(putCount()).toBe(5); // two before the crash, three after: none sent twice
    // Its progress counts the requests and jobs of the first execution too, each once.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen.at(-1)).toMatchObject({ batchesSent: 5, jobsDone: 5, jobsTotal: 5 });
    // Settling the requests of the first execution (if their jobs were still open) comes before
    // the members are counted, and says so; every other report counts them (never "0/0").
    for (const p of seen.filter((p) => p.stage !== 'checking earlier requests')) {
      expect(p.members).toBe(230);
    }
    expect(await list()).toHaveLength(230);
  });

  /** A mirror run whose worker died as its third request landed, and a second worker to take it. */
  const mirrorRunDiedAsThirdRequestLanded = async ({ jobRan = true } = {}) => {
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    await dieBeforeThirdRequest(queued.id, { landed: true });
    if (jobRan) sandbox.runPendingJobs();
    const second = runner({ workerId: 'worker-b' });
    expect(await second.requeueStale(60_000, () => true)).toEqual([queued.id]);
    return { queued, second };
  };

  it('takes the contacts of a request that landed as the worker died for its own, in a list that was empty', async () => {
    await defineExport('mirror');
    const { queued, second } = await mirrorRunDiedAsThirdRequestLanded();
    await second.execute(queued.id);
    expect(await service.getRun(admin, queued.id)).toMatchObject({ status: 'succeeded' });
    // Found in the list on resuming, they were still put there by this export: mirror removes them.
    members.profiles.splice(100, 50);
    expect((await runOnce()).counts).toMatchObject({ removed: 50 });
    expect(await list()).toHaveLength(180);
  });

  it('takes the contacts of a request that landed as the worker died for its own, in a list that held others', async () => {
    await defineExport('mirror');
    await addToList(sandboxSession(), ['other@example.org']);
    sandbox.runPendingJobs();
    const { queued, second } = await mirrorRunDiedAsThirdRequestLanded();
    await second.execute(queued.id);
    // Found in the list, they count as sent by the run, not sent twice.
    expect(await service.getRun(admin, queued.id)).toMatchObject({
      status: 'succeeded',
      counts: { sent: 230, unchanged: 0 },
    });
    expect(putCount()).toBe(6);
    members.profiles.splice(100, 50);
    expect((await runOnce()).counts).toMatchObject({ removed: 50 });
    const emails = await list();
    expect(emails).toHaveLength(181);
    expect(emails).toContain('other@example.org');
  });

  it('takes the contacts of a request whose job was still pending as the run resumed for its own', async () => {
    await defineExport('mirror');
    await addToList(sandboxSession(), ['other@example.org']);
    sandbox.runPendingJobs();
    // The request landed, but its job had not run when the run resumed: not in the list yet.
    const { queued, second } = await mirrorRunDiedAsThirdRequestLanded({ jobRan: false });
    await second.execute(queued.id);
    sandbox.runPendingJobs();
    members.profiles.splice(100, 50);
    expect((await runOnce()).counts).toMatchObject({ removed: 50 });
    expect(await list()).toContain('other@example.org');
    expect(await list()).toHaveLength(181);
  });

  it("settles a request left unanswered by a run that ended while SendGrid was unreachable, in the export's next run", async () => {
    await defineExport('mirror');
    let puts = 0;
    // The third request lands, but its answer is lost, and SendGrid stays unreachable after.
    scenario.fetch = async (input, init) => {
      if (init?.method === 'PUT') puts += 1;
      if (puts < 3) return fetch(input, init);
      if (puts === 3 && init?.method === 'PUT') await fetch(input, init);
      throw new TypeError('fetch failed');
    };
    const failed = await runOnce();
    // Whether it polled its second job before SendGrid went away depends on timing: if not, the
    // next run settles that job for it (the counts below are the same either way).
    expect(failed).toMatchObject({ status: 'failed', counts: { sent: 100 } });
    sandbox.runPendingJobs();
    scenario.fetch = undefined;
    // The next run finds those contacts in the list, and takes them as the export's own.
    expect((await runOnce()).counts).toMatchObject({ sent: 80, unchanged: 150 });
    expect((await service.getRun(admin, failed.id)).counts).toMatchObject({
      sent: 150,
      created: 150,
    });
    members.profiles.splice(100, 50);
    expect((await runOnce()).counts).toMatchObject({ removed: 50 });
    expect(await list()).toHaveLength(180);
  });

  it("settles the jobs a run left unsettled, as SendGrid could not be reached, in the export's next run", async () => {
    let puts = 0;
    // Two requests are acknowledged, then SendGrid cannot be reached: not the third request, nor
    // the job endpoint, so the run cannot learn what its two jobs did.
    scenario.fetch = async (input, init) => {
      if (init?.method === 'PUT') puts += 1;
      if (/\/contacts\/imports\//.test(urlOf(input)) || puts >= 3) {
        throw new TypeError('fetch failed');
      }
      return fetch(input, init);
    };
    const failed = await runOnce();
    expect(failed).toMatchObject({ status: 'failed', counts: { sent: 100, created: 0 } });
    sandbox.runPendingJobs();
    // SendGrid is back, but has forgotten the first job.
    const jobs = (await runs.batches(failed.id)).map((b) => b.job_id);
    scenario.fetch = async (input, init) =>
      urlOf(input).endsWith(`/imports/${jobs[0]}`)
        ? new Response(JSON.stringify({ errors: [{ message: 'not found' }] }), { status: 404 })
        : fetch(input, init);
    const next = await runOnce();
    // The second job's contacts were delivered: they count for the run that sent them, and are
    // not sent again; the first job's are taken as not delivered, and sent again.
    expect(await service.getRun(admin, failed.id)).toMatchObject({
      status: 'failed',
      counts: { sent: 100, created: 50, failed: 50 },
    });
    expect((await runs.batches(failed.id)).map((b) => b.status)).toEqual(['failed', 'completed']);
    const problems = await service.runProblems(admin, failed.id);
    expect(problems).toHaveLength(50);
    expect(problems[0]?.reason).toMatch(/SendGrid no longer knows the job/);
    expect(next).toMatchObject({ status: 'succeeded', counts: { sent: 180, unchanged: 50 } });
    expect(await list()).toHaveLength(230);
    // What those requests carried is dropped once settled; settled once, nothing is left.
    expect(await carriedBy(failed.id)).toEqual([]);
    expect((await runOnce()).counts).toMatchObject({ sent: 0, unchanged: 230 });
    expect(await service.getRun(admin, failed.id)).toMatchObject({
      counts: { created: 50, failed: 50 },
    });
  });

  it('leaves the unsettled jobs of a run into another list alone once the export moved', async () => {
    scenario.fetch = async (input, init) => {
      if (/\/contacts\/imports\//.test(urlOf(input))) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    const failed = await runOnce();
    expect(failed).toMatchObject({ status: 'failed', counts: { created: 0 } });
    expect(failed.counts.sent).toBeGreaterThan(0);
    sandbox.runPendingJobs();
    scenario.fetch = undefined;
    const second = (await sandboxSession().createList('Second')).id;
    await service.edit(admin, exportId, { listId: second });
    listId = second;
    // Everything goes to the new list; what the old list took is not the new ledger's.
    const moved = await runOnce();
    expect(moved.counts).toMatchObject({ sent: 230 });
    expect(moved.counts.created + moved.counts.updated).toBe(230);
    expect(await list()).toHaveLength(230);
    expect((await service.getRun(admin, failed.id)).counts).toMatchObject({ created: 0 });
    expect(await carriedBy(failed.id)).toEqual([]);
  });

  it('takes the contacts of a request that landed as the worker died for its own after a cancel too', async () => {
    await defineExport('mirror');
    const { queued, second } = await mirrorRunDiedAsThirdRequestLanded();
    // Canceled: it stays queued until what it sent is settled, then ends canceled.
    expect(await service.cancelRun(admin, queued.id)).toMatchObject({ status: 'queued' });
    await second.execute(queued.id);
    expect(await service.getRun(admin, queued.id)).toMatchObject({
      status: 'canceled',
      counts: { sent: 150 },
    });
    expect((await runOnce()).counts).toMatchObject({ sent: 80 });
    members.profiles.splice(100, 50);
    expect((await runOnce()).counts).toMatchObject({ removed: 50 });
    expect(await list()).toHaveLength(180);
  });

  it('resumes a --full run without sending again what it delivered before it died', async () => {
    await runOnce();
    const before = putCount();
    const queued = await service.startRun(admin, exportId, { trigger: 'manual', full: true });
    await dieBeforeThirdRequest(queued.id);
    const second = runner({ workerId: 'worker-b' });
    expect(await second.requeueStale(60_000, () => true)).toEqual([queued.id]);
    await second.execute(queued.id);
    expect(await service.getRun(admin, queued.id)).toMatchObject({
      status: 'succeeded',
      counts: { sent: 230, updated: 230, unchanged: 0 },
    });
    expect(putCount() - before).toBe(5); // as a run that never died: two, then three
    expect(await list()).toHaveLength(230);
  });

  it('a worker taken for dead that comes back leaves the run to its successor', async () => {
    let puts = 0;
    let release: (() => void) | undefined;
    // The first worker stalls (a frozen process, a network hang) on its third request.
    scenario.fetch = (input, init) => {
      if (init?.method === 'PUT' && ++puts === 3) {
        return new Promise<Response>((resolve, reject) => {
          release = () => void fetch(input, init).then(resolve, reject);
        });
      }
      return fetch(input, init);
    };
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    const first = runner({ workerId: 'worker-a' }).execute(queued.id);
    for (let i = 0; i < 500 && !release; i++) await new Promise((r) => setTimeout(r, 5));
    scenario.fetch = undefined;
    clock.advance(10 * 60_000);
    const second = runner({ workerId: 'worker-b' });
    expect(await second.requeueStale(60_000, () => true)).toEqual([queued.id]);
    await second.execute(queued.id);
    const done = await service.getRun(admin, queued.id);
    expect(done).toMatchObject({ status: 'succeeded', counts: { sent: 230, created: 230 } });
    // The stalled request goes through at last; its worker notices and touches nothing, and
    // says it has no run to report (as when another worker claimed it first).
    release?.();
    expect(await first).toBeUndefined();
    // Only its stalled request, which did reach SendGrid, is counted.
    expect(await service.getRun(admin, queued.id)).toEqual({
      ...done,
      requests: done.requests + 1,
    });
    expect(await list()).toHaveLength(230);
    expect(await ledger.ledgerSize(exportId)).toBe(230);
  });

  it('settles a batch once and all at once: a second settlement or a failed one records nothing', async () => {
    const run = await runOnce();
    const [batch] = await runs.batches(run.id);
    if (!batch) throw new Error('no batch');
    const addCreated = async ({ runs: store }: { runs: RunStore }) =>
      store.addCounters(run.id, { created: 1000 }, clock.now().toISOString());
    expect(await runs.settleBatch(run.id, batch.seq, { status: 'completed' }, addCreated)).toBe(
      false,
    );
    await get()
      .db.updateTable('run_batches')
      .set({ status: 'submitted' })
      .where('run_id', '=', run.id)
      .where('seq', '=', batch.seq)
      .execute();
    const crash = runs.settleBatch(run.id, batch.seq, { status: 'completed' }, async (stores) => {
      await addCreated(stores);
      throw new Error('crashed while settling');
    });
    await expect(crash).rejects.toThrow('crashed while settling');
    expect((await runs.batches(run.id))[0]?.status).toBe('submitted');
    expect((await service.getRun(admin, run.id)).counts.created).toBe(230);
  });

  it('cancels after the request in flight and keeps the ledger true', async () => {
    let puts = 0;
    scenario.fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (init?.method === 'PUT' && ++puts === 2) await service.cancelRun(admin, runId);
      return response;
    };
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    const runId = queued.id;
    await runner().execute(runId);
    const run = await service.getRun(admin, runId);
    expect(run.status).toBe('canceled');
    expect(puts).toBe(2);
    // The two acknowledged requests are still settled: the ledger and the counts say exactly
    // what reached the list.
    const inList = (await list()).length;
    expect(inList).toBeGreaterThan(0);
    expect(await ledger.ledgerSize(exportId)).toBe(inList);
    expect(run.counts).toMatchObject({ sent: inList, created: inList });
  });

  it('stops waiting out a long rate limit when its worker shuts down', async () => {
    const shutdown = new AbortController();
    const waits: number[] = [];
    // SendGrid asks to wait a minute before the first upsert; the worker is told to stop while
    // the run waits.
    scenario.fetch = (input, init) => {
      if (init?.method !== 'PUT') return fetch(input, init);
      const reset = Math.ceil((clock.now().getTime() + 60_000) / 1000);
      return Promise.resolve(
        new Response('{"errors":[{"message":"too many requests"}]}', {
          status: 429,
          headers: { 'x-ratelimit-reset': String(reset), 'content-type': 'application/json' },
        }),
      );
    };
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    const stopped = await runner({
      sleep: (ms) => {
        waits.push(ms);
        shutdown.abort();
        clock.advance(ms);
        return new Promise((resolve) => setImmediate(resolve));
      },
    }).execute(queued.id, undefined, shutdown.signal);
    expect(stopped).toMatchObject({ status: 'queued', worker: null });
    // One heartbeat step of the minute's wait, not all six.
    expect(waits).toEqual([10_000]);
  });

  it('stops after the request in flight when its worker shuts down, queued again for the next to finish exactly', async () => {
    let stop = () => undefined as void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    let puts = 0;
    scenario.fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (init?.method === 'PUT' && ++puts === 2) stop();
      return response;
    };
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    const worker = new ExportWorker({
      runner: runner(),
      runs,
      logger: silentLogger,
      sleep: () => new Promise((resolve) => setImmediate(resolve)),
    });
    // It returns once the run stopped, without waiting for the rest of it.
    await worker.work(stopped);
    expect(await runs.findRun(queued.id)).toMatchObject({
      status: 'queued',
      worker: null,
      finished_at: null,
    });
    expect(puts).toBe(2);
    // Its open jobs are left to the next worker, which settles them and sends the rest.
    scenario.fetch = undefined;
    const resumed = await runner({ workerId: 'worker-b' }).execute(queued.id);
    expect(resumed).toMatchObject({ status: 'succeeded', sent: 230, created: 230, unchanged: 0 });
    expect(putCount()).toBe(5);
    expect(await list()).toHaveLength(230);
    expect(await ledger.ledgerSize(exportId)).toBe(230);
  });

  it('ends canceled when the cancel came after everything was sent, while jobs were settling', async () => {
    let puts = 0;
    let asked = false;
    scenario.fetch = async (input, init) => {
      if (init?.method === 'PUT') puts += 1;
      else if (puts === 5 && !asked && urlOf(input).includes('/contacts/imports/')) {
        asked = true;
        await service.cancelRun(admin, runId);
      }
      return fetch(input, init);
    };
    const queued = await service.startRun(admin, exportId, { trigger: 'manual' });
    const runId = queued.id;
    await runner().execute(runId);
    const run = await service.getRun(admin, runId);
    expect(asked).toBe(true);
    expect(run).toMatchObject({ status: 'canceled', cancel_requested: true });
    // Everything had been sent and is settled: the counts say so.
    expect(run.counts).toMatchObject({ sent: 230, created: 230 });
    await expect(service.cancelRun(admin, runId)).rejects.toThrow(/has already ended \(canceled\)/);
  });

  it('settles what SendGrid acknowledged when a run fails later, so its counts are true', async () => {
    let puts = 0;
    // Jobs look pending until the third upsert, which SendGrid refuses (the key revoked, say):
    // the run fails with two acknowledged jobs it has not settled yet.
    scenario.fetch = async (input, init) => {
      if (init?.method === 'PUT' && ++puts === 3) {
        return new Response(JSON.stringify({ errors: [{ message: 'revoked' }] }), { status: 401 });
      }
      const response = await fetch(input, init);
      if (
        puts >= 3 ||
        !(input instanceof Request ? input.url : input.toString()).includes('/contacts/imports/')
      )
        return response;
      const job = (await response.json()) as Record<string, unknown>;
      return Response.json({ ...job, status: 'pending' });
    };
    const run = await runOnce();
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/refused the connection's API key/);
    const inList = (await list()).length;
    expect(inList).toBeGreaterThan(0);
    expect(await ledger.ledgerSize(exportId)).toBe(inList);
    expect(run.counts).toMatchObject({ sent: inList, created: inList, failed: 0 });
  });
});
