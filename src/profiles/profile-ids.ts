import { randomBytes } from 'node:crypto';
import type { Clock } from '../shared/clock.js';

// The same form as shared/ids.ts newId (prefix, 10 time characters, 16 random ones in Crockford's
// base32), made in bulk: an import needs one id per new profile, and one randomBytes call per id
// costs more than the rest of the id.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const RANDOM_CHARS = 16;
const POOL_IDS = 4096;

/** Makes profile ids (`prf_...`), drawing randomness in blocks. */
export class ProfileIdSource {
  private pool = Buffer.alloc(0);
  private offset = 0;
  private lastTime = -1;
  private timePart = '';

  constructor(private readonly clock: Clock) {}

  next(): string {
    // Reading the clock once per 1000 ids is plenty: the time part only makes ids sort by age.
    const time =
      this.offset % (RANDOM_CHARS * 1000) === 0 ? this.clock.now().getTime() : this.lastTime;
    if (time !== this.lastTime) {
      let rest = time;
      let part = '';
      for (let i = 0; i < 10; i++) {
        part = ALPHABET.charAt(rest % 32) + part;
        rest = Math.floor(rest / 32);
      }
      this.lastTime = time;
      this.timePart = part;
    }
    if (this.offset + RANDOM_CHARS > this.pool.length) {
      this.pool = randomBytes(RANDOM_CHARS * POOL_IDS);
      this.offset = 0;
    }
    let random = '';
    for (let i = 0; i < RANDOM_CHARS; i++)
      random += ALPHABET.charAt((this.pool[this.offset + i] as number) % 32);
    this.offset += RANDOM_CHARS;
    return `prf_${this.timePart}${random}`;
  }
}
