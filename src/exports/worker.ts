import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Logger } from '../shared/logger.js';
import { toRunView, type RunView } from './export-service.js';
import { isFinal, type RunStatus } from './run-states.js';
import type { RunStore } from './run-store.js';
import type { RunProgress } from './run-execution.js';
import type { ExportRunner } from './runner.js';

/** A worker id names the machine and the process, so a dead local worker is recognised at once. */
export function newWorkerId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/**
 * Whether the worker that owns a run may still be alive: a worker on this machine whose process
 * is gone is dead now; one elsewhere is judged by its heartbeat alone.
 */
export function isWorkerAlive(workerId: string): boolean {
  const [host, pid] = workerId.split(':');
  if (host !== os.hostname() || !pid || !/^\d+$/.test(pid)) return true;
  if (Number(pid) === process.pid) return true;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ExportWorkerDeps {
  runner: ExportRunner;
  runs: RunStore;
  logger: Logger;
  sleep(ms: number): Promise<void>;
  /** A run whose heartbeat is older than this is taken over (its worker is presumed dead). */
  staleAfterMs?: number;
}

/**
 * Executes queued runs, oldest first, and resumes runs whose worker died. Any number of workers
 * (processes) may share one database: claiming a run is atomic.
 */
export class ExportWorker {
  constructor(readonly deps: ExportWorkerDeps) {}

  /**
   * Takes over dead workers' runs, then executes the oldest queued run; false when idle. When
   * `shutdown` is aborted, the run stops after its request in flight and is queued again.
   */
  async runNext(
    onProgress?: (progress: RunProgress) => void,
    shutdown?: AbortSignal,
  ): Promise<boolean> {
    await this.recover();
    const [next] = await this.deps.runs.listRuns({
      statuses: ['queued'],
      limit: 1,
      oldestFirst: true,
    });
    if (!next) return false;
    const done = await this.deps.runner.execute(next.id, onProgress, shutdown);
    if (done && isFinal(done.status as RunStatus)) {
      this.deps.logger.info({ runId: done.id, status: done.status }, 'export run ended');
    }
    return true;
  }

  /**
   * Works until `stopped` resolves, polling for queued runs every `idleMs` when idle. A run in
   * progress then stops after its request in flight, and is queued again for the next worker:
   * stopping takes seconds, not the rest of the run.
   */
  async work(stopped: Promise<void>, idleMs = 1_000): Promise<void> {
    const shutdown = new AbortController();
    void stopped.then(() => shutdown.abort());
    while (!shutdown.signal.aborted) {
      try {
        if (await this.runNext(undefined, shutdown.signal)) continue;
      } catch (error) {
        this.deps.logger.error({ err: error }, 'the export worker hit an error; retrying');
      }
      await Promise.race([this.deps.sleep(idleMs), stopped]);
    }
  }

  async recover(): Promise<string[]> {
    const requeued = await this.deps.runner.requeueStale(
      this.deps.staleAfterMs ?? 120_000,
      isWorkerAlive,
    );
    for (const runId of requeued)
      this.deps.logger.warn({ runId }, 'resuming a run whose worker stopped');
    return requeued;
  }
}

/**
 * Executes the queued run `runId` here, or, when another worker already has it, follows it until
 * it ends. Either way resolves with the ended run.
 */
export async function followRun(
  worker: ExportWorker,
  runId: string,
  onProgress?: (progress: RunProgress) => void,
): Promise<RunView> {
  await worker.recover();
  const done = await worker.deps.runner.execute(runId, onProgress);
  if (done) return toRunView(done);
  for (;;) {
    const run = await worker.deps.runs.findRun(runId);
    if (!run) throw new Error(`run ${runId} vanished`);
    if (isFinal(run.status as RunStatus)) return toRunView(run);
    await worker.deps.sleep(500);
  }
}
