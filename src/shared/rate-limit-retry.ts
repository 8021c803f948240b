import { DestinationError } from './errors.js';

/** The longest a person waiting on a command is made to wait for one rate limit. */
const LONGEST_WAIT_MS = 5_000;
const ATTEMPTS = 3;

/**
 * Runs a destination call a person is waiting on (connecting an account, saving an export): a
 * rate limit (429) is waited out and the call made again, at most twice and for a few seconds
 * each, before the error reaches the user. A 429 means the call was not carried out, so even a
 * call that creates something is safe to repeat; other failures are not retried here (runs have
 * their own retry policy).
 */
export async function retryingRateLimits<T>(
  call: () => Promise<T>,
  options: { now?: () => number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (
        attempt >= ATTEMPTS ||
        !(error instanceof DestinationError) ||
        error.reason !== 'rate_limited'
      ) {
        throw error;
      }
      // Until the window resets (SendGrid's X-RateLimit-Reset), else a second; too long: give up.
      const wait = error.retryAt === undefined ? 1_000 : error.retryAt - now() + 100;
      if (wait > LONGEST_WAIT_MS) throw error;
      await sleep(Math.max(wait, 100));
    }
  }
}
