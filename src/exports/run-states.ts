import { ConflictError } from '../shared/errors.js';

/**
 * The lifecycle of an export run. A run is queued, then running (planning, sending) and
 * waiting_on_destination while SendGrid works through its jobs; it ends succeeded,
 * partially_succeeded (some contacts failed, each with a reason), failed or canceled.
 * A running run may go back to queued when its worker dies, so another worker resumes it.
 */
export const runTransitions = {
  queued: ['running', 'canceled'],
  running: [
    'waiting_on_destination',
    'succeeded',
    'partially_succeeded',
    'failed',
    'canceled',
    'queued',
  ],
  waiting_on_destination: [
    'running',
    'succeeded',
    'partially_succeeded',
    'failed',
    'canceled',
    'queued',
  ],
  succeeded: [],
  partially_succeeded: [],
  failed: [],
  canceled: [],
} as const satisfies Record<string, readonly string[]>;

export type RunStatus = keyof typeof runTransitions;
export const runStatuses = Object.keys(runTransitions) as RunStatus[];
/** The statuses of a run that has not ended. */
export const activeStatuses = runStatuses.filter((status) => runTransitions[status].length > 0);
/** The statuses of a run that has ended. */
export const finalStatuses = runStatuses.filter((status) => runTransitions[status].length === 0);

/** Whether a run in `status` has ended (no transition leaves it). */
export function isFinal(status: RunStatus): boolean {
  return runTransitions[status].length === 0;
}

export function canTransition(from: RunStatus, to: RunStatus): boolean {
  return (runTransitions[from] as readonly RunStatus[]).includes(to);
}

/** Throws a ConflictError unless the lifecycle allows `from` -> `to`; every update checks this. */
export function assertTransition(runId: string, from: RunStatus, to: RunStatus): void {
  if (!canTransition(from, to)) {
    throw new ConflictError(`run ${runId} cannot go from ${from} to ${to}`, 'run_state_conflict');
  }
}
