import type { Command } from 'commander';
import { installationId } from '../../app.js';
import { startServer } from '../../api/server.js';
import { parsePort } from '../options.js';
import type { CliContext } from '../context.js';

export function registerServeCommand(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('start the segsync server (REST API) until stopped with Ctrl-C')
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
        await ctx.io.untilStopped();
        await server.close();
      });
    });
}
