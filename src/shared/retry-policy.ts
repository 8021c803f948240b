import { DestinationError } from './errors.js';

/** How patient a run is with a destination. */
export interface RetryPolicy {
  /** Attempts in all for one request failing with 5xx, timeouts or dropped connections. */
  maxAttempts: number;
  /** Attempts in all for one request that keeps being rate-limited (rate limits are normal). */
  maxRateLimitedAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Added at random to a rate-limit wait so many workers do not return in the same instant. */
  rateLimitJitterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 8,
  maxRateLimitedAttempts: 60,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  rateLimitJitterMs: 1_000,
};

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/**
 * Decides, without doing anything, whether a failed request is tried again and after how long.
 * `attempt` counts the attempts made so far (1 after the first failure); `random` returns [0, 1).
 * A 429 waits until X-RateLimit-Reset plus jitter (exponential backoff when the reset is unknown);
 * 5xx, timeouts and dropped connections back off exponentially with jitter up to a bound; every
 * other error (a refused key, a rejected payload) is not retried.
 */
export function decideRetry(
  error: unknown,
  attempt: number,
  nowMs: number,
  random: () => number,
  policy: RetryPolicy = defaultRetryPolicy,
): RetryDecision {
  if (!(error instanceof DestinationError) || !error.retryable) return { retry: false };
  if (error.reason === 'rate_limited') {
    if (attempt >= policy.maxRateLimitedAttempts) return { retry: false };
    const jitter = Math.floor(random() * policy.rateLimitJitterMs);
    if (error.retryAt !== undefined) {
      // Never wait unboundedly on a reset time far in the future (a clock skew, a bad header).
      return {
        retry: true,
        delayMs: Math.min(Math.max(0, error.retryAt - nowMs), policy.maxDelayMs * 4) + jitter,
      };
    }
    return { retry: true, delayMs: backoff(attempt, random, policy) };
  }
  if (attempt >= policy.maxAttempts) return { retry: false };
  return { retry: true, delayMs: backoff(attempt, random, policy) };
}

/** Exponential backoff with "equal jitter": half the step fixed, half random. */
function backoff(attempt: number, random: () => number, policy: RetryPolicy): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(step / 2 + random() * (step / 2));
}
