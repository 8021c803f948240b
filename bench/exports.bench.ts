// Export engine benchmarks (issue 5): a full export of 100,000 profiles against the floor of
// plain fetch; a delta re-export after 1% changed; memory of a 1,000,000-member export against a
// 100,000-member one. The first two are also measured on PostgreSQL, for information.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../test/helpers/embedded-postgres.js';
import { benchRoot, ensureBuild, runCliMeasured, runInChild } from './lib/measure.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const scenarios = path.join(benchRoot, 'scenarios/export-scenarios.ts');

/** Starts `segsync sandbox` in its own process (as SendGrid is elsewhere) and returns its URL. */
async function startSandboxProcess(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      path.join(benchRoot, '../bin/segsync'),
      'sandbox',
      '--port',
      '0',
      '--job-delay-ms',
      '0',
      '--rate-limit',
      '100000/1',
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`sandbox exited with ${code}`)));
  });
  return { url, child };
}

interface RunJson {
  status: string;
  counts: { sent: number };
  started_at: string;
  finished_at: string;
}

/**
 * Runs an export as users do (`segsync exports run ID --wait --json`, the compiled build) and
 * returns the run's own duration (started to finished, as the run records it) and the process's
 * peak memory.
 */
async function runExport(
  place: { dir: string; databaseUrl?: string },
  exportId: string,
): Promise<{ ms: number; run: RunJson; peakRssMB: number }> {
  const cli = await runCliMeasured(['exports', 'run', exportId, '--wait', '--json'], {
    SEGSYNC_DATA_DIR: place.dir,
    DATABASE_URL: place.databaseUrl ?? '',
  });
  if (cli.code !== 0) throw new Error(`exports run exited ${cli.code}: ${cli.stderr.slice(-2000)}`);
  const run = JSON.parse(cli.stdout) as RunJson;
  return {
    ms: Date.parse(run.finished_at) - Date.parse(run.started_at),
    run,
    peakRssMB: cli.peakRssMB,
  };
}

async function resetSandbox(url: string): Promise<void> {
  await fetch(`${url}/__sandbox/reset`, { method: 'POST' });
}

async function putCount(url: string): Promise<number> {
  const stats = (await (await fetch(`${url}/__sandbox/stats`)).json()) as {
    requests: { method: string; status: number; count: number }[];
  };
  return stats.requests
    .filter((r) => r.method === 'PUT' && r.status === 202)
    .reduce((sum, r) => sum + r.count, 0);
}

/**
 * The full export and the 1% re-export again on PostgreSQL (an embedded server, so on this same
 * machine): not an issue target, printed beside the SQLite figures so that a query PostgreSQL
 * plans badly at this size shows up here and not at a user's.
 */
async function exportOnPostgres(
  root: string,
  sandboxUrl: string,
): Promise<{ full: number; delta: number }> {
  const server = await startEmbeddedPostgres();
  try {
    await server.createDatabase('segsync_bench');
    const place = { dir: path.join(root, 'pg100k'), databaseUrl: server.urlOf('segsync_bench') };
    const { result: prepared } = await runInChild<{ segmentId: string }>(scenarios, 'prepare', {
      ...place,
      profiles: 100_000,
    });
    await resetSandbox(sandboxUrl);
    const { result: defined } = await runInChild<{ exportId: string }>(scenarios, 'defineExport', {
      ...place,
      sandboxUrl,
      segmentId: prepared.segmentId,
      limit: 100_000,
    });
    const full = await runExport(place, defined.exportId);
    await runInChild(scenarios, 'changeProfiles', {
      ...place,
      count: 1_000,
      segmentId: prepared.segmentId,
    });
    const delta = await runExport(place, defined.exportId);
    if (full.run.counts.sent !== 100_000 || delta.run.counts.sent !== 1_000)
      throw new Error(
        `on PostgreSQL the exports sent ${full.run.counts.sent} and ${delta.run.counts.sent} contacts, not 100,000 and 1,000`,
      );
    return { full: full.ms, delta: delta.ms };
  } finally {
    await server.stop();
  }
}

