import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestPacker, type BatchLimits } from './batches.js';

/** All `items` through one packer, grouped as the planner groups them into requests. */
function packBatches<T extends { bytes: number }>(items: Iterable<T>, limits: BatchLimits): T[][] {
  const packer = new RequestPacker(limits);
  const groups: T[][] = [];
  for (const item of items) {
    if (packer.add(item.bytes) || groups.length === 0) groups.push([]);
    groups.at(-1)?.push(item);
  }
  return groups;
}

const limits = (maxItems: number, maxBytes: number): BatchLimits => ({
  maxItems,
  maxBytes,
  overheadBytes: (count) => 10 + Math.max(0, count - 1),
});
const items = (...sizes: number[]) => sizes.map((bytes, index) => ({ bytes, index }));

describe('packBatches', () => {
  it('fills requests up to the item count', () => {
    const groups = [
      ...packBatches(items(...Array<number>(100_000).fill(100)), limits(30_000, 6 * 1024 * 1024)),
    ];
    expect(groups.map((g) => g.length)).toEqual([30_000, 30_000, 30_000, 10_000]);
  });

  it('fills requests up to the byte size, envelope included', () => {
    const groups = [...packBatches(items(40, 40, 40), limits(10, 10 + 40 + 40 + 1))];
    expect(groups.map((g) => g.map((i) => i.index))).toEqual([[0, 1], [2]]);
  });

  it('gives an oversized item a request of its own', () => {
    const groups = [...packBatches(items(5, 500, 5), limits(10, 100))];
    expect(groups.map((g) => g.map((i) => i.index))).toEqual([[0], [1], [2]]);
  });

  it('keeps every item once, in order, within the limits (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 320, max: 2_000 }),
        (sizes, maxItems, maxBytes) => {
          const lim = limits(maxItems, maxBytes);
          const groups = [...packBatches(items(...sizes), lim)];
          expect(groups.flat().map((i) => i.index)).toEqual(sizes.map((_, i) => i));
          for (const group of groups) {
            expect(group.length).toBeLessThanOrEqual(maxItems);
            const total = lim.overheadBytes(group.length) + group.reduce((s, i) => s + i.bytes, 0);
            expect(total <= maxBytes || group.length === 1).toBe(true);
          }
          // No two neighbouring groups could have been one.
          for (let g = 1; g < groups.length; g++) {
            const merged = [...groups[g - 1]!, groups[g]![0]!];
            const bytes =
              lim.overheadBytes(merged.length) + merged.reduce((s, i) => s + i.bytes, 0);
            expect(merged.length > maxItems || bytes > maxBytes).toBe(true);
          }
        },
      ),
    );
  });
});
