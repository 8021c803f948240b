import { describe, expect, it } from 'vitest';
import type { DestinationList, DestinationSession } from '../destinations/destination.js';
import { ConflictError, DestinationError } from '../shared/errors.js';
import { createListOnce } from './list-creation.js';

type Fault = 'before' | 'after' | 'rate_limited';

/** An account's lists, and a createList that fails as `faults` say, one per call. */
function account(faults: Fault[], lists: DestinationList[] = []) {
  const calls = { create: 0, list: 0 };
  const session = {
    listLists: () => {
      calls.list++;
      return Promise.resolve([...lists]);
    },
    createList: (name: string) => {
      const fault = faults[calls.create++];
      if (fault === 'rate_limited') {
        return Promise.reject(
          new DestinationError('SendGrid rate-limited creating the list', {
            reason: 'rate_limited',
            status: 429,
          }),
        );
      }
      const list = { id: `list-${lists.length + 1}`, name, contactCount: 0 };
      if (fault !== 'before') lists.push(list);
      if (fault) {
        return Promise.reject(
          new DestinationError('SendGrid failed creating the list with HTTP 503', {
            reason: 'unavailable',
            status: 503,
          }),
        );
      }
      return Promise.resolve(list);
    },
  } as unknown as DestinationSession;
  return { session, lists, calls };
}

const quick = { sleep: () => Promise.resolve(), random: () => 0 };

describe('createListOnce', () => {
  it('creates the list', async () => {
    const { session, lists } = account([]);
    expect(await createListOnce(session, 'Spain', quick)).toEqual(lists[0]);
    expect(lists.map((l) => l.name)).toEqual(['Spain']);
  });

  it('refuses a name the account already has, naming its list, without creating one', async () => {
    const { session, calls } = account([], [{ id: 'abc', name: 'Spain', contactCount: 3 }]);
    const refused = createListOnce(session, 'Spain', quick);
    await expect(refused).rejects.toThrow(ConflictError);
    await expect(refused).rejects.toThrow(
      /already has a list named "Spain" \(abc\).*--list-id abc/,
    );
    expect(calls.create).toBe(0);
  });

  it('takes the list it made when the answer was lost, and makes no second one', async () => {
    const { session, lists, calls } = account(['after']);
    const list = await createListOnce(session, 'Spain', quick);
    expect(list).toEqual(lists[0]);
    expect(lists).toHaveLength(1);
    expect(calls.create).toBe(1);
  });

  it('says the list may exist when SendGrid stays down after an answer was lost', async () => {
    const { session, lists } = account(Array.from({ length: 20 }, () => 'after' as const));
    // Every attempt after the first finds the list; make the reads fail from then on.
    let reads = 0;
    const original = session.listLists.bind(session);
    session.listLists = () =>
      ++reads === 1
        ? original()
        : Promise.reject(
            new DestinationError('SendGrid failed listing lists with HTTP 503', {
              reason: 'unavailable',
              status: 503,
            }),
          );
    const failed = createListOnce(session, 'Spain', quick);
    await expect(failed).rejects.toThrow(/HTTP 503; SendGrid may have made the list "Spain"/);
    expect(lists).toHaveLength(1);
  });

  it('creates again when the failure struck before the list was made, or was a rate limit', async () => {
    const { session, lists, calls } = account(['before', 'rate_limited', 'before']);
    const list = await createListOnce(session, 'Spain', quick);
    expect(lists).toEqual([list]);
    expect(calls.create).toBe(4);
  });
});
