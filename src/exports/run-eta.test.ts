import { describe, expect, it } from 'vitest';
import { RunEta } from './run-eta.js';

describe('RunEta', () => {
  it('knows nothing before any request, then plans at the pace seen', () => {
    const eta = new RunEta(undefined);
    expect(eta.secondsLeft(0, { left: 0, perSecond: 0 })).toBeUndefined();
    expect(eta.secondsLeft(0, { left: 50_000, perSecond: 0 })).toBeUndefined();
    // 50,000 members left at 25,000 a second, no job seen yet: 2 s.
    expect(eta.secondsLeft(1_000, { left: 50_000, perSecond: 25_000 })).toBe(2);
  });

  it('adds the last job to what is left to plan, as long as jobs took on average', () => {
    const eta = new RunEta(undefined);
    eta.acknowledged(1, 1_000);
    eta.acknowledged(2, 2_000);
    eta.settled(1, 4_000); // 3 s
    eta.settled(2, 3_000); // 1 s
    expect(eta.secondsLeft(5_000, { left: 10_000, perSecond: 10_000 })).toBe(1 + 2);
  });

  it('waits on the open jobs side by side once everything is sent, not one after another', () => {
    const eta = new RunEta(undefined);
    for (const [seq, at] of [
      [1, 0],
      [2, 1_000],
      [3, 2_000],
      [4, 3_000],
    ] as const) {
      eta.acknowledged(seq, at);
    }
    eta.settled(1, 4_000); // jobs take 4 s
    // At 4.5 s: job 4, acknowledged at 3 s, ends at about 7 s, and the others before it.
    expect(eta.secondsLeft(4_500, { left: 0, perSecond: 30_000 })).toBe(2.5);
    eta.settled(2, 5_000);
    eta.settled(3, 6_000);
    expect(eta.secondsLeft(6_000, { left: 0, perSecond: 30_000 })).toBe(1);
    // Overdue: no telling.
    expect(eta.secondsLeft(9_000, { left: 0, perSecond: 30_000 })).toBeUndefined();
    eta.settled(4, 9_500);
    expect(eta.secondsLeft(9_500, { left: 0, perSecond: 30_000 })).toBeUndefined();
  });

  it("before any job settled, expects them to take as long as the export's recent jobs", () => {
    const eta = new RunEta(10_000);
    // Sending: 1 s of planning left, then the last job's 10 s.
    expect(eta.secondsLeft(0, { left: 1_000, perSecond: 1_000 })).toBe(11);
    eta.acknowledged(1, 0);
    eta.acknowledged(2, 1_000);
    expect(eta.secondsLeft(3_000, { left: 0, perSecond: 1 })).toBe(8);
    // A job waited on longer than that sets the figure instead.
    expect(eta.secondsLeft(12_000, { left: 0, perSecond: 1 })).toBe(1);
    // Once one settled, this run's own jobs count.
    eta.settled(1, 2_000);
    expect(eta.secondsLeft(2_500, { left: 0, perSecond: 1 })).toBe(0.5);
  });

  it('before any job settled, expects the newer ones to take as long as the oldest has waited', () => {
    const eta = new RunEta(undefined);
    eta.acknowledged(1, 0);
    eta.acknowledged(2, 2_000);
    expect(eta.secondsLeft(3_000, { left: 0, perSecond: 1 })).toBe(2);
    // A job settled twice (a resumed run) or unknown counts once.
    eta.settled(1, 3_000);
    eta.settled(1, 9_000);
    eta.settled(7, 9_000);
    expect(eta.secondsLeft(4_000, { left: 0, perSecond: 1 })).toBe(1);
  });
});
