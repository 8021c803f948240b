/**
 * A small seeded pseudo-random generator (mulberry32). Fault injection draws from it so that a
 * test that fixes the seed and sends the same requests in the same order sees the same faults.
 */
export interface Random {
  /** A number in [0, 1). */
  next(): number;
}

/** A generator whose sequence depends only on `seed` (any 32-bit integer). */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return {
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}
