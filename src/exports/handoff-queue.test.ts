import { describe, expect, it } from 'vitest';
import { HandoffQueue } from './handoff-queue.js';

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
});
