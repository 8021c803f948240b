import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

describe('segsync demo', () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-demo-'));
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('exports the demo segments into the sandbox, then runs a delta that sends nothing', async () => {
    const port = String(await freePort());
    const args = ['demo', '--profiles', '2000', '--sandbox-port', port, '--json'];
    const first = await runCli(args, {
      cwd,
      env: { SEGSYNC_LOG_LEVEL: 'warn' },
      timeoutMs: 120_000,
    });
    expect(first.code).toBe(0);
    const run = JSON.parse(first.stdout) as {
      status: string;
      counts: { members: number; sent: number };
      list_contacts: number;
    };
    expect(run.status).toBe('succeeded');
    expect(run.counts.sent).toBeGreaterThan(0);
    expect(run.counts.sent).toBe(run.counts.members);
    expect(run.list_contacts).toBe(run.counts.sent);
    expect(first.stderr).toMatch(/Segment "Newsletter subscribers in Spain": \d+ members/);

    const second = await runCli(args, {
      cwd,
      env: { SEGSYNC_LOG_LEVEL: 'warn' },
      timeoutMs: 120_000,
    });
    expect(second.code).toBe(0);
    const delta = JSON.parse(second.stdout) as {
      counts: { sent: number; unchanged: number };
      list_contacts: number;
    };
    expect(delta.counts).toMatchObject({ sent: 0, unchanged: run.counts.members });
    expect(delta.list_contacts).toBe(run.list_contacts);

    // On another port, the same demo connection and list carry on (they once clashed on the
    // list's name, and left a second connection behind).
    const third = await runCli(
      ['demo', '--profiles', '500', '--sandbox-port', String(await freePort()), '--json'],
      { cwd, env: { SEGSYNC_LOG_LEVEL: 'warn' }, timeoutMs: 120_000 },
    );
    expect(third.code).toBe(0);
    expect(third.stderr).toMatch(/--profiles applies to an empty data folder only/);
    expect(JSON.parse(third.stdout)).toMatchObject({
      counts: { sent: 0 },
      list_contacts: run.list_contacts,
    });
    const connections = await runCli(['connections', 'list', '--json'], { cwd });
    expect(JSON.parse(connections.stdout)).toHaveLength(1);
  }, 240_000);
});
