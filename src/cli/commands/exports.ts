import { InvalidArgumentError, type Command } from 'commander';
import type { App } from '../../app.js';
import { ConflictError, ValidationError } from '../../shared/errors.js';
import { reservedFieldNames, type ExportInput } from '../../exports/export-definition.js';
import type { ExportView, RunView } from '../../exports/export-service.js';
import type { CliContext } from '../context.js';
import { exportFlags } from '../flag-names.js';
import { ExitCode } from '../exit-codes.js';
import { RunExit } from '../run-exit.js';
import { collect } from '../options.js';
import { runProgressReporter } from '../progress.js';
import { followRun } from '../../exports/worker.js';

type Mapping = ExportInput['mapping'];

/** Parses the `--map` flags (`email=ATTR`, `first_name=ATTR`, `custom:FIELD=ATTR`). */
export function parseMappings(values: readonly string[]): Mapping {
  const mapping: {
    email: string;
    fields: Record<string, string>;
    customFields: Record<string, string>;
  } = {
    email: '',
    fields: {},
    customFields: {},
  };
  const mapped = new Set<string>();
  for (const value of values) {
    const match = /^([^=]+)=(.+)$/.exec(value);
    if (!match?.[1] || !match[2]) throw badMap(value, 'expected FIELD=ATTRIBUTE');
    const [, field, attribute] = match;
    const custom = field.startsWith('custom:') && field.length > 7 ? field.slice(7) : undefined;
    // A field filled twice is a mistake to point out, not a tie for the last flag to win; custom
    // field names are SendGrid's, the same whatever their case.
    const key = custom === undefined ? field : `custom:${custom.toLowerCase()}`;
    if (mapped.has(key)) throw badMap(value, `${field} is mapped more than once`);
    mapped.add(key);
    if (field === 'email') mapping.email = attribute;
    else if (custom === '__proto__')
      throw badMap(value, 'a field named __proto__ cannot be mapped');
    else if (custom !== undefined) mapping.customFields[custom] = attribute;
    else if ((reservedFieldNames as readonly string[]).includes(field))
      mapping.fields[field] = attribute;
    else {
      throw badMap(
        value,
        `unknown field "${field}" (expected email, ${reservedFieldNames.join(', ')} or custom:NAME)`,
      );
    }
  }
  return mapping;
}

// `--map` is read inside the command (it needs all of them at once), so its errors are ours to
// report: a ValidationError prints and exits 2 like a bad flag.
function badMap(value: string, message: string): ValidationError {
  return new ValidationError(`--map ${value}: ${message}`, [{ path: 'map', message }]);
}

function parseMode(value: string): 'upsert' | 'mirror' {
  if (value !== 'upsert' && value !== 'mirror')
    throw new InvalidArgumentError('expected upsert or mirror.');
  return value;
}

function printExport(ctx: CliContext, view: ExportView): void {
  ctx.print(`${view.id}  ${view.name}${view.detached ? '  (detached)' : ''}`);
  ctx.print(`  connection: ${view.connection_id ?? '-'}   list: ${view.list_id}`);
  ctx.print(`  segments: ${view.segment_ids.join(', ')}`);
  ctx.print(`  mode: ${view.mode}   schedule: ${view.schedule}`);
  const fields = Object.entries(view.mapping.fields).map(([f, a]) => `${f}=${a}`);
  const custom = view.mapping.customFields.map((c) => `custom:${c.name}=${c.attribute}`);
  ctx.print(
    `  fields: email=${view.mapping.email}${[...fields, ...custom].map((f) => `, ${f}`).join('')}`,
  );
}

/** One line per run, or its JSON. */
export function printRun(ctx: CliContext, run: RunView, json: boolean | undefined): void {
  if (json) return ctx.printJson(run);
  ctx.print(
    `${run.id}  ${run.status}  ${run.trigger}  members ${run.counts.members}, sent ${sentCounts(run)}, ${run.requests} requests`,
  );
  if (run.error) ctx.print(`  error: ${run.error}`);
}

/** What a run did with the contacts it planned, after "sent", as `printRun` and `runs show` say it. */
export function sentCounts(run: RunView): string {
  const c = run.counts;
  return `${c.sent} (created ${c.created}, updated ${c.updated}), unchanged ${c.unchanged}, skipped ${c.skipped}, removed ${c.removed}, failed ${c.failed}`;
}

/** The exit code of an ended run: 0 succeeded, 3 some contacts failed, 1 otherwise. */
export function exitCodeForRun(run: RunView): number {
  if (run.status === 'succeeded') return ExitCode.ok;
  if (run.status === 'partially_succeeded') return ExitCode.partial;
  return ExitCode.failure;
}

