import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { createList, inspect, sendGridClient, start, upsert } from './support.js';

describe('SendGrid sandbox: limits, faults and persistence', () => {
  const running: Sandbox[] = [];
  const launch = async (options: Parameters<typeof start>[0]) => {
    const sandbox = await start(options);
    running.push(sandbox);
    return sandbox;
  };
  afterEach(async () => {
    for (const sandbox of running.splice(0)) await sandbox.stop();
  });

  it('rate-limits per key and endpoint with X-RateLimit headers and 429 past the limit', async () => {
    const clock = new ManualClock('2026-03-01T10:00:00.000Z');
    const sandbox = await launch({ rateLimit: { limit: 3, windowSeconds: 10 }, clock });
    const client = sendGridClient(sandbox);
    const seen = [];
    for (let i = 0; i < 4; i++) {
      const response = await client.call('GET', '/v3/scopes');
      seen.push([
        response.status,
        response.headers.get('x-ratelimit-remaining'),
        response.headers.get('x-ratelimit-reset'),
      ]);
    }
    const reset = String(Date.parse('2026-03-01T10:00:10.000Z') / 1000);
    expect(seen).toEqual([
      [200, '2', reset],
      [200, '1', reset],
      [200, '0', reset],
      [429, '0', reset],
    ]);
    // Another endpoint has its own window.
    expect((await client.call('GET', '/v3/marketing/lists')).status).toBe(200);
    clock.advance(10_000);
    expect((await client.call('GET', '/v3/scopes')).status).toBe(200);
  });

  it('injects faults from a seed: the same seed and requests give the same run', async () => {
    const run = async () => {
      const sandbox = await launch({ fault429: 0.2, fault5xx: 0.2, faultReset: 0.1, seed: 42 });
      const client = sendGridClient(sandbox);
      const outcomes: (number | string)[] = [];
      for (let i = 0; i < 40; i++) {
        try {
          outcomes.push((await client.call('GET', '/v3/marketing/contacts/count')).status);
        } catch {
          outcomes.push('dropped');
        }
      }
      return { outcomes, stats: sandbox.stats() };
    };
    const first = await run();
    const second = await run();
    expect(second.outcomes).toEqual(first.outcomes);
    expect(first.outcomes).toContain(200);
    expect(first.outcomes).toContain(429);
    expect(first.outcomes).toContain('dropped');
    expect(first.outcomes.some((o) => o === 500 || o === 503)).toBe(true);
    expect(first.stats.faults.dropped).toBe(first.outcomes.filter((o) => o === 'dropped').length);
  });

  it('answers a fault 429 with Remaining 0 and a future reset time', async () => {
    const sandbox = await launch({ fault429: 1 });
    const response = await sendGridClient(sandbox).call('GET', '/v3/scopes');
    expect(response.status).toBe(429);
    expect(response.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(response.headers.get('x-ratelimit-reset')) * 1000).toBeGreaterThan(
      Date.now() - 1000,
    );
  });

  it('adds latency to SendGrid responses', async () => {
    const sandbox = await launch({ latencyMs: 150 });
    const started = performance.now();
    await sendGridClient(sandbox).call('GET', '/v3/scopes');
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('fails an upsert job that would take the account past the contact cap', async () => {
    const sandbox = await launch({ contactCap: 3 });
    const client = sendGridClient(sandbox);
    const listId = await createList(client, 'capped');
    const ok = await upsert(client, {
      list_ids: [listId],
      contacts: [{ email: 'a@example.com' }, { email: 'b@example.com' }],
    });
    expect(ok.status).toBe('completed');
    const over = await upsert(client, {
      list_ids: [listId],
      contacts: [
        { email: 'a@example.com' },
        { email: 'c@example.com' },
        { email: 'd@example.com' },
      ],
    });
    expect(over.status).toBe('failed');
    // SendGrid documents no `message`: why the job failed is in its errors file, for the job.
    expect(over).not.toHaveProperty('message');
    const errors = await (await fetch(String(over.results.errors_url))).text();
    expect(errors).toMatch(/^"-1","","","contact limit exceeded: /m);
    // Nothing of a failed job is applied; updates of existing contacts still fit.
    expect(sandbox.state.contactsById.size).toBe(2);
    expect((await upsert(client, { contacts: [{ email: 'c@example.com' }] })).status).toBe(
      'completed',
    );
  });

  it('keeps contacts, lists, fields and finished jobs across a restart with a state file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-state-'));
    const statePath = path.join(dir, 'nested', 'state.json');
    try {
      const first = await start({ statePath });
      const client = sendGridClient(first);
      const listId = await createList(client, 'kept');
      const field = await client.call<{ id: string }>('POST', '/v3/marketing/field_definitions', {
        name: 'tier',
        field_type: 'Text',
      });
      const put = await client.call<{ job_id: string }>('PUT', '/v3/marketing/contacts', {
        list_ids: [listId],
        contacts: [{ email: 'keep@example.com', custom_fields: { [field.body.id]: 'gold' } }],
      });
      // Stopping runs the still-pending job and saves: an accepted import is never lost.
      await first.stop();
      expect(fs.readdirSync(path.dirname(statePath))).toEqual(['state.json']);

      const second = await start({ statePath });
      running.push(second);
      const again = sendGridClient(second);
      const contacts = await inspect<{ contacts: Record<string, unknown>[] }>(
        second,
        `/__sandbox/lists/${listId}/contacts`,
      );
      expect(contacts.body.contacts).toEqual([
        expect.objectContaining({ email: 'keep@example.com', custom_fields: { tier: 'gold' } }),
      ]);
      const job = await again.call<{ status: string }>(
        'GET',
        `/v3/marketing/contacts/imports/${put.body.job_id}`,
      );
      expect(job.body.status).toBe('completed');
      const next = await again.call<{ id: string }>('POST', '/v3/marketing/field_definitions', {
        name: 'score',
        field_type: 'Number',
      });
      expect(next.body.id).not.toBe(field.body.id);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a state file that is not one, naming it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-state-'));
    const statePath = path.join(dir, 'state.json');
    fs.writeFileSync(statePath, '{"hello": 1}');
    try {
      await expect(start({ statePath })).rejects.toThrow(
        /not a segsync SendGrid sandbox state file/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad options with a message naming the option', async () => {
    await expect(start({ fault429: 2 })).rejects.toThrow(/fault429/);
  });
});
