/** What one request may carry. */
export interface BatchLimits {
  maxItems: number;
  maxBytes: number;
  /** Bytes the request adds around `count` items (envelope and separators). */
  overheadBytes(count: number): number;
}

/**
 * Decides where requests end, as items arrive in order: an item that would pass the item count
 * or the byte size closes the request being filled and starts the next (greedy filling is optimal
 * for requests that keep the order). An item too big to travel even alone gets a request of its
 * own, so the destination's refusal names it instead of sinking its neighbours. It only counts:
 * the caller keeps the items (request-buffer.ts).
 */
export class RequestPacker {
  private count = 0;
  private bytes = 0;

  constructor(private readonly limits: BatchLimits) {}

  /** Counts in an item of `bytes`; true when it starts a new request (the one before is full). */
  add(bytes: number): boolean {
    const fits =
      this.count < this.limits.maxItems &&
      this.limits.overheadBytes(this.count + 1) + this.bytes + bytes <= this.limits.maxBytes;
    const closes = !fits && this.count > 0;
    if (closes) {
      this.count = 0;
      this.bytes = 0;
    }
    this.count += 1;
    this.bytes += bytes;
    return closes;
  }
}