/**
 * Queues a run of the export; with `--wait`, a run of it already queued (one whose worker
 * stopped, say) is resumed instead, since a second cannot start before it ends.
 */
export async function startOrResume(
  ctx: CliContext,
  app: App,
  id: string,
  flags: { wait?: boolean; full?: boolean },
): Promise<RunView> {
  try {
    return await app.exports.startRun(ctx.actor(), id, { trigger: 'manual', full: flags.full });
  } catch (error) {
    if (!flags.wait || !(error instanceof ConflictError) || error.code !== 'run_in_progress')
      throw error;
    const active = await app.exports.activeRun(ctx.actor(), id);
    if (active?.status !== 'queued') throw error;
    ctx.io.stderr(`resuming run ${active.id} of this export, queued before this one\n`);
    return active;
  }
}

/**
 * Executes (or follows, if a worker has it) a run with progress on stderr, returning its end.
 * Ctrl-C ends the process at once, as a kill would (the run's checkpoints make that safe), after
 * saying where the run stands and `resume`: how to resume it.
 */
export async function waitForRun(
  ctx: CliContext,
  app: App,
  runId: string,
  resume: string,
): Promise<RunView> {
  const reporter = runProgressReporter(ctx.io);
  const release = ctx.io.exitOnInterrupt(() => {
    reporter.stop();
    ctx.io.stderr(
      `\ninterrupted: run ${runId} stopped where it was, and nothing it recorded is lost; ${resume}, \`segsync runs cancel ${runId}\` cancels it\n`,
    );
  });
  try {
    return await followRun(app.exportWorker, runId, (progress) => reporter.update(progress));
  } finally {
    release();
    reporter.stop();
  }
}

