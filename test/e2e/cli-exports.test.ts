import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { runCli, segsyncBin, type CliResult } from '../helpers/cli.js';

const KEY = 'SG.e2e-key-abcdefghijklmnop.qrstuvwxyz0123456789ABCDEFGHIJ';
const PROFILES = 35_000; // two upsert requests: 30,000 + 5,000

interface RunJson {
  id: string;
  status: string;
  counts: Record<string, number>;
  requests: number;
  error: string | null;
}

function json<T>(result: CliResult): T {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

describe('exports from the CLI, end to end', () => {
  let cwd: string;
  let sandbox: Sandbox;
  let segmentId: string;
  let connectionId: string;
  const env = () => ({ SEGSYNC_LOG_LEVEL: 'warn', SG_KEY: KEY });
  const cli = (args: string[], timeoutMs = 120_000) => runCli(args, { cwd, env: env(), timeoutMs });
  const putCount = () =>
    sandbox
      .stats()
      .requests.filter((r) => r.method === 'PUT' && r.status === 202)
      .reduce((sum, r) => sum + r.count, 0);
  const listEmails = async (listId: string) => {
    sandbox.runPendingJobs();
    const response = await fetch(`${sandbox.url}/__sandbox/lists/${listId}/contacts`);
    return ((await response.json()) as { contacts: { email: string }[] }).contacts.map(
      (c) => c.email,
    );
  };

  beforeAll(async () => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-e2e-exports-'));
    // Every response waits a little, so a run is still going when the test kills it.
    sandbox = await startSandbox({ port: 0, jobDelayMs: 100, latencyMs: 400, apiKeys: [KEY] });
    const file = path.join(cwd, 'customers.csv');
    expect((await cli(['demo-data', '--profiles', String(PROFILES), '--out', file])).code).toBe(0);
    expect(
      json<{ created: number }>(await cli(['profiles', 'import', file, '--json'])).created,
    ).toBe(PROFILES);
    const rule = '{"all":[{"attribute":"email","operator":"is_not_empty"}]}';
    segmentId = json<{ id: string }>(
      await cli(['segments', 'create', '--name', 'Everyone', '--rule', rule, '--json']),
    ).id;
    expect((await cli(['segments', 'refresh', segmentId])).code).toBe(0);
  }, 180_000);
  afterAll(async () => {
    await sandbox.stop();
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it('connects only with the privacy consent and a working key, and never shows the key', async () => {
    const base = ['connections', 'add', 'sendgrid', '--name', 'Main', '--base-url', sandbox.url];
    const noConsent = await cli([...base, '--api-key-env', 'SG_KEY']);
    expect(noConsent.code).toBe(2);
    expect(noConsent.stderr).toMatch(/data-privacy consent is required/);
    const badKey = await cli([...base, '--api-key', 'SG.not-a-key-0123456789', '--accept-privacy']);
    expect(badKey.code).toBe(7);
    expect(badKey.stderr).toMatch(/refused the connection's API key/);
    expect(badKey.stderr).not.toContain('not-a-key-0123456789');
    // A key given to the wrong flag, or given twice, is refused without being printed.
    const misplaced = await cli([...base, '--limit', KEY, '--api-key-env', 'SG_KEY']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toMatch(/SG\.\*\*\*\*GHIJ/);
    const twice = await cli([
      ...base,
      '--api-key',
      KEY,
      '--api-key-env',
      'SG_KEY',
      '--accept-privacy',
    ]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/give the API key one way only/);
    for (const result of [misplaced, twice]) expect(result.stderr).not.toContain(KEY.slice(3));
    const added = json<{ id: string; api_key: string }>(
      await cli([...base, '--api-key-env', 'SG_KEY', '--accept-privacy', '--json']),
    );
    connectionId = added.id;
    expect(added.api_key).toBe('SG.****GHIJ');
    const everything = [
      await cli(['connections', 'list', '--json']),
      await cli(['connections', 'show', connectionId]),
      await cli(['connections', 'test', connectionId]),
    ];
    for (const result of everything) {
      expect(result.code).toBe(0);
      expect(result.stdout + result.stderr).not.toContain(KEY);
    }
    const database = fs.readFileSync(path.join(cwd, 'data/segsync.db'));
    expect(database.includes(Buffer.from(KEY.slice(3)))).toBe(false);
  });

  it('refuses an export to a list that does not exist, naming it', async () => {
    const result = await cli([
      'exports',
      'add',
      '--name',
      'Nowhere',
      '--connection',
      connectionId,
      '--list-id',
      '00000000-0000-4000-8000-000000000000',
      '--map',
      'email=email',
      '--segment',
      segmentId,
    ]);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/no list 00000000-0000-4000-8000-000000000000/);
  });

  it('says what is wrong with an export before saving it, and creates nothing in SendGrid meanwhile', async () => {
    const add = (name: string, ...more: string[]) =>
      cli(['exports', 'add', '--name', name, '--connection', connectionId, ...more]);
    const lists = () =>
      sandbox
        .stats()
        .requests.filter((r) => r.method === 'POST')
        .reduce((sum, r) => sum + r.count, 0);
    const listsBefore = lists();
    const unknown = await add(
      'Unknown',
      '--create-list',
      'U',
      '--map',
      'email=email',
      '--segment',
      'seg_nope',
    );
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/segment seg_nope does not exist/);
    const twice = await add(
      'Twice',
      '--create-list',
      'T',
      '--map',
      'email=email',
      '--map',
      'email=city',
      '--segment',
      segmentId,
    );
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/--map email=city: email is mapped more than once/);
    const noList = await add('No list', '--map', 'email=email', '--segment', segmentId);
    expect(noList.code).toBe(2);
    expect(noList.stderr).toMatch(/a list is required/);
    const badName = await add(
      'two\nlines',
      '--create-list',
      'B',
      '--map',
      'email=email',
      '--segment',
      segmentId,
    );
    expect(badName.code).toBe(2);
    expect(lists()).toBe(listsBefore);

    // The same segment twice is one segment; a list id in capitals is the same list.
    const listId = json<{ list_id: string }>(
      await add(
        'Capitals',
        '--create-list',
        'Capitals',
        '--map',
        'email=email',
        '--segment',
        segmentId,
        '--json',
      ),
    ).list_id;
    const same = json<{ segment_ids: string[]; list_id: string }>(
      await add(
        'Same',
        '--list-id',
        listId.toUpperCase(),
        '--map',
        'email=email',
        '--segment',
        segmentId,
        '--segment',
        segmentId,
        '--json',
      ),
    );
    expect(same).toMatchObject({ segment_ids: [segmentId], list_id: listId });
  });

  it('warns on saving an export of a segment never refreshed, and fails its run saying so', async () => {
    const rule = '{"all":[{"attribute":"city","operator":"equals","value":"Lima"}]}';
    const fresh = json<{ id: string }>(
      await cli(['segments', 'create', '--name', 'Never refreshed', '--rule', rule, '--json']),
    ).id;
    const added = await cli([
      'exports',
      'add',
      '--name',
      'Not yet',
      '--connection',
      connectionId,
      '--create-list',
      'Not yet',
      '--map',
      'email=email',
      '--segment',
      fresh,
      '--mode',
      'mirror',
      '--json',
    ]);
    const saved = json<{ id: string; warnings: string[] }>(added);
    expect(saved.warnings).toEqual([
      expect.stringMatching(/segment "Never refreshed" \(seg_\w+\) has never been refreshed/),
    ]);
    const preview = json<{ would_fail: string | null }>(
      await cli(['exports', 'preview', saved.id, '--json']),
    );
    expect(preview.would_fail).toMatch(/has never been refreshed.*segsync segments refresh/);
    const result = await cli(['exports', 'run', saved.id, '--wait', '--json']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({
      status: 'failed',
      requests: 0,
      error: expect.stringMatching(/has never been refreshed.*nothing was sent/) as unknown,
    });
  });

  /** Defines an export of everyone into a new list (not run). */
  const addEveryoneExport = async (name: string) =>
    json<{ id: string; list_id: string }>(
      await cli([
        'exports',
        'add',
        '--name',
        name,
        '--connection',
        connectionId,
        '--create-list',
        name,
        '--map',
        'email=email',
        '--map',
        'first_name=first_name',
        '--map',
        'city=city',
        '--segment',
        segmentId,
        '--json',
      ]),
    );

  /**
   * Starts `exports run ID --wait` and stops it with `signal` (a kill, or Ctrl-C) once SendGrid
   * acknowledged a request; returns the run it left, and what the process said and exited with.
   */
  const runAndKill = async (
    exportId: string,
    signal: NodeJS.Signals = 'SIGKILL',
  ): Promise<RunJson & { exit: { code: number | null; stderr: string } }> => {
    const before = putCount();
    const child = spawn(segsyncBin, ['exports', 'run', exportId, '--wait', '--json'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env() },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Kill it once SendGrid acknowledged the first request (its checkpoint is then written).
    for (let i = 0; i < 600 && putCount() < before + 1; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(putCount()).toBe(before + 1);
    await new Promise((r) => setTimeout(r, 150));
    child.kill(signal);
    const code = await exited;
    const [run] = json<RunJson[]>(await cli(['runs', 'list', '--export', exportId, '--json']));
    expect(run?.status).toMatch(/running|waiting_on_destination/);
    return { ...run!, exit: { code, stderr } };
  };

  /** The list holds every profile once, and at most the request in flight at the kill was resent. */
  const expectExactList = async (listId: string, putsSince: number) => {
    const emails = await listEmails(listId);
    expect(emails).toHaveLength(PROFILES);
    expect(new Set(emails).size).toBe(PROFILES);
    expect(putCount() - putsSince).toBeLessThanOrEqual(3);
  };

  it('survives a killed process: the worker resumes and the list is exact, no acknowledged request resent', async () => {
    const everyone = await addEveryoneExport('Everyone');
    const before = putCount();
    const run = await runAndKill(everyone.id);

    const worker = spawn(segsyncBin, ['worker'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env() },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let workerSaid = '';
    worker.stderr.on('data', (chunk: Buffer) => (workerSaid += chunk.toString()));
    const workerExited = new Promise<number | null>((resolve) => worker.on('exit', resolve));
    let final: RunJson | undefined;
    for (let i = 0; i < 600; i++) {
      final = json<RunJson>(await cli(['runs', 'show', run.id, '--json']));
      if (['succeeded', 'partially_succeeded', 'failed', 'canceled'].includes(final.status)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // Stopped, the worker says what becomes of a run in progress (the runner's tests check it).
    worker.kill('SIGTERM');
    expect(await workerExited).toBe(0);
    expect(workerSaid).toContain(
      'stopping: a run in progress stops after its request in flight and is queued again',
    );

    expect(final).toMatchObject({
      status: 'succeeded',
      counts: { members: PROFILES, sent: PROFILES, unchanged: 0, failed: 0 },
    });
    await expectExactList(everyone.list_id, before);

    // A second run sends nothing.
    const delta = await cli(['exports', 'run', everyone.id, '--wait', '--json']);
    expect(delta.code).toBe(0);
    expect(JSON.parse(delta.stdout)).toMatchObject({
      status: 'succeeded',
      counts: { sent: 0, unchanged: PROFILES },
    });
  }, 180_000);

  it('stops at once on Ctrl-C, saying how to resume the run, which the next --wait does exactly', async () => {
    // Ctrl-C ends the process as a kill does (the worker's test above): the run is left behind.
    const interrupted = await addEveryoneExport('Interrupted');
    const before = putCount();
    const run = await runAndKill(interrupted.id, 'SIGINT');
    expect(run.exit.code).toBe(130);
    expect(run.exit.stderr).toContain(
      `interrupted: run ${run.id} stopped where it was, and nothing it recorded is lost; \`segsync exports run ${interrupted.id} --wait\` resumes it (so does \`segsync worker\`), \`segsync runs cancel ${run.id}\` cancels it`,
    );
    const resumed = await cli(['exports', 'run', interrupted.id, '--wait', '--json']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`resuming run ${run.id}`);
    expect(JSON.parse(resumed.stdout)).toMatchObject({
      id: run.id,
      status: 'succeeded',
      counts: { members: PROFILES, sent: PROFILES, failed: 0 },
    });
    await expectExactList(interrupted.list_id, before);
  }, 180_000);

  it('cancels a run whose process was killed, settling what SendGrid had acknowledged first', async () => {
    const orphan = await addEveryoneExport('Orphan');
    const run = await runAndKill(orphan.id);
    const canceled = await cli(['runs', 'cancel', run.id, '--json']);
    expect(canceled.code).toBe(0);
    const ended = JSON.parse(canceled.stdout) as RunJson;
    expect(ended).toMatchObject({ id: run.id, status: 'canceled' });
    // The request SendGrid took before the kill is settled: the counts say what reached the
    // list (this list holds earlier tests' contacts: updated), and a next run sends the rest.
    const { sent, created, updated } = ended.counts;
    expect(sent).toBeGreaterThan(0);
    expect(created! + updated!).toBe(sent);
    const preview = json<{ would_upsert: number; unchanged: number }>(
      await cli(['exports', 'preview', orphan.id, '--json']),
    );
    expect(preview).toMatchObject({ would_upsert: PROFILES - sent!, unchanged: sent });
    // Its problems do not claim that everything was delivered.
    const errors = await cli(['runs', 'errors', run.id]);
    expect(errors.stdout).toMatch(
      /^No problems recorded for single contacts, but the run was canceled/,
    );
    expect((await cli(['runs', 'errors', run.id, '--csv', '--json'])).code).toBe(2);
    expect((await cli(['runs', 'list', '--export', 'exp_nope'])).code).toBe(4);
    // In text, a run shows its export and times; the list names its export too.
    const shown = (await cli(['runs', 'show', run.id])).stdout;
    expect(shown).toMatch(new RegExp(`^export +${orphan.id}$`, 'm'));
    expect(shown).toMatch(/^status +canceled$/m);
    expect(shown).toMatch(/^finished +\d{4}-\d\d-\d\dT/m);
    expect(shown).toMatch(/^sent +\d+ \(created \d+, updated \d+\), unchanged \d+, /m);
    const listed = (await cli(['runs', 'list', '--export', orphan.id])).stdout;
    expect(listed).toContain(`${run.id}  ${orphan.id}  `);

    // A copy of an export with a name of the longest length still has a valid name.
    const long = 'L'.repeat(100);
    const original = json<{ id: string }>(
      await cli([
        'exports',
        'add',
        '--name',
        long,
        '--connection',
        connectionId,
        '--list-id',
        orphan.list_id,
        '--map',
        'email=email',
        '--segment',
        segmentId,
        '--json',
      ]),
    );
    const names: string[] = [];
    for (let i = 0; i < 2; i++) {
      names.push(
        json<{ name: string }>(await cli(['exports', 'duplicate', original.id, '--json'])).name,
      );
    }
    expect(names).toEqual([`${'L'.repeat(93)} (copy)`, `${'L'.repeat(91)} (copy 2)`]);
    // A name given is checked as `exports add` checks one.
    for (const [name, message] of [
      ['s'.repeat(101), /name: expected a name of at most 100 characters/],
      ['tab\there', /name: a name cannot contain line breaks/],
      ['line\u2028separator', /name: a name cannot contain line breaks/],
      ['', /name: a name is required/],
    ] as const) {
      const refused = await cli(['exports', 'duplicate', original.id, '--name', name]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(message);
    }
  }, 180_000);

  it('exits 1 with the reason when the key was revoked, which preview tells, as a deleted list', async () => {
    const exportId = json<{ id: string }>(
      await cli([
        'exports',
        'add',
        '--name',
        'Revoked',
        '--connection',
        connectionId,
        '--create-list',
        'Revoked',
        '--map',
        'email=email',
        '--segment',
        segmentId,
        '--json',
      ]),
    );
    const port = sandbox.port;
    await sandbox.stop();
    sandbox = await startSandbox({ port, jobDelayMs: 100, apiKeys: ['SG.someone-else-entirely'] });
    // The dry run reads the list, so it tells before a run does.
    const preview = await cli(['exports', 'preview', exportId.id, '--json']);
    expect(preview.code).toBe(0);
    expect(json<{ would_fail: string | null }>(preview).would_fail).toMatch(
      /refused the connection's API key/,
    );
    const result = await cli(['exports', 'run', exportId.id, '--wait', '--json']);
    expect(result.code).toBe(1);
    const run = JSON.parse(result.stdout) as RunJson;
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/refused the connection's API key/);
    const both = await cli([
      'connections',
      'edit',
      connectionId,
      '--share-with-contributors',
      '--admins-only',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/not both/);
    const test = await cli(['connections', 'test', connectionId, '--json']);
    expect(test.code).toBe(7);
    expect(JSON.parse(test.stdout)).toMatchObject({
      ok: false,
      error: { kind: 'destination', reason: 'auth_refused' },
    });
    const errors = await cli(['runs', 'errors', run.id, '--csv']);
    expect(errors.stdout.split('\n')[0]).toBe('severity,code,profile_key,email,reason');
    // The key accepted again, by a SendGrid that no longer has the export's list.
    await sandbox.stop();
    sandbox = await startSandbox({ port, jobDelayMs: 100, apiKeys: [KEY] });
    const listGone = await cli(['exports', 'preview', exportId.id, '--json']);
    expect(json<{ would_fail: string | null }>(listGone).would_fail).toMatch(
      /SendGrid has no list [0-9a-f-]{36} in this account any more/,
    );
  }, 120_000);
});
