import { DestinationError } from './errors.js';
import { decideRetry, type RetryPolicy } from './retry-policy.js';

/**
 * How patient a command is that a person waits on (connecting an account, saving or previewing
 * an export): the run's policy (retry-policy.ts), scaled down to seconds. A rate limit that resets
 * later than LONGEST_RATE_LIMIT_WAIT_MS, or retries past BUDGET_MS in all, give the error to the
 * person instead.
 */
const briefPolicy: RetryPolicy = {
  maxAttempts: 10,
  maxRateLimitedAttempts: 10,
  baseDelayMs: 250,
  maxDelayMs: 2_000,
  rateLimitJitterMs: 250,
};
const LONGEST_RATE_LIMIT_WAIT_MS = 5_000;
const BUDGET_MS = 20_000;

export interface BriefRetryOptions {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/**
 * Runs a destination call a person is waiting on, and that is safe to repeat: a read, or a write
 * the destination refused before doing anything. A rate limit (429) is waited out; a 5xx, a
 * timeout or a dropped connection is tried again after a short backoff. Ten attempts, twenty
 * seconds at most; then the error reaches the person. Other errors (a refused key, a missing
 * list) are not retried. A write whose answer may have been lost must not come here as it is
 * (see list-creation.ts).
 */
export async function retryingBriefly<T>(
  call: () => Promise<T>,
  options: BriefRetryOptions = {},
): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const decision = decideRetry(error, attempt, now(), random, briefPolicy);
      if (!decision.retry) throw error;
      const rateLimited = error instanceof DestinationError && error.reason === 'rate_limited';
      if (rateLimited && decision.delayMs > LONGEST_RATE_LIMIT_WAIT_MS) throw error;
      if (now() + decision.delayMs - started > BUDGET_MS) throw error;
      await sleep(decision.delayMs);
    }
  }
}