export function registerExportCommands(program: Command, ctx: CliContext): void {
  const exports = program
    .command('exports')
    .description('define and run exports of segments into SendGrid lists');

  exports
    .command('add')
    .description('define an export (saving does not run it)')
    .requiredOption('--name <name>', 'name')
    .requiredOption('--connection <id>', 'the connection to send through')
    .option('--list-id <uuid>', 'the SendGrid list to fill (checked: it must exist)')
    .option('--create-list <name>', 'create a new SendGrid list with this name instead')
    .option(
      '--map <field=attribute>',
      'data matching: email=ATTR (required), first_name, last_name, country, state_province_region, city, postal_code, custom:FIELD_NAME; repeatable',
      collect,
      [],
    )
    .option('--segment <id>', 'a segment to send; repeatable', collect, [])
    .option(
      '--mode <mode>',
      'upsert (add and update) or mirror (also remove those who left)',
      parseMode,
      'upsert',
    )
    .option(
      '--schedule <when>',
      'refresh (with every scheduled refresh), none, or "cron:EXPR@TZ"',
      'refresh',
    )
    .option('--json', 'print the export as JSON')
    .action(
      async (flags: {
        name: string;
        connection: string;
        listId?: string;
        createList?: string;
        map: string[];
        segment: string[];
        mode: 'upsert' | 'mirror';
        schedule: string;
        json?: boolean;
      }) => {
        ctx.flagNames = exportFlags;
        const mapping = parseMappings(flags.map);
        await ctx.withApp(async (app) => {
          const { export: view, warnings } = await app.exports.add(ctx.actor(), {
            name: flags.name,
            connectionId: flags.connection,
            listId: flags.listId,
            createList: flags.createList,
            mapping,
            segmentIds: flags.segment,
            mode: flags.mode,
            schedule: flags.schedule,
          });
          for (const warning of warnings) ctx.io.stderr(`warning: ${warning}\n`);
          if (flags.json) ctx.printJson({ ...view, warnings });
          else ctx.print(view.id);
        });
      },
    );

  exports
    .command('list')
    .description('list exports')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }) => {
      await ctx.withApp(async (app) => {
        const views = await app.exports.list(ctx.actor());
        if (flags.json) return ctx.printJson(views);
        if (views.length === 0) return ctx.print('No exports yet: `segsync exports add --help`.');
        for (const v of views)
          ctx.print(
            `${v.id}  ${v.name}  ${v.mode}  list ${v.list_id}${v.detached ? '  (detached)' : ''}`,
          );
      });
    });

  exports
    .command('show')
    .description('show an export')
    .argument('<id>')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      await ctx.withApp(async (app) => {
        const view = await app.exports.get(ctx.actor(), id);
        if (flags.json) ctx.printJson(view);
        else printExport(ctx, view);
      });
    });

  exports
    .command('edit')
    .description('change an export (a new list starts its delivery record afresh)')
    .argument('<id>')
    .option('--name <name>', 'name')
    .option('--connection <id>', 'the connection (also re-attaches a detached export)')
    .option('--list-id <uuid>', 'the SendGrid list')
    .option('--map <field=attribute>', 'the whole data matching again; repeatable', collect)
    .option('--segment <id>', 'the segments again; repeatable', collect)
    .option('--mode <mode>', 'upsert or mirror', parseMode)
    .option('--schedule <when>', 'refresh, none, or "cron:EXPR@TZ"')
    .option('--json', 'print the export as JSON')
    .action(
      async (
        id: string,
        flags: {
          name?: string;
          connection?: string;
          listId?: string;
          map?: string[];
          segment?: string[];
          mode?: 'upsert' | 'mirror';
          schedule?: string;
          json?: boolean;
        },
      ) => {
        ctx.flagNames = exportFlags;
        await ctx.withApp(async (app) => {
          const { export: view, warnings } = await app.exports.edit(ctx.actor(), id, {
            name: flags.name,
            connectionId: flags.connection,
            listId: flags.listId,
            mapping: flags.map ? parseMappings(flags.map) : undefined,
            segmentIds: flags.segment,
            mode: flags.mode,
            schedule: flags.schedule,
          });
          for (const warning of warnings) ctx.io.stderr(`warning: ${warning}\n`);
          if (flags.json) ctx.printJson({ ...view, warnings });
          else printExport(ctx, view);
        });
      },
    );

  exports
    .command('duplicate')
    .description('copy an export under a new name (without its history)')
    .argument('<id>')
    .option('--name <name>', 'name of the copy (default: "NAME (copy)")')
    .option('--json', 'print the copy as JSON')
    .action(async (id: string, flags: { name?: string; json?: boolean }) => {
      await ctx.withApp(async (app) => {
        const view = await app.exports.duplicate(ctx.actor(), id, flags.name);
        if (flags.json) ctx.printJson(view);
        else ctx.print(view.id);
      });
    });

  exports
    .command('detach')
    .description(
      'detach an export from its connection: it keeps its configuration and does not run',
    )
    .argument('<id>')
    .action(async (id: string) => {
      await ctx.withApp(async (app) => {
        await app.exports.detach(ctx.actor(), id);
        ctx.print(`detached ${id}`);
      });
    });

  exports
    .command('remove')
    .description('remove an export and its history (the contacts stay in the SendGrid list)')
    .argument('<id>')
    .action(async (id: string) => {
      await ctx.withApp(async (app) => {
        await app.exports.remove(ctx.actor(), id);
        ctx.print(`removed ${id}`);
      });
    });

  exports
    .command('preview')
    .description('a dry run: what a run would send, keep, remove and skip; nothing is written')
    .argument('<id>')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      await ctx.withApp(async (app) => {
        const preview = await app.exports.preview(ctx.actor(), id);
        if (flags.json) return ctx.printJson(preview);
        ctx.print(`members: ${preview.members}`);
        ctx.print(`would create or update: ${preview.would_upsert}`);
        ctx.print(`unchanged: ${preview.unchanged}`);
        ctx.print(`would remove: ${preview.would_remove}`);
        ctx.print(
          `skipped: ${preview.skipped}${Object.entries(preview.skipped_by_reason)
            .map(([r, n]) => `, ${r} ${n}`)
            .join('')}`,
        );
        ctx.print(`sample payload: ${JSON.stringify(preview.sample.slice(0, 3))}`);
        if (preview.would_fail) ctx.print(`a run now would fail: ${preview.would_fail}`);
      });
    });

  exports
    .command('run')
    .description(
      'queue a run (a worker or `serve` executes it); --wait runs it here and follows it',
    )
    .argument('<id>')
    .option(
      '--wait',
      'execute and follow the run; exit 0 succeeded, 1 failed, 3 some contacts failed',
    )
    .option('--full', 'send every member, not only new and changed ones')
    .option('--json', 'print the run as JSON')
    .action(async (id: string, flags: { wait?: boolean; full?: boolean; json?: boolean }) => {
      const code = await ctx.withApp(async (app) => {
        // Runs whose process died on this machine go back to the queue first.
        await app.exportWorker.recover();
        const queued = await startOrResume(ctx, app, id, flags);
        if (!flags.wait) {
          printRun(ctx, queued, flags.json);
          ctx.io.stderr(
            `queued: \`segsync worker\` or \`segsync serve\` executes it; \`segsync runs show ${queued.id}\` follows it\n`,
          );
          return ExitCode.ok;
        }
        const run = await waitForRun(
          ctx,
          app,
          queued.id,
          `\`segsync exports run ${id} --wait\` resumes it (so does \`segsync worker\`)`,
        );
        printRun(ctx, run, flags.json);
        return exitCodeForRun(run);
      });
      if (code !== ExitCode.ok) throw new RunExit(code);
    });
}
