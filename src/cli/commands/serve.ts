import type { Command } from 'commander';
import { installationId } from '../../app.js';
import { startServer } from '../../api/server.js';
import { parsePort } from '../options.js';
import type { CliContext } from '../context.js';
import { stoppingNotice } from './worker.js';

export function registerServeCommand(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description(
      'start the segsync server (REST API) and an export worker, until stopped with Ctrl-C',
    )
    .option('--port <port>', 'port to listen on (default: PORT or 3000)', parsePort)
    .option('--host <host>', 'address to listen on (default: HOST or 127.0.0.1)')
    .action(async (options: { port?: number; host?: string }) => {
      await ctx.withApp(async (app) => {
        await installationId(app);
        const server = await startServer(app, {
          host: options.host ?? app.config.host,
          port: options.port ?? app.config.port,
        });
        ctx.print(`segsync listening on ${server.url}`);
        const stopped = ctx.io.untilStopped();
        void stopped.then(() => ctx.io.stderr(stoppingNotice));
        // The server executes queued export runs too (and resumes interrupted ones), so one
        // process is a whole installation; more workers may join with `segsync worker`.
        await app.exportWorker.work(stopped);
        await server.close();
      });
    });
}
