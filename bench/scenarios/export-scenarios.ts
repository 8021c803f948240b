// Export benchmark scenarios. Each runs in a fresh process (bench/lib/measure.ts runInChild), so
// its time and peak memory are its own. The SendGrid sandbox runs in yet another process, as
// SendGrid would be elsewhere.
import BetterSqlite3 from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createApp, type App } from '../../src/app.js';
import { demoMapping } from '../../src/cli/commands/demo.js';
import { loadConfig } from '../../src/config.js';
import { LedgerStore } from '../../src/exports/ledger-store.js';
import { writeDemoProfiles } from '../../src/profiles/demo-data.js';
import { ProfileService } from '../../src/profiles/service.js';
import { ProfileStore } from '../../src/profiles/profile-store.js';
import { SegmentService } from '../../src/segments/service.js';
import { SegmentStore } from '../../src/segments/segment-store.js';
import type { Actor } from '../../src/auth/permissions.js';
import { silentLogger } from '../../src/shared/logger.js';

const actor: Actor = { id: 'bench', name: 'bench', role: 'admin' };

/** Where a scenario keeps its data: a data folder, and PostgreSQL instead of SQLite when given. */
interface Place {
  dir: string;
  databaseUrl?: string;
}

async function withApp<T>(place: Place, work: (app: App) => Promise<T>): Promise<T> {
  const app = await createApp({
    config: loadConfig({ SEGSYNC_DATA_DIR: place.dir, DATABASE_URL: place.databaseUrl }, place.dir),
    logger: silentLogger,
  });
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}

function services(app: App) {
  const profiles = new ProfileStore(app.database.db);
  return {
    profiles: new ProfileService(profiles, app.clock),
    segments: new SegmentService(new SegmentStore(app.database.db), profiles, app.clock),
  };
}

/** A data folder with `count` demo profiles and one segment holding all of them. */
export async function prepare(args: Place & { profiles: number }): Promise<{ segmentId: string }> {
  fs.mkdirSync(args.dir, { recursive: true });
  const csv = path.join(args.dir, 'profiles.csv');
  await writeDemoProfiles(csv, { profiles: args.profiles, seed: 11 });
  return withApp(args, async (app) => {
    const { profiles, segments } = services(app);
    await profiles.importFile(csv);
    const segment = await segments.create({
      name: 'Everyone',
      rule: { all: [{ attribute: 'email', operator: 'is_not_empty' }] },
    });
    await segments.refresh(segment.id);
    return { segmentId: segment.id };
  });
}

/** Connects the sandbox and defines an export of the segment into a new list (not run). */
export async function defineExport(
  args: Place & {
    sandboxUrl: string;
    segmentId: string;
    limit: number;
  },
): Promise<{ exportId: string; listId: string }> {
  return withApp(args, async (app) => {
    const connection = await app.connections.add(actor, {
      name: `Sandbox ${Date.now()}`,
      apiKey: 'SG.sandbox',
      baseUrl: args.sandboxUrl,
      profileLimit: args.limit,
      acceptPrivacy: true,
    });
    const { export: definition } = await app.exports.add(actor, {
      name: `Bench ${Date.now()}`,
      connectionId: connection.id,
      createList: `Bench ${Date.now()}`,
      mapping: demoMapping,
      segmentIds: [args.segmentId],
    });
    return { exportId: definition.id, listId: definition.list_id };
  });
}

/** Changes the city of the first `count` profiles (re-imported), then refreshes the segment. */
export async function changeProfiles(
  args: Place & {
    count: number;
    segmentId: string;
  },
): Promise<void> {
  const rows = parse<Record<string, string>>(fs.readFileSync(path.join(args.dir, 'profiles.csv')), {
    columns: true,
    to: args.count + 1,
  });
  const file = path.join(args.dir, 'changes.csv');
  fs.writeFileSync(
    file,
    `email,city\n${rows
      .slice(0, args.count)
      .map((r) => `${r.email?.trim()},Changed City`)
      .join('\n')}\n`,
  );
  await withApp(args, async (app) => {
    const { profiles, segments } = services(app);
    await profiles.importFile(file);
    await segments.refresh(args.segmentId);
  });
}

/**
 * Has the export's next run check every member again, as after its mapping or list changed: the
 * ledger is told its entries were checked against other settings (LedgerStore recordSettings).
 * Payloads are unchanged: nothing is sent.
 */
export async function recheckLedger(args: Place & { exportId: string }): Promise<void> {
  await withApp(args, (app) =>
    new LedgerStore(app.database.db).recordSettings(args.exportId, 'settings before a change'),
  );
}

