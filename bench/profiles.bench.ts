// Profiles and segments at 1,000,000 customers, on SQLite (the embedded default):
// - CSV import through segsync (parse, type checks, unify-by-key upserts, one transaction) against
//   the floor: the very rows it stored, inserted with one better-sqlite3 prepared statement in one
//   transaction into an identical, freshly migrated table; plus the import's peak memory.
// - Refresh of a 3-condition segment through the segment service against the floor: the same
//   membership written by hand-written SQL over the same table.
// Each scenario runs in a fresh process; the floors run on the same machine in the same run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openDatabase } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { writeDemoProfiles } from '../src/profiles/demo-data.js';
import { ProfileStore } from '../src/profiles/profile-store.js';
import { ProfileService } from '../src/profiles/service.js';
import { SegmentStore } from '../src/segments/segment-store.js';
import { SegmentService } from '../src/segments/service.js';
import { systemClock } from '../src/shared/clock.js';
import { runInChild } from './lib/measure.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const self = import.meta.filename;
const PROFILES = Number(process.env.SEGSYNC_BENCH_PROFILES ?? 1_000_000);
const MEMORY_LIMIT_MB = 300;
const ROUNDS = Number(process.env.SEGSYNC_BENCH_ROUNDS ?? 2);

interface Paths {
  dir: string;
}

const csvOf = ({ dir }: Paths) => path.join(dir, 'customers.csv');
const oursDb = ({ dir }: Paths) => path.join(dir, 'ours.db');
const floorDb = ({ dir }: Paths) => path.join(dir, 'floor.db');

function removeDatabase(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
}

/** The same connection settings openDatabase uses, for the floors' own better-sqlite3 handles. */
function openLikeSegsync(file: string): BetterSqlite3.Database {
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 10000');
  sqlite.pragma('synchronous = NORMAL');
  return sqlite;
}

/** Child: segsync imports the CSV into a fresh database; returns the import's own duration. */
export async function importOurs(paths: Paths): Promise<{ ms: number; created: number }> {
  removeDatabase(oursDb(paths));
  const handle = openDatabase({ kind: 'sqlite', file: oursDb(paths) });
  try {
    await migrateToLatest(handle.db);
    const service = new ProfileService(new ProfileStore(handle.db), systemClock);
    const started = performance.now();
    const result = await service.importFile(csvOf(paths));
    return { ms: performance.now() - started, created: result.created };
  } finally {
    await handle.close();
  }
}

/** Child: the floor inserts the rows segsync stored, in the same order, into a fresh table. */
export async function importFloor(paths: Paths): Promise<{ ms: number; rows: number }> {
  const source = new BetterSqlite3(oursDb(paths), { readonly: true });
  const rows = source
    .prepare('select id, key, attributes, created_at, updated_at from profiles order by rowid')
    .raw()
    .all() as [string, string, string, string, string][];
  source.close();
  removeDatabase(floorDb(paths));
  const handle = openDatabase({ kind: 'sqlite', file: floorDb(paths) });
  await migrateToLatest(handle.db);
  await handle.close();
  const sqlite = openLikeSegsync(floorDb(paths));
  const insert = sqlite.prepare(
    'insert into profiles (id, key, attributes, created_at, updated_at) values (?, ?, ?, ?, ?)',
  );
  const started = performance.now();
  sqlite.transaction(() => {
    for (const row of rows) insert.run(...row);
  })();
  const ms = performance.now() - started;
  sqlite.close();
  removeDatabase(floorDb(paths));
  return { ms, rows: rows.length };
}

const RULE = {
  all: [
    { attribute: 'country', operator: 'equals', value: 'Spain' },
    { attribute: 'total_spend', operator: 'greater_than', value: 100 },
    { attribute: 'newsletter_opt_in', operator: 'is_true' },
  ],
};

// The floor's hand-written SQL for the same rule (strings compare case-insensitively).
const FLOOR_REFRESH = `
  insert into segment_members (segment_id, profile_id)
  select ?, id from profiles
  where lower(json_extract(attributes, '$.country')) = ?
    and json_extract(attributes, '$.total_spend') > ?
    and json_extract(attributes, '$.newsletter_opt_in') = 1`;

