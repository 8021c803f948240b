/**
 * Fixed-window rate limiting per bucket (API key and endpoint, as SendGrid limits per endpoint),
 * reporting what SendGrid's `X-RateLimit-*` headers say: the limit, what is left in the current
 * window, and when the window ends.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Counts one request in `bucket` at `now` (epoch ms). `limited` means answer 429. */
  hit(
    bucket: string,
    now: number,
  ): { limit: number; remaining: number; resetAt: number; limited: boolean } {
    let window = this.windows.get(bucket);
    if (!window || now >= window.start + this.windowMs) {
      window = { start: now, count: 0 };
      this.windows.set(bucket, window);
    }
    window.count++;
    return {
      limit: this.limit,
      remaining: Math.max(0, this.limit - window.count),
      resetAt: window.start + this.windowMs,
      limited: window.count > this.limit,
    };
  }

  clear(): void {
    this.windows.clear();
  }
}
