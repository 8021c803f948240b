import { describe, expect, it } from 'vitest';
import { drain, HandoffQueue } from './handoff-queue.js';

describe('HandoffQueue', () => {
  it('hands items over in order and ends when closed', async () => {
    const queue = new HandoffQueue<number>(2);
    const taken: number[] = [];
    const consumer = (async () => {
      for (let item = await queue.take(); item !== undefined; item = await queue.take())
        taken.push(item);
    })();
    for (let i = 1; i <= 5; i++) await queue.push(i);
    queue.close();
    await consumer;
    expect(taken).toEqual([1, 2, 3, 4, 5]);
  });

  it('makes the producer wait while full', async () => {
    const queue = new HandoffQueue<number>(1);
    await queue.push(1);
    let pushed = false;
    const second = queue.push(2).then(() => (pushed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(pushed).toBe(false);
    expect(await queue.take()).toBe(1);
    await second;
    expect(pushed).toBe(true);
  });

  it('stops the producer when the consumer fails', async () => {
    const queue = new HandoffQueue<number>(1);
    await queue.push(1);
    const blocked = queue.push(2);
    queue.fail(new Error('SendGrid refused the key'));
    await expect(blocked).rejects.toThrow('SendGrid refused the key');
    await expect(queue.push(3)).rejects.toThrow('SendGrid refused the key');
    expect(await queue.take()).toBeUndefined();
  });

  it('drains a queue in order, and reports a failure to stop the producer', async () => {
    const queue = new HandoffQueue<number>(2);
    const seen: number[] = [];
    const failures: unknown[] = [];
    const done = drain(
      queue,
      (item) => {
        if (item === 3) return Promise.reject(new Error('three'));
        seen.push(item);
        return Promise.resolve();
      },
      (error) => failures.push(error),
    );
    for (const item of [1, 2, 3]) await queue.push(item);
    await expect(done).rejects.toThrow('three');
    expect(seen).toEqual([1, 2]);
    expect(failures).toHaveLength(1);
  });
});
