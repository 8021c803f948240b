import type { Command } from 'commander';
import type { Segment } from '../../segments/segment-store.js';
import { ValidationError } from '../../shared/errors.js';
import type { CliContext } from '../context.js';
import { readJsonFile } from './profiles.js';

/** A `--rule` value: JSON text, or `@FILE` naming a JSON file. */
function readRule(ctx: CliContext, value: string): unknown {
  if (value.startsWith('@')) return readJsonFile(ctx, value.slice(1), '--rule');
  try {
    return JSON.parse(value) as unknown;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ValidationError(`--rule: not valid JSON (${detail}); give JSON or @FILE`, [
      { path: '--rule', message: 'not valid JSON' },
    ]);
  }
}

function segmentJson(segment: Segment) {
  return {
    id: segment.id,
    name: segment.name,
    description: segment.description,
    rule: segment.rule,
    created_at: segment.createdAt,
    updated_at: segment.updatedAt,
    member_count: segment.memberCount,
    refreshed_at: segment.refreshedAt,
    refresh_ms: segment.refreshMs,
  };
}

export function registerSegmentCommands(program: Command, ctx: CliContext): void {
  const segments = program.command('segments').description('define, preview and refresh segments');

  segments
    .command('create')
    .description(
      'create a segment from a rule such as {"all":[{"attribute":"country","operator":"equals","value":"Spain"}]}',
    )
    .requiredOption('--name <name>', 'a unique name')
    .requiredOption('--rule <json|@file>', 'the rule as JSON, or @FILE to read it from a file')
    .option('--description <text>', 'what the segment is for')
    .option('--json', 'print the created segment as JSON')
    .action(
      async (options: { name: string; rule: string; description?: string; json?: boolean }) => {
        const rule = readRule(ctx, options.rule);
        const segment = await ctx.withApp((app) =>
          app.segments.create({ name: options.name, description: options.description, rule }),
        );
        if (options.json) ctx.printJson(segmentJson(segment));
        else ctx.print(segment.id);
      },
    );

  segments
    .command('edit')
    .description(
      "change a segment's name, description or rule (its members stay as last refreshed until the next refresh)",
    )
    .argument('<id>', 'the segment id (seg_...)')
    .option('--name <name>', 'a new unique name')
    .option('--rule <json|@file>', 'a new rule as JSON, or @FILE to read it from a file')
    .option('--description <text>', 'a new description')
    .option('--json', 'print the segment as JSON')
    .action(
      async (
        id: string,
        options: { name?: string; rule?: string; description?: string; json?: boolean },
      ) => {
        const rule = options.rule === undefined ? undefined : readRule(ctx, options.rule);
        const segment = await ctx.withApp((app) =>
          app.segments.update(id, {
            ...(options.name === undefined ? {} : { name: options.name }),
            ...(options.description === undefined ? {} : { description: options.description }),
            ...(rule === undefined ? {} : { rule }),
          }),
        );
        if (options.json) ctx.printJson(segmentJson(segment));
        else ctx.print(segment.id);
      },
    );

  segments
    .command('list')
    .description('list the segments with their last refresh')
    .option('--json', 'print the segments as a JSON array')
    .action(async (options: { json?: boolean }) => {
      const list = await ctx.withApp((app) => app.segments.list());
      if (options.json) {
        ctx.printJson(list.map(segmentJson));
        return;
      }
      if (list.length === 0)
        ctx.print('no segments yet: create one with `segsync segments create`');
      for (const s of list) {
        const members =
          s.memberCount === null
            ? 'never refreshed'
            : `${s.memberCount} members at ${s.refreshedAt}`;
        ctx.print(`${s.id}  ${s.name}  (${members})`);
      }
    });

  segments
    .command('show')
    .description('show a segment: its rule, last refresh and count history')
    .argument('<id>', 'the segment id (seg_...)')
    .option('--json', 'print the segment and its history as JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const { segment, history } = await ctx.withApp(async (app) => ({
        segment: await app.segments.get(id),
        history: await app.segments.history(id, 20),
      }));
      if (options.json) {
        ctx.printJson({
          ...segmentJson(segment),
          history: history.map((h) => ({
            refreshed_at: h.refreshedAt,
            member_count: h.memberCount,
            duration_ms: h.durationMs,
          })),
        });
        return;
      }
      ctx.print(`${segment.id}  ${segment.name}`);
      if (segment.description) ctx.print(`  ${segment.description}`);
      ctx.print(`  rule: ${JSON.stringify(segment.rule)}`);
      ctx.print(
        segment.memberCount === null
          ? '  never refreshed'
          : `  ${segment.memberCount} members at ${segment.refreshedAt} (${segment.refreshMs} ms)`,
      );
      if (history.length > 0) ctx.print('  history:');
      for (const h of history)
        ctx.print(`    ${h.refreshedAt}  ${h.memberCount}  (${h.durationMs} ms)`);
    });

  segments
    .command('preview')
    .description('count the profiles a rule matches now and show a sample of 100, saving nothing')
    .requiredOption('--rule <json|@file>', 'the rule as JSON, or @FILE to read it from a file')
    .option('--json', 'print {"count":N,"sample":[...]}')
    .action(async (options: { rule: string; json?: boolean }) => {
      const rule = readRule(ctx, options.rule);
      const preview = await ctx.withApp((app) => app.segments.preview(rule));
      if (options.json) {
        ctx.printJson(preview);
        return;
      }
      ctx.print(`${preview.count} profiles match`);
      for (const member of preview.sample) ctx.print(`  ${member.key}`);
    });

  segments
    .command('refresh')
    .description('recompute the membership of one segment, or of all with --all')
    .argument('[id]', 'the segment id (seg_...)')
    .option('--all', 'refresh every segment')
    .option('--json', 'print {"id":...,"count":N} per segment, one per line')
    .action(async (id: string | undefined, options: { all?: boolean; json?: boolean }) => {
      if (Boolean(id) === Boolean(options.all)) {
        throw new ValidationError('give a segment id or --all (not both)', [
          { path: 'id', message: 'expected a segment id or --all' },
        ]);
      }
      await ctx.withApp(async (app) => {
        const ids = id ? [id] : (await app.segments.list()).map((s) => s.id);
        for (const segmentId of ids) {
          // Printed as each finishes, so a long --all shows progress.
          const result = await app.segments.refresh(segmentId);
          if (options.json) ctx.printJson({ id: result.id, count: result.count });
          else ctx.print(`${result.id}: ${result.count} members (${result.durationMs} ms)`);
        }
      });
    });

  segments
    .command('delete')
    .description('delete a segment (refused while an export or another segment uses it)')
    .argument('<id>', 'the segment id (seg_...)')
    .option('--json', 'print {"deleted":ID}')
    .action(async (id: string, options: { json?: boolean }) => {
      await ctx.withApp((app) => app.segments.delete(id));
      if (options.json) ctx.printJson({ deleted: id });
      else ctx.print(`deleted ${id}`);
    });
}
