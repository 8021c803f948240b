import { describe, expect, it } from 'vitest';
import type { SentContact } from './ledger-store.js';
import { RequestBuffer, RequestBufferPool } from './request-buffer.js';

const contact = (n: number, name = `Name ${n}`) => ({
  payload: JSON.stringify({ email: `p${n}@x.com`, first_name: name }),
  sent: [
    `p${n}@x.com`,
    `hash${n}`,
    `key-${n}`,
    `prf_${n}`,
    '2026-11-30T00:00:00.000Z',
    0,
  ] as SentContact,
});

function fill(buffer: RequestBuffer, contacts: ReturnType<typeof contact>[]): void {
  for (const c of contacts)
    buffer.add(c.payload, Buffer.byteLength(c.payload), JSON.stringify(c.sent));
}

describe('RequestBuffer', () => {
  it('joins the wire forms with commas and keeps the checkpoint as a JSON array, past its first size', () => {
    const contacts = Array.from({ length: 5_000 }, (_, n) =>
      contact(n, n % 7 ? `N${n}` : 'Núñez "ß" ☃'),
    );
    const buffer = new RequestBuffer();
    fill(buffer, contacts);
    expect(buffer.count).toBe(5_000);
    expect(buffer.contacts().toString()).toBe(contacts.map((c) => c.payload).join(','));
    expect(JSON.parse(buffer.checkpoint().toString())).toEqual(contacts.map((c) => c.sent));
    expect(buffer.sentContact(0)).toEqual(contacts[0]?.sent);
    expect(buffer.sentContact(4_999)).toEqual(contacts[4_999]?.sent);
  });

  it('picks contacts by index into a request of their own', () => {
    const contacts = [0, 1, 2, 3, 4].map((n) => contact(n));
    const buffer = new RequestBuffer();
    fill(buffer, contacts);
    const odd = buffer.pick((index) => index % 2 === 1);
    expect(odd.count).toBe(2);
    expect(odd.contacts().toString()).toBe(`${contacts[1]?.payload},${contacts[3]?.payload}`);
    expect(JSON.parse(odd.checkpoint().toString())).toEqual([contacts[1]?.sent, contacts[3]?.sent]);
  });

  it('is emptied on release and serves the next request from its pool', () => {
    const pool = new RequestBufferPool();
    const first = pool.take();
    fill(first, [contact(1), contact(2)]);
    first.release();
    const second = pool.take();
    expect(second).toBe(first);
    expect(second.count).toBe(0);
    fill(second, [contact(3)]);
    expect(second.contacts().toString()).toBe(contact(3).payload);
    expect(JSON.parse(second.checkpoint().toString())).toEqual([contact(3).sent]);
    expect(new RequestBuffer().checkpoint().toString()).toBe('[]');
  });
});
