/** What one request may carry. */
export interface BatchLimits {
  maxItems: number;
  maxBytes: number;
  /** Bytes the request adds around `count` items (envelope and separators). */
  overheadBytes(count: number): number;
}

/**
 * Fills requests in order, as items arrive: `add` returns a full request when the next item would
 * pass the item count or the byte size (greedy filling is optimal for requests that keep the
 * order). An item too big to travel even alone gets a request of its own, so the destination's
 * refusal names it instead of sinking its neighbours.
 */
export class RequestPacker<T extends { bytes: number }> {
  private group: T[] = [];
  private bytes = 0;

  constructor(private readonly limits: BatchLimits) {}

  /** Adds an item; returns the request it closed, if any. */
  add(item: T): T[] | undefined {
    const fits =
      this.group.length < this.limits.maxItems &&
      this.limits.overheadBytes(this.group.length + 1) + this.bytes + item.bytes <=
        this.limits.maxBytes;
    let full: T[] | undefined;
    if (!fits && this.group.length > 0) full = this.flush();
    this.group.push(item);
    this.bytes += item.bytes;
    return full;
  }

  /** The request being filled, now (empty when there is none). */
  flush(): T[] {
    const group = this.group;
    this.group = [];
    this.bytes = 0;
    return group;
  }
}
