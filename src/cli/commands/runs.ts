import type { Command } from 'commander';
import { ValidationError } from '../../shared/errors.js';
import { followRun } from '../../exports/worker.js';
import { PROBLEM_RUNS_KEPT } from '../../exports/runner.js';
import type { CliContext } from '../context.js';
import { printRun, sentCounts } from './exports.js';

/**
 * CSV cell: quoted when it holds a separator, a quote or a line break. A value a spreadsheet
 * would run as a formula (`=HYPERLINK(...)`, `+1`, `-1`, `@SUM`: profile keys and emails come
 * from imported files, and `=1+2@example.com` is a valid address) is written after a `'`, which
 * spreadsheets read as "text follows" and do not show.
 */
export function csvCell(value: string | null): string {
  let text = value ?? '';
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function registerRunCommands(program: Command, ctx: CliContext): void {
  const runs = program.command('runs').description('follow export runs and what they delivered');

  runs
    .command('list')
    .description('recent runs, newest first')
    .option('--export <id>', 'only the runs of this export')
    .option('--json', 'print as JSON')
    .action(async (flags: { export?: string; json?: boolean }) => {
      await ctx.withApp(async (app) => {
        const views = await app.exports.listRuns(ctx.actor(), flags.export);
        if (flags.json) return ctx.printJson(views);
        if (views.length === 0) return ctx.print('No runs yet.');
        for (const view of views) {
          const at = view.started_at ?? view.created_at;
          ctx.print(
            `${view.id}  ${view.export_id}  ${at}  ${view.status}  ${view.trigger}${view.full ? ' --full' : ''}  sent ${view.counts.sent}, removed ${view.counts.removed}, failed ${view.counts.failed}`,
          );
        }
      });
    });

  runs
    .command('show')
    .description('one run: status, counts, requests, error')
    .argument('<id>')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      await ctx.withApp(async (app) => {
        const run = await app.exports.getRun(ctx.actor(), id);
        if (flags.json) return ctx.printJson(run);
        ctx.print(`run       ${run.id}`);
        ctx.print(`export    ${run.export_id}`);
        ctx.print(
          `status    ${run.status}${run.cancel_requested && run.status !== 'canceled' ? ' (cancel requested)' : ''}`,
        );
        ctx.print(`trigger   ${run.trigger}${run.full ? ' (--full: every member sent)' : ''}`);
        ctx.print(`queued    ${run.created_at}`);
        ctx.print(`started   ${run.started_at ?? '-'}`);
        ctx.print(`finished  ${run.finished_at ?? '-'}`);
        ctx.print(`members   ${run.counts.members}`);
        ctx.print(`sent      ${sentCounts(run)}`);
        ctx.print(`requests  ${run.requests}`);
        if (run.error) ctx.print(`error     ${run.error}`);
        if (run.problems_pruned_at) {
          ctx.print(
            `problems  dropped at ${run.problems_pruned_at} (only the latest runs keep theirs)`,
          );
        }
      });
    });

  runs
    .command('cancel')
    .description('cancel a run: a queued one at once, a running one after the request in flight')
    .argument('<id>')
    .option('--json', 'print the run as JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      await ctx.withApp(async (app) => {
        // A run whose process died on this machine is queued again first, so it is canceled at
        // once rather than when a worker next picks it up.
        await app.exportWorker.recover();
        let run = await app.exports.cancelRun(ctx.actor(), id);
        // Still queued: its process died after SendGrid acknowledged requests. Those are settled
        // here (or by the worker that picks the run up first) before it ends canceled.
        const settled = run.status === 'queued';
        if (settled) run = await followRun(app.exportWorker, id);
        printRun(ctx, run, flags.json);
        if (flags.json) return;
        ctx.print(
          settled
            ? `canceled, after settling the requests SendGrid had acknowledged before its process stopped (export ${run.export_id})`
            : run.status === 'canceled'
              ? `canceled at once, as no worker was running it (export ${run.export_id})`
              : `cancel requested: the run of export ${run.export_id} stops after the request in flight, and ends canceled (\`segsync runs show ${run.id}\`)`,
        );
      });
    });

  runs
    .command('errors')
    .description('the contacts a run skipped or SendGrid refused, with reasons (and warnings)')
    .argument('<id>')
    .option('--csv', 'print as CSV: severity, code, profile key, email, reason')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: { csv?: boolean; json?: boolean }) => {
      if (flags.csv && flags.json) {
        throw new ValidationError('give either --csv or --json, not both', [
          { path: 'format', message: 'both given' },
        ]);
      }
      await ctx.withApp(async (app) => {
        const problems = await app.exports.runProblems(ctx.actor(), id);
        const run = await app.exports.getRun(ctx.actor(), id);
        if (run.problems_pruned_at) {
          // Said on stderr in every format: an empty list would read as "no problems".
          ctx.io.stderr(
            `the per-contact problems of run ${id} were dropped at ${run.problems_pruned_at}, as an export keeps those of its latest ${PROBLEM_RUNS_KEPT} runs only; its counts stay (skipped ${run.counts.skipped}, failed ${run.counts.failed}: \`segsync runs show ${id}\`)\n`,
          );
        }
        if (flags.json) {
          return ctx.printJson(
            problems.map((p) => ({
              severity: p.severity,
              code: p.code,
              profile_key: p.profile_key,
              email: p.email,
              reason: p.reason,
            })),
          );
        }
        if (flags.csv) {
          ctx.print('severity,code,profile_key,email,reason');
          for (const p of problems)
            ctx.print(
              [p.severity, p.code, p.profile_key, p.email, p.reason].map(csvCell).join(','),
            );
          return;
        }
        if (problems.length === 0) {
          if (run.problems_pruned_at) return;
          // Only a run that succeeded delivered every member; another may have stopped early.
          if (run.status === 'succeeded')
            return ctx.print('No problems: no member was skipped, and SendGrid refused none.');
          const state =
            run.status === 'canceled'
              ? 'was canceled'
              : run.status === 'failed' || run.status === 'partially_succeeded'
                ? run.status.replace(/_/g, ' ')
                : `is ${run.status.replace(/_/g, ' ')}`;
          const why = run.error ? `: ${run.error}` : '';
          return ctx.print(`No problems recorded for single contacts, but the run ${state}${why}.`);
        }
        for (const p of problems)
          ctx.print(`${p.severity}  ${p.profile_key ?? '-'}  ${p.email ?? '-'}  ${p.reason}`);
      });
    });
}
