// The SendGrid sandbox's own costs: CPU to accept 100,000 contacts in 4 upserts and complete their
// jobs, and memory to hold 1,000,000 contacts. Each scenario runs in a fresh process.
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { runInChild } from './lib/measure.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const self = import.meta.filename;
const KEY = 'SG.sandbox';

/** The contacts of one upsert: realistic sizes, distinct emails per `offset`. */
function contactsBody(offset: number, count: number): Buffer {
  const contacts = [];
  for (let i = offset; i < offset + count; i++) {
    contacts.push({
      email: `Customer.${i}@Example.com`,
      first_name: `First${i % 997}`,
      last_name: `Last${i % 1013}`,
      city: 'Amsterdam',
      country: 'NL',
    });
  }
  return Buffer.from(JSON.stringify({ contacts }));
}

// A bare http.request client: sending a prepared buffer costs next to nothing, so the CPU measured
// around it is the sandbox's (the client's share is counted against us, which is conservative).
function request(url: string, method: string, path: string, body?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}${path}`,
      {
        method,
        headers: {
          authorization: `Bearer ${KEY}`,
          ...(body ? { 'content-type': 'application/json', 'content-length': body.length } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          (res.statusCode ?? 0) < 300
            ? resolve(text)
            : reject(new Error(`${res.statusCode}: ${text}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function upsertAll(url: string, bodies: Buffer[]): Promise<void> {
  const jobIds: string[] = [];
  for (const body of bodies) {
    jobIds.push(
      (JSON.parse(await request(url, 'PUT', '/v3/marketing/contacts', body)) as { job_id: string })
        .job_id,
    );
  }
  for (const id of jobIds) {
    for (;;) {
      const job = JSON.parse(await request(url, 'GET', `/v3/marketing/contacts/imports/${id}`)) as {
        status: string;
      };
      if (job.status !== 'pending') {
        if (job.status !== 'completed') throw new Error(`job ${id} ended ${job.status}`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

const cpuMs = (start: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

/** Child: CPU ms of the sandbox accepting 4 x 25,000 contacts and completing the jobs (warm). */
export async function sandboxUpsertCpu(): Promise<{
  coldMs: number;
  warmMs: number;
  contacts: number;
}> {
  const { startSandbox } = await import('../src/sandbox/index.js');
  const sandbox = await startSandbox({
    port: 0,
    jobDelayMs: 0,
    rateLimit: { limit: 100, windowSeconds: 1 },
  });
  const batch = (round: number) =>
    [0, 1, 2, 3].map((i) => contactsBody(round * 100_000 + i * 25_000, 25_000));
  const cold = batch(0);
  let start = process.cpuUsage();
  await upsertAll(sandbox.url, cold);
  const coldMs = cpuMs(start);
  sandbox.reset();
  const warm = batch(1);
  start = process.cpuUsage();
  await upsertAll(sandbox.url, warm);
  const warmMs = cpuMs(start);
  const contacts = sandbox.state.contactsById.size;
  await sandbox.stop();
  return { coldMs, warmMs, contacts };
}

/** Child: CPU ms of the floor, JSON.parse of the same bodies and a Map insert per contact. */
export function floorUpsertCpu(): { coldMs: number; warmMs: number } {
  const run = (round: number) => {
    const bodies = [0, 1, 2, 3].map((i) => contactsBody(round * 100_000 + i * 25_000, 25_000));
    const start = process.cpuUsage();
    const map = new Map<string, unknown>();
    for (const body of bodies) {
      const parsed = JSON.parse(body.toString('utf8')) as { contacts: { email: string }[] };
      for (const contact of parsed.contacts) map.set(contact.email.toLowerCase(), contact);
    }
    const ms = cpuMs(start);
    if (map.size !== 100_000) throw new Error('floor lost contacts');
    return ms;
  };
  const coldMs = run(0);
  return { coldMs, warmMs: run(1) };
}

// `--expose-gc` given to runInChild does not reach this process: tsx's CLI starts Node again
// without it. The flag is therefore set here and the collector taken from a fresh context, so
// "after GC" figures really are (for ours and the floor alike).
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function gcNow(): void {
  gc();
  gc();
}

/** Child: resident MB with 1,000,000 contacts held by the sandbox (loaded through its API). */
export async function sandboxMillionMemory(): Promise<{
  retainedMB: number;
  heapMB: number;
  contacts: number;
}> {
  const { startSandbox } = await import('../src/sandbox/index.js');
  const sandbox = await startSandbox({
    port: 0,
    jobDelayMs: 0,
    rateLimit: { limit: 1000, windowSeconds: 1 },
  });
  const listId = (
    JSON.parse(
      await request(sandbox.url, 'POST', '/v3/marketing/lists', Buffer.from('{"name":"everyone"}')),
    ) as { id: string }
  ).id;
  for (let offset = 0; offset < 1_000_000; offset += 25_000) {
    const body = JSON.parse(contactsBody(offset, 25_000).toString()) as { contacts: unknown[] };
    await upsertAll(sandbox.url, [Buffer.from(JSON.stringify({ list_ids: [listId], ...body }))]);
  }
  gcNow();
  const retainedMB = process.memoryUsage().rss / 1024 / 1024;
  const heapMB = process.memoryUsage().heapUsed / 1024 / 1024;
  const contacts = sandbox.state.contactsById.size;
  await sandbox.stop();
  return { retainedMB, heapMB, contacts };
}

/** Child: resident MB of a plain Map holding the same 1,000,000 contact objects. */
export function floorMillionMemory(): { retainedMB: number; heapMB: number } {
  const map = new Map<string, unknown>();
  for (let offset = 0; offset < 1_000_000; offset += 25_000) {
    const parsed = JSON.parse(contactsBody(offset, 25_000).toString()) as {
      contacts: { email: string }[];
    };
    for (const contact of parsed.contacts) map.set(contact.email.toLowerCase(), contact);
  }
  gcNow();
  const retainedMB = process.memoryUsage().rss / 1024 / 1024;
  const heapMB = process.memoryUsage().heapUsed / 1024 / 1024;
  if (map.size !== 1_000_000) throw new Error('floor lost contacts');
  return { retainedMB, heapMB };
}

// The issue's targets are absolute: "well under a second" of CPU (aimed at < 600 ms) and "under
// 1 GB" for a million contacts (aimed at < 800 MB). The harness checks ratios to a floor measured
// in the same run, so the ratios below are set to those aims at this machine's floors (about
// 200 ms and 330 MB), and the notes print the absolute figures against the targets.
const CPU_TARGET_MS = 1000;
const CPU_AIM_MS = 600;
const MEMORY_TARGET_MB = 1024;
const MEMORY_AIM_MB = 800;

const verdict = (ours: number, target: number, aim: number) =>
  ours < aim
    ? `met with margin (< ${aim})`
    : ours < target
      ? `met, without the aimed margin (< ${aim})`
      : 'MISSED';

const benchmark: Benchmark = {
  name: 'sandbox',
  async run(): Promise<BenchResult[]> {
    const ours = await runInChild<{ coldMs: number; warmMs: number; contacts: number }>(
      self,
      'sandboxUpsertCpu',
    );
    const floor = await runInChild<{ coldMs: number; warmMs: number }>(self, 'floorUpsertCpu');
    const oursMemory = await runInChild<{ retainedMB: number; heapMB: number; contacts: number }>(
      self,
      'sandboxMillionMemory',
      undefined,
      {
        nodeArgs: ['--expose-gc'],
      },
    );
    const floorMemory = await runInChild<{ retainedMB: number; heapMB: number }>(
      self,
      'floorMillionMemory',
      undefined,
      {
        nodeArgs: ['--expose-gc'],
      },
    );
    return [
      {
        name: 'sandbox CPU: 100,000 contacts in 4 upserts, jobs completed (warm)',
        unit: 'ms',
        ours: ours.result.warmMs,
        floor: floor.result.warmMs,
        maxRatio: 3,
        notes: [
          `sandbox CPU ${ours.result.warmMs.toFixed(0)} ms warm, ${ours.result.coldMs.toFixed(0)} ms cold ` +
            `(issue target: well under ${CPU_TARGET_MS} ms: ` +
            `${verdict(ours.result.warmMs, CPU_TARGET_MS, CPU_AIM_MS)}); ` +
            `floor JSON.parse + Map ${floor.result.warmMs.toFixed(0)} ms warm, ` +
            `${floor.result.coldMs.toFixed(0)} ms cold; ${ours.result.contacts} contacts stored`,
        ],
      },
      {
        name: 'sandbox memory: 1,000,000 contacts held (RSS after GC)',
        unit: 'MB',
        ours: oursMemory.result.retainedMB,
        floor: floorMemory.result.retainedMB,
        maxRatio: 2.4,
        notes: [
          `sandbox ${oursMemory.result.retainedMB.toFixed(0)} MB retained, ${oursMemory.maxRssMB.toFixed(0)} MB peak, ` +
            `${oursMemory.result.heapMB.toFixed(0)} MB live heap ` +
            `(issue target: under ${MEMORY_TARGET_MB} MB retained: ` +
            `${verdict(oursMemory.result.retainedMB, MEMORY_TARGET_MB, MEMORY_AIM_MB)}); ` +
            `plain Map ${floorMemory.result.retainedMB.toFixed(0)} MB retained, ` +
            `${floorMemory.maxRssMB.toFixed(0)} MB peak, ${floorMemory.result.heapMB.toFixed(0)} MB live heap; ` +
            `${oursMemory.result.contacts} contacts stored`,
        ],
      },
    ];
  },
};

export default benchmark;
