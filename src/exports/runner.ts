import { DestinationError, InternalError, toSegsyncError } from '../shared/errors.js';
import { redactSecretsInText } from '../shared/secrets.js';
import { defaultRetryPolicy, type RetryPolicy } from '../shared/retry-policy.js';
import {
  RunCanceled,
  RunExecution,
  RunFailure,
  RunInterrupted,
  RunTakenOver,
  type RunnerDeps,
  type RunProgress,
} from './run-execution.js';
import type { RunStatus } from './run-states.js';
import type { RunRow } from './run-store.js';

/**
 * How many of an export's latest ended runs keep their per-contact problems (`runs errors`);
 * older runs keep their counters only (hourly runs keep about the last day's).
 */
export const PROBLEM_RUNS_KEPT = 25;

/**
 * Executes export runs. Members stream in batches: each is mapped and validated, deduplicated by
 * normalised email, and planned against the export's ledger; new and changed contacts fill
 * requests of the most contacts the destination allows, sent one at a time while planning goes
 * on. Every acknowledged request is checkpointed with its job id and contacts (run_batches); jobs
 * are polled to their final status and only what the destination confirmed enters the ledger.
 * A run resumed after a crash settles its acknowledged jobs first, so none is sent again, then
 * plans what is left against the ledger: no contact is lost.
 */
export class ExportRunner {
  private readonly policy: RetryPolicy;
  private readonly poll: { initial: number; max: number };

  constructor(private readonly deps: RunnerDeps) {
    this.policy = deps.retryPolicy ?? defaultRetryPolicy;
    // A job is polled as soon as its request is acknowledged, while the run goes on: small jobs
    // finish within tens of milliseconds, large ones in seconds to minutes, so the waits start
    // short and double.
    this.poll = deps.pollIntervalMs ?? { initial: 50, max: 5_000 };
  }

  /**
   * Claims the queued run `runId` and executes it to an end. Returns undefined when another
   * worker claimed it first, or took it over meanwhile (this one taken for dead). Never throws
   * for problems of the run itself: they end the run. When `shutdown` is aborted (the worker
   * is stopping) the run stops after the request in flight and goes back to the queue: the run
   * returned is then queued again, for the next worker to resume.
   */
  async execute(
    runId: string,
    onProgress?: (progress: RunProgress) => void,
    shutdown?: AbortSignal,
  ): Promise<RunRow | undefined> {
    const now = this.now();
    const claimed = await this.deps.runs.transition(runId, 'queued', 'running', {
      worker: this.deps.workerId,
      heartbeat_at: now,
      updated_at: now,
    });
    if (!claimed) return undefined;
    const run = await this.mustFindRun(runId);
    if (!run.started_at) await this.deps.runs.update(runId, { started_at: now });
    const execution = new RunExecution(
      this.deps,
      this.policy,
      this.poll,
      run,
      onProgress,
      shutdown,
    );
    let status: RunStatus = 'succeeded';
    let error: string | null = null;
    let interrupted = false;
    try {
      await execution.execute();
    } catch (thrown) {
      // An interrupted run leaves its open requests and jobs to the worker that resumes it.
      const settle = !(thrown instanceof RunTakenOver) && !(thrown instanceof RunInterrupted);
      if (settle) await execution.settleAfterStop();
      if (thrown instanceof RunTakenOver) {
        // Handled below: the run is another worker's now.
      } else if (thrown instanceof RunInterrupted) {
        interrupted = true;
      } else if (thrown instanceof RunCanceled) {
        status = 'canceled';
      } else {
        status = 'failed';
        const message =
          thrown instanceof RunFailure ? thrown.message : toSegsyncError(thrown).message;
        error = redactSecretsInText(message);
        if (!(thrown instanceof RunFailure) && !(thrown instanceof DestinationError)) {
          this.deps.logger.error({ err: thrown, runId }, 'export run failed unexpectedly');
        }
      }
    }
    const current = await this.mustFindRun(runId);
    if (current.worker !== this.deps.workerId) {
      // Taken for dead and given to another worker meanwhile: the run is that worker's now.
      this.deps.logger.warn(
        { runId, worker: current.worker },
        'export run taken over by another worker (this one was taken for dead); it stopped here',
      );
      return undefined;
    }
    if (interrupted) return this.requeue(current);
    // A cancel asked for after the last check (the run had sent everything, say) still counts:
    // `runs cancel` said it was taken. A run that failed on its own stays failed.
    if (current.cancel_requested === 1 && status !== 'failed') status = 'canceled';
    const failed = await this.deps.runs.countProblems(runId, 'failed');
    if (status === 'succeeded' && (failed > 0 || current.error)) {
      // Partial success means some contacts got through: when every contact the run sent
      // failed (an account's contact cap, say), it delivered nothing, and that is a failure.
      const delivered = current.created + current.updated + current.removed;
      if (failed > 0 && delivered === 0) {
        status = 'failed';
        error ??=
          current.error ??
          (current.sent > 0
            ? `SendGrid took none of the ${failed} contacts this run sent; see \`segsync runs errors ${runId}\``
            : `the run changed nothing in SendGrid, and ${failed} contacts failed; see \`segsync runs errors ${runId}\``);
      } else {
        status = 'partially_succeeded';
      }
    }
    const finishedAt = this.now();
    const ending = {
      failed,
      error: error ?? current.error,
      finished_at: finishedAt,
      updated_at: finishedAt,
    };
    const { workerId } = this.deps;
    const from = current.status as RunStatus;
    // A success ends so only if no cancel arrived since `current` was read: else canceled.
    const succeeding = status === 'succeeded' || status === 'partially_succeeded';
    const ended =
      (await this.deps.runs.transition(runId, from, status, ending, workerId, succeeding)) ||
      (succeeding && (await this.deps.runs.transition(runId, from, 'canceled', ending, workerId)));
    if (!ended) {
      this.deps.logger.warn({ runId }, 'export run changed hands while it ended');
      return undefined;
    }
    await this.deps.runs.dropBatchContacts(runId);
    const kept = this.deps.problemRunsKept ?? PROBLEM_RUNS_KEPT;
    await this.deps.runs.pruneProblems(current.export_id, kept, finishedAt);
    const final = await this.mustFindRun(runId);
    onProgress?.(execution.progress(final, 'done'));
    return final;
  }

