import { describe, expect, it } from 'vitest';
import { planMembers, planRemovals } from './plan.js';

const m = (email: string, hash: string, profileKey = email) => ({ email, hash, profileKey });

describe('planMembers', () => {
  it('sends new and changed contacts, skips unchanged ones', () => {
    const delivered = new Map([
      ['same@x.com', 'h1'],
      ['changed@x.com', 'old'],
    ]);
    const plan = planMembers(
      [m('same@x.com', 'h1'), m('changed@x.com', 'new'), m('new@x.com', 'h3')],
      delivered,
      new Set(),
      {
        full: false,
      },
    );
    expect(plan.upsert.map((x) => x.email)).toEqual(['changed@x.com', 'new@x.com']);
    expect(plan.unchanged.map((x) => x.email)).toEqual(['same@x.com']);
  });

  it('sends everything when full', () => {
    const plan = planMembers([m('same@x.com', 'h1')], new Map([['same@x.com', 'h1']]), new Set(), {
      full: true,
    });
    expect(plan.upsert).toHaveLength(1);
  });

  it('keeps one contact per email across batches, the first profile winning', () => {
    const planned = new Set<string>();
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
});

describe('planRemovals', () => {
  it('removes leavers in mirror mode only', () => {
    const members = new Set(['stay@x.com']);
    expect(planRemovals('mirror', ['stay@x.com', 'left@x.com'], (e) => members.has(e))).toEqual([
      'left@x.com',
    ]);
    expect(planRemovals('upsert', ['stay@x.com', 'left@x.com'], (e) => members.has(e))).toEqual([]);
  });
});
