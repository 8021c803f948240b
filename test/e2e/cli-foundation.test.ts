import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('segsync CLI', () => {
  let cwd: string;

  beforeAll(() => {
    // A folder far from the repository: the CLI must work from anywhere.
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-cli-'));
  });
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('lists its commands in --help', async () => {
    const result = await runCli(['--help'], { cwd });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: segsync/);
    expect(result.stdout).toMatch(/\bdb\b/);
    expect(result.stdout).toMatch(/\bserve\b/);
  });

  it('has --help on each command', async () => {
    const result = await runCli(['db', 'status', '--help'], { cwd });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: segsync db status/);
  });

  it('rejects an unknown command with one line and exit code 2', async () => {
    const result = await runCli(['frobnicate'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('rejects a bad flag with one line and exit code 2', async () => {
    const result = await runCli(['db', 'status', '--no-such-flag'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/unknown option '--no-such-flag'/);
  });

  it('stops on a bad environment variable, naming it', async () => {
    const result = await runCli(['db', 'status'], { cwd, env: { PORT: 'eighty' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PORT: expected a port number/);
  });

  it('migrates and reports the status of a fresh SQLite store in ./data', async () => {
    const before = await runCli(['db', 'status', '--json'], { cwd });
    expect(before.code).toBe(0);
    const pending = JSON.parse(before.stdout) as { pending: string[]; dialect: string };
    expect(pending.dialect).toBe('sqlite');
    expect(pending.pending).toContain('0001_foundation');

    const migrate = await runCli(['db', 'migrate', '--json'], { cwd });
    expect(migrate.code).toBe(0);
    expect(JSON.parse(migrate.stdout)).toEqual({ applied: pending.pending });

    const after = await runCli(['db', 'status', '--json'], { cwd });
    const status = JSON.parse(after.stdout) as { pending: string[]; installation_id: string };
    expect(status.pending).toEqual([]);
    expect(status.installation_id).toMatch(/^inst_/);
    expect(fs.existsSync(path.join(cwd, 'data/segsync.db'))).toBe(true);
  });

  it('serves the API until stopped', async () => {
    const { spawn } = await import('node:child_process');
    const { segsyncBin } = await import('../helpers/cli.js');
    const child = spawn(segsyncBin, ['serve', '--port', '0'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', SEGSYNC_DATA_DIR: path.join(cwd, 'serve-data') },
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(out);
        if (match?.[1]) resolve(match[1]);
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const response = await fetch(`${url}/api/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', database: 'sqlite' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
