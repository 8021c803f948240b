import { describe, expect, it } from 'vitest';
import { EmailSet } from './email-set.js';

describe('EmailSet', () => {
  it('knows exactly which of many addresses it holds, through growth', () => {
    const set = new EmailSet(16);
    for (let i = 0; i < 200_000; i++) expect(set.add(`person.${i}@example.com`)).toBe(true);
    expect(set.size).toBe(200_000);
    expect(set.add('person.17@example.com')).toBe(false);
    expect(set.size).toBe(200_000);
    for (let i = 0; i < 200_000; i += 997) expect(set.has(`person.${i}@example.com`)).toBe(true);
    for (let i = 200_000; i < 400_000; i += 997)
      expect(set.has(`person.${i}@example.com`)).toBe(false);
    expect(set.has('PERSON.1@example.com')).toBe(false);
    expect(set.has('')).toBe(false);
  });
});
