import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, segsyncBin } from '../helpers/cli.js';
import { validateSendGridResponse } from '../helpers/openapi.js';

describe('segsync sandbox (CLI)', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-sandbox-cli-'));
  });
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('serves SendGrid paths with the given key until SIGTERM, then exits 0', async () => {
    const child = spawn(
      segsyncBin,
      [
        'sandbox',
        '--port',
        '0',
        '--api-key',
        'SG.one',
        '--api-key',
        'SG.two',
        '--job-delay-ms',
        '1',
        '--scopes',
        'marketing.read',
        '--state',
        path.join(cwd, 'state.json'),
      ],
      { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /^SendGrid sandbox listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
        if (match?.[1]) resolve(match[1]);
      });
      child.on('exit', (code) => reject(new Error(`sandbox exited with ${code}: ${stderr}`)));
    });
    const scopes = await fetch(`${url}/v3/scopes`, { headers: { authorization: 'Bearer SG.two' } });
    const body: unknown = await scopes.json();
    expect(scopes.status).toBe(200);
    expect(validateSendGridResponse('GET', '/v3/scopes', 200, body)).toEqual([]);
    expect(body).toEqual({ scopes: ['marketing.read'] });
    const refused = await fetch(`${url}/v3/scopes`, {
      headers: { authorization: 'Bearer SG.sandbox' },
    });
    expect(refused.status).toBe(401);

    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(fs.existsSync(path.join(cwd, 'state.json'))).toBe(false); // nothing changed, nothing saved
  });

  it('rejects a malformed --rate-limit with exit code 2', async () => {
    const result = await runCli(['sandbox', '--rate-limit', 'fast'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/expected N\/SECONDS/);
  });
});