const benchmark: Benchmark = {
  name: 'exports',
  async run(): Promise<BenchResult[]> {
    ensureBuild();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-bench-exports-'));
    const sandbox = await startSandboxProcess();
    try {
      const small = path.join(root, 'p100k');
      const { result: prepared } = await runInChild<{ segmentId: string }>(scenarios, 'prepare', {
        dir: small,
        profiles: 100_000,
      });

      await resetSandbox(sandbox.url);
      const floor = await runInChild<{ ms: number; requests: number }>(scenarios, 'floorExport', {
        dir: small,
        sandboxUrl: sandbox.url,
        profiles: 100_000,
      });
      await resetSandbox(sandbox.url);
      const floorWithLedger = await runInChild<{ ms: number }>(scenarios, 'floorExportWithLedger', {
        dir: small,
        sandboxUrl: sandbox.url,
        segmentId: prepared.segmentId,
      });
      await resetSandbox(sandbox.url);
      const { result: defined } = await runInChild<{ exportId: string }>(
        scenarios,
        'defineExport',
        { dir: small, sandboxUrl: sandbox.url, segmentId: prepared.segmentId, limit: 100_000 },
      );
      const full = await runExport({ dir: small }, defined.exportId);
      const ourPuts = await putCount(sandbox.url);

      await runInChild(scenarios, 'changeProfiles', {
        dir: small,
        count: 1_000,
        segmentId: prepared.segmentId,
      });
      const delta = await runExport({ dir: small }, defined.exportId);
      await runInChild(scenarios, 'recheckLedger', { dir: small, exportId: defined.exportId });
      const recheck = await runExport({ dir: small }, defined.exportId);
      if (recheck.run.counts.sent !== 0)
        throw new Error(`checked again, the export sent ${recheck.run.counts.sent}, not 0`);
      const postgres = await exportOnPostgres(root, sandbox.url);

      const large = path.join(root, 'p1m');
      const { result: preparedLarge } = await runInChild<{ segmentId: string }>(
        scenarios,
        'prepare',
        { dir: large, profiles: 1_000_000 },
      );
      await resetSandbox(sandbox.url);
      const { result: definedLarge } = await runInChild<{ exportId: string }>(
        scenarios,
        'defineExport',
        {
          dir: large,
          sandboxUrl: sandbox.url,
          segmentId: preparedLarge.segmentId,
          limit: 1_000_000,
        },
      );
      const fullLarge = await runExport({ dir: large }, definedLarge.exportId);

      return [
        {
          name: 'full export of 100,000 profiles (time)',
          unit: 'ms',
          ours: full.ms,
          floor: floor.result.ms,
          maxRatio: 2,
          notes: [
            `sent ${full.run.counts.sent} contacts in ${ourPuts} upsert requests (floor: ${floor.result.requests}; minimum: ${Math.ceil(100_000 / 30_000)})`,
            `peak memory of the export process: ${full.peakRssMB.toFixed(0)} MB (target < 300 MB)`,
            `against a second floor that also reads the profiles from the database and writes a ledger row per contact, in plain code: ${floorWithLedger.result.ms.toFixed(0)} ms, ratio ${(full.ms / floorWithLedger.result.ms).toFixed(2)} (that floor alone is ${(floorWithLedger.result.ms / floor.result.ms).toFixed(2)}x the first)`,
            `the same on PostgreSQL (embedded, on this machine): full export ${postgres.full.toFixed(0)} ms (${(postgres.full / floor.result.ms).toFixed(2)}x the floor), re-export after 1% changed ${postgres.delta.toFixed(0)} ms (${(postgres.delta / postgres.full).toFixed(2)} of its full export)`,
          ],
        },
        {
          name: 'upsert requests for 100,000 profiles',
          unit: 'requests',
          ours: ourPuts,
          floor: floor.result.requests,
          maxRatio: 1,
        },
        {
          name: 're-export after 1% changed (time, against the full export)',
          unit: 'ms',
          ours: delta.ms,
          floor: full.ms,
          maxRatio: 0.1,
          notes: [
            `sent ${delta.run.counts.sent} contacts`,
            `every member checked again (as after the export's mapping changed), nothing to send: ${recheck.ms.toFixed(0)} ms (${(recheck.ms / full.ms).toFixed(2)} of the full export)`,
          ],
        },
        {
          name: 'peak memory: 1,000,000-member export against a 100,000-member one',
          unit: 'MB',
          ours: fullLarge.peakRssMB,
          floor: full.peakRssMB,
          maxRatio: 1.5,
          notes: [
            `1,000,000-member export took ${(fullLarge.ms / 1000).toFixed(1)} s and sent ${fullLarge.run.counts.sent}`,
          ],
        },
      ];
    } finally {
      sandbox.child.kill('SIGTERM');
      fs.rmSync(root, { recursive: true, force: true });
    }
  },
};

export default benchmark;