/** Plain fetch against the sandbox, as the floors use it. */
function plainSendGrid(sandboxUrl: string) {
  const headers = { authorization: 'Bearer SG.sandbox', 'content-type': 'application/json' };
  return {
    async createList(): Promise<string> {
      const response = await fetch(`${sandboxUrl}/v3/marketing/lists`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: `Floor ${Date.now()}` }),
      });
      return ((await response.json()) as { id: string }).id;
    },
    /** One upsert request; returns its job id. */
    async upsert(body: string): Promise<string> {
      const response = await fetch(`${sandboxUrl}/v3/marketing/contacts`, {
        method: 'PUT',
        headers,
        body,
      });
      if (response.status !== 202)
        throw new Error(`floor upsert answered ${response.status}: ${await response.text()}`);
      return ((await response.json()) as { job_id: string }).job_id;
    },
    /** Polls a job to its end, waiting as the export engine does (50 ms, doubling up to 5 s). */
    async waitForJob(job: string): Promise<void> {
      let wait = 50;
      for (;;) {
        const status = (await (
          await fetch(`${sandboxUrl}/v3/marketing/contacts/imports/${job}`, { headers })
        ).json()) as { status: string };
        if (status.status !== 'pending') return;
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(5_000, wait * 2);
      }
    },
  };
}

/**
 * The floor: the same contacts, already in memory, serialised and sent with plain fetch in the
 * fewest requests (30,000 contacts each), then every job polled to completion, polling as the
 * export engine does.
 */
export async function floorExport(args: {
  dir: string;
  sandboxUrl: string;
  profiles: number;
}): Promise<{ ms: number; requests: number }> {
  const rows = parse<Record<string, string>>(fs.readFileSync(path.join(args.dir, 'profiles.csv')), {
    columns: true,
  });
  const contacts = rows.map((r) => ({
    email: (r.email ?? '').trim().toLowerCase(),
    first_name: r.first_name,
    last_name: r.last_name,
    country: r.country,
    state_province_region: r.state,
    city: r.city,
    postal_code: r.postal_code,
  }));
  const sendgrid = plainSendGrid(args.sandboxUrl);
  const listId = await sendgrid.createList();
  const started = performance.now();
  const jobs: string[] = [];
  for (let i = 0; i < contacts.length; i += 30_000) {
    jobs.push(
      await sendgrid.upsert(
        JSON.stringify({ list_ids: [listId], contacts: contacts.slice(i, i + 30_000) }),
      ),
    );
  }
  for (const job of jobs) await sendgrid.waitForJob(job);
  return { ms: performance.now() - started, requests: jobs.length };
}

/**
 * A second floor, doing the database work an exact export cannot skip, in plain code: the
 * segment's members read from the data folder's database in one query, mapped and serialised
 * as the first floor does, each payload hashed, sent with plain fetch in the fewest requests,
 * every job polled to completion, and one ledger row per confirmed contact (email, hash,
 * profile, version, in a table keyed and indexed as segsync's is) written with one plain
 * statement per row, in one transaction per request. Not the issue's floor: it shows how much
 * of the gap to that one is the database's.
 */
export async function floorExportWithLedger(args: {
  dir: string;
  sandboxUrl: string;
  segmentId: string;
}): Promise<{ ms: number; requests: number; contacts: number }> {
  const sqlite = new BetterSqlite3(path.join(args.dir, 'segsync.db'));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.exec(`drop table if exists floor_ledger;
    create table floor_ledger (email text primary key, hash text not null, profile_id text not null,
      seen text not null) without rowid;
    create index floor_ledger_profile_idx on floor_ledger (profile_id, seen);`);
  const sendgrid = plainSendGrid(args.sandboxUrl);
  const listId = await sendgrid.createList();
  const started = performance.now();
  const rows = sqlite
    .prepare(
      `select p.id, p.attributes, p.updated_at from segment_members m
       join profiles p on p.id = m.profile_id where m.segment_id = ? order by m.profile_id`,
    )
    .all(args.segmentId) as { id: string; attributes: string; updated_at: string }[];
  const insert = sqlite.prepare(
    'insert or replace into floor_ledger (email, hash, profile_id, seen) values (?, ?, ?, ?)',
  );
  const jobs: { id: string; ledger: [string, string, string, string][] }[] = [];
  for (let i = 0; i < rows.length; i += 30_000) {
    const payloads: string[] = [];
    const ledger: [string, string, string, string][] = [];
    for (const row of rows.slice(i, i + 30_000)) {
      const a = JSON.parse(row.attributes) as Record<string, string | undefined>;
      const email = (a.email ?? '').trim().toLowerCase();
      const payload = JSON.stringify({
        email,
        first_name: a.first_name,
        last_name: a.last_name,
        country: a.country,
        state_province_region: a.state,
        city: a.city,
        postal_code: a.postal_code,
      });
      payloads.push(payload);
      ledger.push([
        email,
        createHash('sha1').update(payload).digest('base64url'),
        row.id,
        row.updated_at,
      ]);
    }
    const id = await sendgrid.upsert(
      `{"list_ids":${JSON.stringify([listId])},"contacts":[${payloads.join(',')}]}`,
    );
    jobs.push({ id, ledger });
  }
  for (const job of jobs) {
    await sendgrid.waitForJob(job.id);
    sqlite.transaction(() => {
      for (const entry of job.ledger) insert.run(...entry);
    })();
  }
  const ms = performance.now() - started;
  sqlite.exec('drop table floor_ledger');
  sqlite.close();
  return { ms, requests: jobs.length, contacts: rows.length };
}
