/**
 * A bounded queue between one producer and one consumer: `push` waits while it is full, `take`
 * waits while it is empty and returns undefined once it is closed and drained. `fail` stops both
 * sides with an error, so a consumer that gave up stops its producer.
 */
export class HandoffQueue<T> {
  private readonly items: T[] = [];
  private closed = false;
  private failure: { error: unknown } | undefined;
  private wakeTaker: (() => void) | undefined;
  private wakePusher: (() => void) | undefined;

  constructor(private readonly capacity: number) {}

  async push(item: T): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure.error;
      if (this.items.length < this.capacity) break;
      await new Promise<void>((resolve) => (this.wakePusher = resolve));
    }
    this.items.push(item);
    this.wake('taker');
  }

  async take(): Promise<T | undefined> {
    for (;;) {
      if (this.failure) return undefined;
      const item = this.items.shift();
      if (item !== undefined) {
        this.wake('pusher');
        return item;
      }
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.wakeTaker = resolve));
    }
  }

  /** Throws the error the queue failed with, if it did (a producer calls it between items). */
  check(): void {
    if (this.failure) throw this.failure.error;
  }

  close(): void {
    this.closed = true;
    this.wake('taker');
  }

  fail(error: unknown): void {
    this.failure ??= { error };
    this.wake('taker');
    this.wake('pusher');
  }

  private wake(side: 'taker' | 'pusher'): void {
    const wake = side === 'taker' ? this.wakeTaker : this.wakePusher;
    if (side === 'taker') this.wakeTaker = undefined;
    else this.wakePusher = undefined;
    wake?.();
  }
}

/**
 * Consumes `queue` with `handle`, item after item, until it is closed and drained. A failure
 * goes to `onFailure` (to stop the producer feeding the work) and rejects the returned promise,
 * which the caller awaits later: meanwhile the rejection does not count as unhandled.
 */
export function drain<T>(
  queue: HandoffQueue<T>,
  handle: (item: T) => Promise<void>,
  onFailure: (error: unknown) => void,
): Promise<void> {
  const done = (async () => {
    try {
      for (let item = await queue.take(); item !== undefined; item = await queue.take()) {
        await handle(item);
      }
    } catch (error) {
      onFailure(error);
      throw error;
    }
  })();
  done.catch(() => undefined);
  return done;
}