/** Child: alternates segsync's refresh and the floor's SQL three times each; keeps the best. */
export async function refreshBoth(
  paths: Paths,
): Promise<{ ours: number; floor: number; count: number; floorCount: number }> {
  const handle = openDatabase({ kind: 'sqlite', file: oursDb(paths) });
  const sqlite = openLikeSegsync(oursDb(paths));
  try {
    const profiles = new ProfileStore(handle.db);
    const segments = new SegmentService(new SegmentStore(handle.db), profiles, systemClock);
    const segment = await segments.create({ name: `bench ${Date.now()}`, rule: RULE });
    // Warm the page cache the same way for both.
    sqlite.prepare('select count(*) from profiles where attributes is not null').get();
    const clear = sqlite.prepare('delete from segment_members where segment_id = ?');
    const insert = sqlite.prepare(FLOOR_REFRESH);
    let ours = Number.POSITIVE_INFINITY;
    let floor = Number.POSITIVE_INFINITY;
    let count = 0;
    let floorCount = 0;
    for (let round = 0; round < 3; round++) {
      let started = performance.now();
      count = (await segments.refresh(segment.id)).count;
      ours = Math.min(ours, performance.now() - started);
      started = performance.now();
      sqlite.transaction(() => {
        clear.run(segment.id);
        floorCount = insert.run(segment.id, 'spain', 100).changes;
      })();
      floor = Math.min(floor, performance.now() - started);
    }
    return { ours, floor, count, floorCount };
  } finally {
    sqlite.close();
    await handle.close();
  }
}

const benchmark: Benchmark = {
  name: 'profiles',
  async run(): Promise<BenchResult[]> {
    const paths = { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-bench-profiles-')) };
    try {
      await writeDemoProfiles(csvOf(paths), { profiles: PROFILES, seed: 42 });
      // Alternating rounds, best of each: other work on the machine slows whichever runs
      // during it, and a single round can land all of that on one side.
      let oursMs = Number.POSITIVE_INFINITY;
      let floorMs = Number.POSITIVE_INFINITY;
      let peakMB = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const ours = await runInChild<{ ms: number; created: number }>(self, 'importOurs', paths);
        const floor = await runInChild<{ ms: number; rows: number }>(self, 'importFloor', paths);
        if (ours.result.created !== PROFILES || floor.result.rows !== PROFILES) {
          throw new Error(
            `expected ${PROFILES} profiles, got ${ours.result.created}/${floor.result.rows}`,
          );
        }
        oursMs = Math.min(oursMs, ours.result.ms);
        floorMs = Math.min(floorMs, floor.result.ms);
        peakMB = Math.max(peakMB, ours.maxRssMB);
      }
      const refresh = await runInChild<{
        ours: number;
        floor: number;
        count: number;
        floorCount: number;
      }>(self, 'refreshBoth', paths);
      if (refresh.result.count !== refresh.result.floorCount) {
        throw new Error(
          `refresh counts differ: ${refresh.result.count} vs ${refresh.result.floorCount}`,
        );
      }
      const csvMB = fs.statSync(csvOf(paths)).size / 1024 / 1024;
      return [
        {
          name: `import ${PROFILES.toLocaleString('en')} profiles from CSV`,
          unit: 'ms',
          ours: oursMs,
          floor: floorMs,
          maxRatio: 2,
          notes: [
            `file ${csvMB.toFixed(0)} MB; ours ${(PROFILES / (oursMs / 1000)).toFixed(0)} rows/s; best of ${ROUNDS} alternating rounds each`,
          ],
        },
        {
          name: 'import peak memory (floor: the target)',
          unit: 'MB',
          ours: peakMB,
          floor: MEMORY_LIMIT_MB,
          maxRatio: 1,
        },
        {
          name: `refresh a 3-condition segment over ${PROFILES.toLocaleString('en')} profiles`,
          unit: 'ms',
          ours: refresh.result.ours,
          floor: refresh.result.floor,
          maxRatio: 1.5,
          notes: [`${refresh.result.count} members; best of 3 alternating runs each`],
        },
      ];
    } finally {
      fs.rmSync(paths.dir, { recursive: true, force: true });
    }
  },
};

export default benchmark;
