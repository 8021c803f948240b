import { describe, expect, it } from 'vitest';
import { DestinationError, ValidationError } from './errors.js';
import { decideRetry, defaultRetryPolicy, type RetryPolicy } from './retry-policy.js';

const policy: RetryPolicy = { ...defaultRetryPolicy, maxAttempts: 4, maxRateLimitedAttempts: 10 };
const now = 1_000_000;
const half = () => 0.5;

describe('decideRetry', () => {
  it('waits for a rate limit until its reset plus jitter', () => {
    const error = new DestinationError('slow down', {
      reason: 'rate_limited',
      status: 429,
      retryAt: now + 3_000,
    });
    expect(decideRetry(error, 1, now, half, policy)).toEqual({ retry: true, delayMs: 3_500 });
    expect(decideRetry(error, 1, now, () => 0, policy)).toEqual({ retry: true, delayMs: 3_000 });
  });

  it('does not wait for a reset already past, and caps an absurd one', () => {
    const past = new DestinationError('x', { reason: 'rate_limited', retryAt: now - 10_000 });
    expect(decideRetry(past, 1, now, () => 0, policy)).toEqual({ retry: true, delayMs: 0 });
    const far = new DestinationError('x', { reason: 'rate_limited', retryAt: now + 10 * 3600_000 });
    const decision = decideRetry(far, 1, now, () => 0, policy);
    expect(decision.retry && decision.delayMs).toBe(policy.maxDelayMs * 4);
  });

  it('keeps trying rate limits longer than outages, but not forever', () => {
    const limited = new DestinationError('x', { reason: 'rate_limited', retryAt: now });
    expect(decideRetry(limited, 9, now, half, policy).retry).toBe(true);
    expect(decideRetry(limited, 10, now, half, policy).retry).toBe(false);
  });

  it('backs off exponentially with jitter on 5xx and dropped connections, up to a bound', () => {
    const outage = new DestinationError('x', { reason: 'unavailable', status: 503 });
    const delays = [1, 2, 3].map((attempt) => {
      const decision = decideRetry(outage, attempt, now, () => 0.999, policy);
      return decision.retry ? decision.delayMs : -1;
    });
    expect(delays[0]).toBeLessThan(delays[1]!);
    expect(delays[1]).toBeLessThan(delays[2]!);
    const low = decideRetry(outage, 3, now, () => 0, policy);
    expect(low).toEqual({ retry: true, delayMs: 1_000 }); // half of the 2,000 ms step
    expect(decideRetry(outage, 4, now, half, policy)).toEqual({ retry: false });
    const late = decideRetry(outage, 3, now, () => 0.999, { ...policy, maxDelayMs: 1_200 });
    expect(late.retry && late.delayMs).toBeLessThanOrEqual(1_200);
  });

  it('never retries refused keys, rejected payloads or non-destination errors', () => {
    for (const reason of [
      'auth_refused',
      'scope_missing',
      'rejected',
      'payload_too_large',
      'not_found',
    ] as const) {
      expect(decideRetry(new DestinationError('x', { reason }), 1, now, half, policy)).toEqual({
        retry: false,
      });
    }
    expect(decideRetry(new ValidationError('bad'), 1, now, half, policy)).toEqual({ retry: false });
    expect(decideRetry(new Error('boom'), 1, now, half, policy)).toEqual({ retry: false });
  });
});
