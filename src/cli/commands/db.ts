import type { Command } from 'commander';
import { installationId } from '../../app.js';
import { describeDatabase } from '../../config.js';
import { migrateToLatest, migrationStatus } from '../../db/migrate.js';
import type { CliContext } from '../context.js';

export function registerDbCommands(program: Command, ctx: CliContext): void {
  const db = program.command('db').description('manage the database schema');

  db.command('migrate')
    .description('apply pending migrations (also done automatically at every start)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }) => {
      await ctx.withApp(
        async (app) => {
          const applied = await migrateToLatest(app.database.db);
          if (options.json) ctx.printJson({ applied });
          else if (applied.length === 0) ctx.print('The database is up to date.');
          else for (const name of applied) ctx.print(`applied ${name}`);
        },
        { migrate: false },
      );
    });

  db.command('status')
    .description('show where the data lives and which migrations are applied')
    .option('--json', 'print the status as JSON')
    .action(async (options: { json?: boolean }) => {
      await ctx.withApp(
        async (app) => {
          const migrations = await migrationStatus(app.database.db);
          const pending = migrations.filter((m) => m.executedAt === undefined).map((m) => m.name);
          // The installation id lives in a migrated table: only read it once the schema exists.
          const id = pending.length === 0 ? await installationId(app) : null;
          const database = describeDatabase(app.config.database);
          if (options.json) {
            ctx.printJson({
              database,
              dialect: app.database.dialect,
              installation_id: id,
              migrations: migrations.map((m) => ({
                name: m.name,
                executed_at: m.executedAt?.toISOString() ?? null,
              })),
              pending,
            });
            return;
          }
          ctx.print(`database: ${database}`);
          if (id) ctx.print(`installation: ${id}`);
          for (const m of migrations) {
            ctx.print(`  ${m.executedAt ? 'applied' : 'pending'}  ${m.name}`);
          }
          ctx.print(
            pending.length === 0
              ? 'up to date'
              : `${pending.length} pending: run \`segsync db migrate\``,
          );
        },
        { migrate: false },
      );
    });
}
