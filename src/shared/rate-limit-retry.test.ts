import { describe, expect, it } from 'vitest';
import { DestinationError } from './errors.js';
import { retryingRateLimits } from './rate-limit-retry.js';

const rateLimited = (retryAt?: number) =>
  new DestinationError('SendGrid rate-limited creating list', {
    reason: 'rate_limited',
    status: 429,
    ...(retryAt === undefined ? {} : { retryAt }),
  });

describe('retryingRateLimits', () => {
  it('waits out a rate limit until its reset, then calls again', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await retryingRateLimits(
      () => (++calls < 3 ? Promise.reject(rateLimited(1_000 + 1_500)) : Promise.resolve('list')),
      { now: () => 1_000, sleep: (ms) => (waits.push(ms), Promise.resolve()) },
    );
    expect(result).toBe('list');
    expect(waits).toEqual([1_600, 1_600]);
  });

  it('gives up after three attempts, on a reset too far away, and on other errors', async () => {
    const options = { now: () => 0, sleep: () => Promise.resolve() };
    let calls = 0;
    await expect(
      retryingRateLimits(() => (calls++, Promise.reject(rateLimited(10))), options),
    ).rejects.toThrow(/rate-limited/);
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      retryingRateLimits(() => (calls++, Promise.reject(rateLimited(60_000))), options),
    ).rejects.toThrow(/rate-limited/);
    expect(calls).toBe(1);
    calls = 0;
    const refused = new DestinationError('refused', { reason: 'auth_refused', status: 401 });
    await expect(
      retryingRateLimits(() => (calls++, Promise.reject(refused)), options),
    ).rejects.toBe(refused);
    expect(calls).toBe(1);
  });
});
