/** What one request may carry. */
export interface BatchLimits {
  maxItems: number;
  maxBytes: number;
  /** Bytes the request adds around `count` items (envelope and separators). */
  overheadBytes(count: number): number;
}

/**
 * Groups items, in order, into the fewest requests the limits allow: each group is filled until
 * the next item would pass the item count or the byte size (greedy filling is optimal for groups
 * that keep the order). An item too big to travel even alone gets a group of its own, so the
 * destination's refusal names it instead of sinking its neighbours.
 */
export function* packBatches<T extends { bytes: number }>(
  items: Iterable<T>,
  limits: BatchLimits,
): Generator<T[]> {
  let group: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const fits =
      group.length < limits.maxItems &&
      limits.overheadBytes(group.length + 1) + bytes + item.bytes <= limits.maxBytes;
    if (!fits && group.length > 0) {
      yield group;
      group = [];
      bytes = 0;
    }
    group.push(item);
    bytes += item.bytes;
  }
  if (group.length > 0) yield group;
}
