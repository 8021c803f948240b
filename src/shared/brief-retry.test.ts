import { describe, expect, it } from 'vitest';
import { DestinationError } from './errors.js';
import { retryingBriefly } from './brief-retry.js';

const rateLimited = (retryAt?: number) =>
  new DestinationError('SendGrid rate-limited reading the list', {
    reason: 'rate_limited',
    status: 429,
    ...(retryAt === undefined ? {} : { retryAt }),
  });
const unavailable = () =>
  new DestinationError('SendGrid failed reading the list with HTTP 503', {
    reason: 'unavailable',
    status: 503,
  });

/** A clock that sleeping moves on, and the waits asked for. */
function fakeTime() {
  let now = 1_000;
  const waits: number[] = [];
  return {
    waits,
    options: {
      now: () => now,
      sleep: (ms: number) => {
        waits.push(ms);
        now += ms;
        return Promise.resolve();
      },
      random: () => 0,
    },
  };
}

/** A call failing with `errors` in turn, then answering `result`; counts its calls. */
function failing<T>(errors: Error[], result: T) {
  const call = () => {
    call.calls++;
    const error = errors[call.calls - 1];
    return error ? Promise.reject(error) : Promise.resolve(result);
  };
  call.calls = 0;
  return call;
}

describe('retryingBriefly', () => {
  it('waits out a rate limit until its reset, then calls again', async () => {
    const time = fakeTime();
    const call = failing([rateLimited(2_500), rateLimited(4_100)], 'list');
    expect(await retryingBriefly(call, time.options)).toBe('list');
    expect(time.waits).toEqual([1_500, 1_600]);
  });

  it('backs off from 5xx, timeouts and dropped connections, and mixes both', async () => {
    const time = fakeTime();
    const call = failing([unavailable(), unavailable(), rateLimited(), unavailable()], 'list');
    expect(await retryingBriefly(call, time.options)).toBe('list');
    expect(call.calls).toBe(5);
    expect(time.waits).toEqual([125, 250, 500, 1_000]);
  });

  it('gives up after ten attempts, past its budget, on a far reset, and on other errors', async () => {
    let time = fakeTime();
    const down = failing(Array.from({ length: 20 }, unavailable), 'list');
    await expect(retryingBriefly(down, time.options)).rejects.toThrow(/HTTP 503/);
    expect(down.calls).toBe(10);

    // Each rate limit resets 4.5 s on: four waits fit in 20 s, a fifth does not.
    time = fakeTime();
    const clock = time.options.now;
    let limitedCalls = 0;
    const limited = () => (limitedCalls++, Promise.reject(rateLimited(clock() + 4_500)));
    await expect(retryingBriefly(limited, time.options)).rejects.toThrow(/rate-limited/);
    expect(limitedCalls).toBe(5);
    expect(time.waits).toEqual([4_500, 4_500, 4_500, 4_500]);

    time = fakeTime();
    const far = failing([rateLimited(61_000)], 'list');
    await expect(retryingBriefly(far, time.options)).rejects.toThrow(/rate-limited/);
    expect(far.calls).toBe(1);

    const refused = new DestinationError('refused', { reason: 'auth_refused', status: 401 });
    const key = failing([refused], 'list');
    await expect(retryingBriefly(key, fakeTime().options)).rejects.toBe(refused);
    expect(key.calls).toBe(1);
  });
});
