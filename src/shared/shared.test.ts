import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ManualClock } from './clock.js';
import { DestinationError, NotFoundError, ValidationError, toSegsyncError } from './errors.js';
import { isId, newId } from './ids.js';
import { createLogger } from './logger.js';
import { isMasked, maskSecret, redactSecretsInText, scrubSecrets } from './secrets.js';
import { Serial } from './serial.js';
import { parseInput } from './validation.js';

const KEY = 'SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq';

describe('ids', () => {
  it('are prefixed, unique and sort by creation time', () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    const first = newId('seg', clock);
    clock.advance(1);
    const second = newId('seg', clock);
    expect(first).toMatch(/^seg_[0-9a-z]{26}$/);
    expect(isId('seg', first)).toBe(true);
    expect(isId('exp', first)).toBe(false);
    expect(first < second).toBe(true);
    const many = new Set(Array.from({ length: 1000 }, () => newId('run', clock)));
    expect(many.size).toBe(1000);
  });

  it('refuses a bad prefix', () => {
    expect(() => newId('Bad_Prefix')).toThrow(/bad id prefix/);
  });
});

describe('errors', () => {
  it('carry a kind and a stable code', () => {
    expect(new NotFoundError('segment', 'seg_1')).toMatchObject({
      kind: 'not_found',
      code: 'segment_not_found',
      message: 'segment seg_1 was not found',
    });
    const destination = new DestinationError('slow down', { reason: 'rate_limited', status: 429 });
    expect(destination).toMatchObject({
      kind: 'destination',
      code: 'destination_rate_limited',
      retryable: true,
    });
    expect(new DestinationError('no', { reason: 'auth_refused', status: 401 }).retryable).toBe(
      false,
    );
  });

  it('wraps foreign errors as internal ones', () => {
    expect(toSegsyncError(new TypeError('boom'))).toMatchObject({
      kind: 'internal',
      message: 'boom',
    });
  });
});

describe('parseInput', () => {
  const schema = z.object({ rule: z.object({ all: z.array(z.object({ value: z.number() })) }) });

  it('points at the bad field', () => {
    const attempt = () =>
      parseInput(schema, { rule: { all: [{ value: 1 }, { value: 'x' }] } }, 'segment');
    expect(attempt).toThrow(ValidationError);
    expect(attempt).toThrow(
      /^invalid segment: rule\.all\[1\]\.value: invalid input: expected number/,
    );
  });

  it('returns typed data when valid', () => {
    expect(parseInput(schema, { rule: { all: [] } }, 'segment')).toEqual({ rule: { all: [] } });
  });
});

describe('secrets', () => {
  it('masks keeping the family and the last four characters', () => {
    expect(maskSecret(KEY)).toBe('SG.****nopq');
    expect(maskSecret('SG.short')).toBe('SG.****');
    expect(maskSecret('hunter2')).toBe('****');
    expect(isMasked('SG.****nopq')).toBe(true);
    expect(isMasked(KEY)).toBe(false);
  });

  it('redacts keys, bearer tokens and URL passwords inside text', () => {
    const text = `key ${KEY} header Bearer abc.def url postgres://me:pw@host/db`;
    const redacted = redactSecretsInText(text);
    expect(redacted).not.toContain(KEY);
    expect(redacted).not.toContain('abc.def');
    expect(redacted).not.toContain(':pw@');
    expect(redacted).toContain('SG.****nopq');
  });

  it('scrubs secret-named fields deeply', () => {
    const scrubbed = scrubSecrets({
      connection: { apiKey: 'plain-secret-value', name: 'Main' },
      list: [KEY],
    });
    expect(JSON.stringify(scrubbed)).not.toContain('plain-secret-value');
    expect(JSON.stringify(scrubbed)).not.toContain(KEY);
    expect(scrubbed).toMatchObject({ connection: { name: 'Main' } });
  });
});

describe('logger', () => {
  it('never writes a secret in clear', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ level: 'info', destination });
    logger.info(
      { apiKey: KEY, request: { headers: { authorization: `Bearer ${KEY}` } } },
      `using ${KEY}`,
    );
    logger.child({ token: 'tok-123456789' }).warn({ err: new Error(`refused ${KEY}`) }, 'refused');
    const output = lines.join('');
    expect(output).toContain('SG.****nopq');
    expect(output).not.toContain(KEY);
    expect(output).not.toContain('tok-123456789');
    expect(lines).toHaveLength(2);
  });
});

describe('Serial', () => {
  it('runs tasks one at a time in order, and a failure fails only its own task', async () => {
    const serial = new Serial();
    const events: string[] = [];
    const task =
      (name: string, ms: number, fail = false) =>
      () =>
        new Promise<string>((resolve, reject) => {
          events.push(`start ${name}`);
          setTimeout(() => {
            events.push(`end ${name}`);
            if (fail) reject(new Error(name));
            else resolve(name);
          }, ms);
        });
    const results = await Promise.allSettled([
      serial.run(task('a', 20)),
      serial.run(task('b', 1, true)),
      serial.run(task('c', 1)),
    ]);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });
});
