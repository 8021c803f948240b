import { describe, expect, it } from 'vitest';
import { assertTransition, canTransition, isFinal, runStatuses } from './run-states.js';

describe('run lifecycle', () => {
  it('ends in exactly four states', () => {
    expect(runStatuses.filter(isFinal).sort()).toEqual([
      'canceled',
      'failed',
      'partially_succeeded',
      'succeeded',
    ]);
  });

  it('allows the normal path and resumption, refuses leaving an end state', () => {
    expect(canTransition('queued', 'running')).toBe(true);
    expect(canTransition('running', 'waiting_on_destination')).toBe(true);
    expect(canTransition('waiting_on_destination', 'succeeded')).toBe(true);
    expect(canTransition('running', 'queued')).toBe(true);
    expect(canTransition('queued', 'succeeded')).toBe(false);
    expect(() => assertTransition('run_1', 'succeeded', 'running')).toThrow(
      'run run_1 cannot go from succeeded to running',
    );
  });
});
