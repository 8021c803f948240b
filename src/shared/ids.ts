import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from './clock.js';

// Crockford's base32: no I, L, O, U, so ids read aloud and copied by hand survive.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const PREFIX = /^[a-z]{2,6}$/;
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

/**
 * A new prefixed id such as `seg_01jd3m4k7q8r9s0t1v2w3x4y5z`: the prefix says what the id names,
 * the first 10 characters encode the creation time (ids sort by age), the last 16 are random.
 */
export function newId(prefix: string, clock: Clock = systemClock): string {
  if (!PREFIX.test(prefix)) throw new Error(`bad id prefix ${JSON.stringify(prefix)}`);
  let time = clock.now().getTime();
  let timePart = '';
  for (let i = 0; i < TIME_CHARS; i++) {
    timePart = ALPHABET.charAt(time % 32) + timePart;
    time = Math.floor(time / 32);
  }
  const bytes = randomBytes(RANDOM_CHARS);
  let randomPart = '';
  for (const byte of bytes) randomPart += ALPHABET.charAt(byte % 32);
  return `${prefix}_${timePart}${randomPart}`;
}

/** Whether `value` is an id with the given prefix, as made by newId. */
export function isId(prefix: string, value: string): boolean {
  return new RegExp(`^${prefix}_[${ALPHABET}]{${TIME_CHARS + RANDOM_CHARS}}$`).test(value);
}
