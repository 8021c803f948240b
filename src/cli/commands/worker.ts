import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerWorkerCommand(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description(
      'execute queued export runs (and resume interrupted ones) until stopped with Ctrl-C',
    )
    .action(async () => {
      await ctx.withApp(async (app) => {
        ctx.io.stderr(`segsync worker ${app.workerId} started\n`);
        await app.exportWorker.work(ctx.io.untilStopped());
      });
    });
}
