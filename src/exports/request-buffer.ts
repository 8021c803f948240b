import type { SentContact } from './ledger-store.js';

const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const FIRST_CAPACITY = 256 * 1024;
// Released buffers kept for the next requests: one filling, one waiting, one in flight.
const KEPT = 3;

/**
 * The contacts of one request, as bytes: their wire forms joined by commas (the request's body
 * without the destination's envelope), and its checkpoint, a JSON array of SentContact. Bytes
 * rather than strings, because a request lives for a while (it fills, waits, travels and is
 * checkpointed): tens of thousands of strings living that long are promoted to V8's old
 * generation and pile up there as garbage between major collections, hundreds of megabytes over
 * a long run. These buffers live outside the JS heap, and a run reuses them request after request.
 */
export class RequestBuffer {
  private contactBytes: Buffer = Buffer.allocUnsafe(FIRST_CAPACITY);
  private contactsEnd = 0;
  private readonly contactEnds: number[] = [];
  private sentBytes: Buffer = Buffer.allocUnsafe(FIRST_CAPACITY / 2);
  // The checkpoint opens its array at once and closes it when asked for.
  private sentEnd = 1;
  private readonly sentEnds: number[] = [];

  constructor(private readonly pool?: RequestBufferPool) {
    this.sentBytes[0] = OPEN_BRACKET;
  }

  get count(): number {
    return this.contactEnds.length;
  }

  /** Appends a contact: its wire form (`payloadBytes` long in UTF-8) and its checkpoint entry. */
  add(payload: string, payloadBytes: number, sent: string): void {
    const comma = this.count > 0 ? 1 : 0;
    this.contactBytes = ensureRoom(this.contactBytes, this.contactsEnd, comma + payloadBytes);
    if (comma) this.contactBytes[this.contactsEnd++] = COMMA;
    this.contactsEnd += this.contactBytes.write(payload, this.contactsEnd, 'utf8');
    this.contactEnds.push(this.contactsEnd);
    const sentBytes = Buffer.byteLength(sent);
    // Room for the closing bracket too, so checkpoint() never needs to grow the buffer.
    this.sentBytes = ensureRoom(this.sentBytes, this.sentEnd, comma + sentBytes + 1);
    if (comma) this.sentBytes[this.sentEnd++] = COMMA;
    this.sentEnd += this.sentBytes.write(sent, this.sentEnd, 'utf8');
    this.sentEnds.push(this.sentEnd);
  }

  /** The contacts' wire forms joined by commas, as UTF-8 (valid until release()). */
  contacts(): Buffer {
    return this.contactBytes.subarray(0, this.contactsEnd);
  }

  /** The checkpoint: a JSON array of SentContact, as UTF-8 (valid until release()). */
  checkpoint(): Buffer {
    this.sentBytes[this.sentEnd] = CLOSE_BRACKET;
    return this.sentBytes.subarray(0, this.sentEnd + 1);
  }

  /** What the checkpoint records of the contact at `index`. */
  sentContact(index: number): SentContact {
    const [start, end] = span(this.sentEnds, index);
    return JSON.parse(this.sentBytes.toString('utf8', start, end)) as SentContact;
  }

  /** The wire form of the contact at `index`. */
  payload(index: number): string {
    const [start, end] = span(this.contactEnds, index, 0);
    return this.contactBytes.toString('utf8', start, end);
  }

  /** A new request of the contacts whose index passes `keep`, in order. */
  pick(keep: (index: number) => boolean): RequestBuffer {
    const picked = new RequestBuffer(this.pool);
    for (let index = 0; index < this.count; index++) {
      if (!keep(index)) continue;
      const [start, end] = span(this.contactEnds, index, 0);
      const payload = this.contactBytes.toString('utf8', start, end);
      picked.add(payload, end - start, JSON.stringify(this.sentContact(index)));
    }
    return picked;
  }

  /** Empties the buffer for another request, and gives it back to its pool. */
  release(): void {
    this.contactsEnd = 0;
    this.contactEnds.length = 0;
    this.sentEnd = 1;
    this.sentEnds.length = 0;
    this.pool?.giveBack(this);
  }
}

/** Request buffers a run reuses, so their memory is taken once per run, not once per request. */
export class RequestBufferPool {
  private readonly free: RequestBuffer[] = [];

  take(): RequestBuffer {
    return this.free.pop() ?? new RequestBuffer(this);
  }

  giveBack(buffer: RequestBuffer): void {
    if (this.free.length < KEPT && !this.free.includes(buffer)) this.free.push(buffer);
  }
}

/**
 * Where entry `index` lies, given every entry's end: it starts one byte past the previous end
 * (the comma), or at `first` for the first entry (past the checkpoint's `[`: 1).
 */
function span(ends: readonly number[], index: number, first = 1): [number, number] {
  const start = index === 0 ? first : (ends[index - 1] ?? 0) + 1;
  return [start, ends[index] ?? start];
}

/** `buffer`, or a larger copy of it, with room for `more` bytes after its first `used` ones. */
function ensureRoom(buffer: Buffer, used: number, more: number): Buffer {
  if (used + more <= buffer.length) return buffer;
  const grown = Buffer.allocUnsafe(Math.max(buffer.length * 2, used + more));
  buffer.copy(grown, 0, 0, used);
  return grown;
}
