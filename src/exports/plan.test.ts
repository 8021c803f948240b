import { describe, expect, it } from 'vitest';
import { EmailSet } from './email-set.js';
import { planMembers, planRemovals, type PlannedMember } from './plan.js';

const m = (
  email: string,
  hash: string,
  profileId = email,
  delivered: PlannedMember['delivered'] = null,
): PlannedMember => ({ email, hash, profileId, profileKey: profileId, delivered });

describe('planMembers', () => {
  it('sends new and changed contacts, skips unchanged ones', () => {
    const plan = planMembers(
      [
        m('same@x.com', 'h1', 'p1', { email: 'same@x.com', hash: 'h1' }),
        m('changed@x.com', 'new', 'p2', { email: 'changed@x.com', hash: 'old' }),
        m('new@x.com', 'h3', 'p3'),
      ],
      new Map(),
      new EmailSet(),
      { full: false },
    );
    expect(plan.upsert.map((x) => x.email)).toEqual(['changed@x.com', 'new@x.com']);
    expect(plan.unchanged.map((x) => x.email)).toEqual(['same@x.com']);
    expect(plan.givenUp).toEqual([]);
  });

  it('sends everything when full', () => {
    const plan = planMembers(
      [m('same@x.com', 'h1', 'p1', { email: 'same@x.com', hash: 'h1' })],
      new Map(),
      new EmailSet(),
      { full: true },
    );
    expect(plan.upsert).toHaveLength(1);
  });

  it('sends everything when full, but what this run delivered before an interruption', () => {
    const delivered = { email: 'done@x.com', hash: 'h1' };
    const plan = planMembers(
      [
        m('done@x.com', 'h1', 'p1', delivered),
        m('changed@x.com', 'h2', 'p2', { email: 'changed@x.com', hash: 'old' }),
        m('other@x.com', 'h3', 'p3', { email: 'other@x.com', hash: 'h3' }),
      ],
      new Map(),
      new EmailSet(),
      { full: true, sentBefore: new Set(['done@x.com', 'changed@x.com']) },
    );
    expect(plan.unchanged.map((x) => x.email)).toEqual(['done@x.com']);
    expect(plan.upsert.map((x) => x.email)).toEqual(['changed@x.com', 'other@x.com']);
  });

  it('gives up the contact of a profile whose email changed, and sends the new one', () => {
    const plan = planMembers(
      [m('new@x.com', 'h1', 'p1', { email: 'old@x.com', hash: 'h1' })],
      new Map(),
      new EmailSet(),
      { full: false },
    );
    expect(plan.upsert.map((x) => x.email)).toEqual(['new@x.com']);
    expect(plan.givenUp).toEqual([{ email: 'old@x.com', profileId: 'p1' }]);
  });

  it('keeps one contact per email across batches, the first profile winning', () => {
    const planned = new EmailSet();
    planMembers([m('a@x.com', 'h', 'p1')], new Map(), planned, { full: false });
    const second = planMembers(
      [m('a@x.com', 'h2', 'p2'), m('a@x.com', 'h3', 'p3')],
      new Map(),
      planned,
      { full: false },
    );
    expect(second.upsert).toEqual([]);
    expect(second.duplicates.map((d) => d.profileKey)).toEqual(['p2', 'p3']);
  });

  it('leaves an email to the member the ledger holds it for', () => {
    const held = new Map([['a@x.com', 'p1']]);
    const plan = planMembers(
      [m('a@x.com', 'h2', 'p2'), m('a@x.com', 'h', 'p1', { email: 'a@x.com', hash: 'old' })],
      held,
      new EmailSet(),
      { full: false },
    );
    expect(plan.duplicates.map((d) => d.profileId)).toEqual(['p2']);
    expect(plan.upsert.map((d) => d.profileId)).toEqual(['p1']);
  });
});

describe('planRemovals', () => {
  it('removes leavers in mirror mode only, never an email this run planned', () => {
    const planned = new Set(['claimed@x.com']);
    expect(planRemovals('mirror', ['claimed@x.com', 'left@x.com'], (e) => planned.has(e))).toEqual([
      'left@x.com',
    ]);
    expect(planRemovals('upsert', ['left@x.com'], (e) => planned.has(e))).toEqual([]);
  });
});
