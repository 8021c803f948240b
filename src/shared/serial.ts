/**
 * Runs tasks one at a time, in the order they were handed in: a later task starts once every
 * earlier one has ended (settled or failed). A failed task fails only its own caller.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