  /** Puts a run this worker stops executing back in the queue, and returns it. */
  private async requeue(run: RunRow): Promise<RunRow | undefined> {
    const moved = await this.deps.runs.transition(
      run.id,
      run.status as RunStatus,
      'queued',
      { worker: null, updated_at: this.now() },
      this.deps.workerId,
    );
    if (!moved) {
      this.deps.logger.warn({ runId: run.id }, 'export run changed hands while it stopped');
      return undefined;
    }
    this.deps.logger.info(
      { runId: run.id },
      'export run stopped with its worker and queued again; the next worker resumes it',
    );
    return this.mustFindRun(run.id);
  }

  /** Puts runs whose worker stopped (dead process, stale heartbeat) back in the queue. */
  async requeueStale(
    staleAfterMs: number,
    isWorkerAlive: (worker: string) => boolean,
  ): Promise<string[]> {
    const active = await this.deps.runs.listRuns({
      statuses: ['running', 'waiting_on_destination'],
      limit: 1000,
    });
    const limit = this.deps.clock.now().getTime() - staleAfterMs;
    const requeued: string[] = [];
    for (const run of active) {
      const beat = run.heartbeat_at ? Date.parse(run.heartbeat_at) : 0;
      const dead =
        run.worker !== null && run.worker !== this.deps.workerId && !isWorkerAlive(run.worker);
      if (beat < limit || dead) {
        const moved = await this.deps.runs.transition(run.id, run.status as RunStatus, 'queued', {
          worker: null,
          updated_at: this.now(),
        });
        if (moved) requeued.push(run.id);
      }
    }
    return requeued;
  }

  private now(): string {
    return this.deps.clock.now().toISOString();
  }

  private async mustFindRun(runId: string): Promise<RunRow> {
    const run = await this.deps.runs.findRun(runId);
    if (!run) throw new InternalError(`run ${runId} vanished`);
    return run;
  }
}
