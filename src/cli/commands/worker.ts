import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** What stopping a worker (or `serve`) does to the run it executes. */
export const stoppingNotice =
  'stopping: a run in progress stops after its request in flight and is queued again, for the next worker to resume (Ctrl-C again stops at once, which loses nothing either)\n';

export function registerWorkerCommand(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description(
      'execute queued export runs (and resume interrupted ones) until stopped with Ctrl-C',
    )
    .action(async () => {
      await ctx.withApp(async (app) => {
        ctx.io.stderr(`segsync worker ${app.workerId} started\n`);
        const stopped = ctx.io.untilStopped();
        void stopped.then(() => ctx.io.stderr(stoppingNotice));
        await app.exportWorker.work(stopped);
      });
    });
}
