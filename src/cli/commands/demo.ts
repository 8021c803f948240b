import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { App } from '../../app.js';
import { writeDemoProfiles } from '../../profiles/demo-data.js';
import { startSandbox } from '../../sandbox/index.js';
import { ConflictError } from '../../shared/errors.js';
import type { CliContext } from '../context.js';
import { parseCount, parsePort } from '../options.js';
import { exitCodeForRun, printRun, startOrResume, waitForRun } from './exports.js';
import { RunExit } from '../run-exit.js';
import { ExitCode } from '../exit-codes.js';

const CONNECTION_NAME = 'SendGrid sandbox (demo)';
const EXPORT_NAME = 'Demo: Spanish subscribers and high-value customers';
const SANDBOX_KEY = 'SG.sandbox';

/** How the demo CSV's columns (see demo-data) fill SendGrid's reserved fields. */
export const demoMapping = {
  email: 'email',
  fields: {
    first_name: 'first_name',
    last_name: 'last_name',
    country: 'country',
    state_province_region: 'state',
    city: 'city',
    postal_code: 'postal_code',
  },
};

/** The two demo segments: what marketers typically ask for first. */
const demoSegments = [
  {
    name: 'Newsletter subscribers in Spain',
    description: 'Opted in to the newsletter, living in Spain',
    rule: {
      all: [
        { attribute: 'country', operator: 'equals', value: 'Spain' },
        { attribute: 'newsletter_opt_in', operator: 'is_true' },
      ],
    },
  },
  {
    name: 'High-value customers',
    description: 'Spent more than 500 in total',
    rule: { all: [{ attribute: 'total_spend', operator: 'greater_than', value: 500 }] },
  },
];

/** Finds or creates what the demo needs; returns the export id and whether profiles were new. */
async function prepareDemo(
  ctx: CliContext,
  app: App,
  options: { profiles: number; profilesGiven: boolean; sandboxUrl: string },
): Promise<string> {
  const actor = ctx.actor();
  const profiles = await app.profiles.count();
  if (profiles > 0 && options.profilesGiven) {
    ctx.io.stderr(
      `The data folder has ${profiles} profiles already: --profiles applies to an empty data folder only.\n`,
    );
  }
  if (profiles === 0) {
    const file = path.join(app.config.dataDir, 'demo-profiles.csv');
    ctx.io.stderr(`Generating ${options.profiles} demo customer profiles into ${file}...\n`);
    await writeDemoProfiles(file, { profiles: options.profiles, seed: 1 });
    const result = await app.profiles.importFile(file);
    ctx.io.stderr(`Imported ${result.created} profiles.\n`);
  }
  const existing = await app.segments.list();
  const segmentIds: string[] = [];
  for (const definition of demoSegments) {
    const segment =
      existing.find((s) => s.name === definition.name) ?? (await app.segments.create(definition));
    const refreshed = await app.segments.refresh(segment.id);
    ctx.io.stderr(`Segment "${definition.name}": ${refreshed.count} members.\n`);
    segmentIds.push(segment.id);
  }
  // One demo connection, whichever port the sandbox listens on this time: its lists and contacts
  // are in the data folder's sandbox state, so the export carries on there (a delta run).
  const existingConnection = (await app.connections.list(actor)).find(
    (c) => c.name === CONNECTION_NAME,
  );
  const connection = !existingConnection
    ? await app.connections.add(actor, {
        name: CONNECTION_NAME,
        apiKey: SANDBOX_KEY,
        baseUrl: options.sandboxUrl,
        acceptPrivacy: true,
      })
    : existingConnection.base_url === options.sandboxUrl
      ? existingConnection
      : await app.connections.update(actor, existingConnection.id, {
          baseUrl: options.sandboxUrl,
        });
  const found = (await app.exports.list(actor)).find(
    (e) => e.name === EXPORT_NAME && e.connection_id === connection.id,
  );
  if (found) return found.id;
  const { export: created } = await app.exports.add(actor, {
    name: (await app.exports.list(actor)).some((e) => e.name === EXPORT_NAME)
      ? `${EXPORT_NAME} (${connection.id})`
      : EXPORT_NAME,
    connectionId: connection.id,
    createList: 'segsync demo',
    mapping: demoMapping,
    segmentIds,
    mode: 'mirror',
  });
  return created.id;
}

export function registerDemoCommand(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description(
      'see a whole export work: demo profiles, two segments, and an export into a local SendGrid sandbox; run it again for a delta run',
    )
    .option(
      '--profiles <n>',
      'demo profiles to generate on an empty data folder',
      parseCount,
      10_000,
    )
    .option('--sandbox-port <port>', 'port of the built-in SendGrid sandbox', parsePort, 3900)
    .option('--json', 'print the run as JSON')
    .action(
      async (
        flags: { profiles: number; sandboxPort: number; json?: boolean },
        command: Command,
      ) => {
        const code = await ctx.withApp(async (app) => {
          fs.mkdirSync(app.config.dataDir, { recursive: true });
          // The sandbox keeps its contacts in the data folder, so the next demo run finds them
          // and shows a delta run.
          const statePath = path.join(app.config.dataDir, 'sandbox-state.json');
          const sandbox = await startSandbox({
            port: flags.sandboxPort,
            jobDelayMs: 200,
            statePath,
          }).catch((error: unknown) => {
            if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
            throw new ConflictError(
              `port ${flags.sandboxPort} is in use (a sandbox already running?): stop it, or pick another with --sandbox-port N`,
              'port_in_use',
            );
          });
          try {
            const started = Date.now();
            const exportId = await prepareDemo(ctx, app, {
              profiles: flags.profiles,
              profilesGiven: command.getOptionValueSource('profiles') === 'cli',
              sandboxUrl: sandbox.url,
            });
            // A demo interrupted before (Ctrl-C, a kill) left its run behind: resumed here.
            await app.exportWorker.recover();
            const queued = await startOrResume(ctx, app, exportId, { wait: true });
            ctx.io.stderr(`Running export ${exportId} into the sandbox at ${sandbox.url}...\n`);
            const run = await waitForRun(ctx, app, queued.id, '`segsync demo` resumes it');
            const definition = await app.exports.get(ctx.actor(), exportId);
            const list = await fetch(
              `${sandbox.url}/__sandbox/lists/${definition.list_id}/contacts`,
            );
            const contacts = ((await list.json()) as { contacts: unknown[] }).contacts.length;
            if (flags.json) {
              ctx.printJson({ ...run, list_id: definition.list_id, list_contacts: contacts });
            } else {
              printRun(ctx, run, false);
              ctx.print('');
              ctx.print(`The sandbox list ${definition.list_id} now holds ${contacts} contacts.`);
              ctx.print(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
              ctx.print('');
              ctx.print('Next:');
              ctx.print('  segsync demo                       run again: only changes are sent');
              ctx.print(`  segsync runs errors ${run.id}   what was skipped and why`);
              // The demo's sandbox stops with it: a command that talks to SendGrid needs it again.
              ctx.print(
                `  segsync sandbox --port ${flags.sandboxPort} --state ${statePath}   the demo's SendGrid, kept running (stop it before the next demo, which starts its own); then:`,
              );
              ctx.print(`  segsync exports preview ${exportId}`);
              ctx.print(
                '  segsync connections add sendgrid --name "My account" --api-key-env SENDGRID_API_KEY --accept-privacy',
              );
            }
            return exitCodeForRun(run);
          } finally {
            await sandbox.stop();
          }
        });
        if (code !== ExitCode.ok) throw new RunExit(code);
      },
    );
}
