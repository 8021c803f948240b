import { InvalidArgumentError, type Command } from 'commander';
import { readSecretFromEnv } from '../../config.js';
import type { ConnectionView } from '../../connections/connection-service.js';
import { DestinationError, ValidationError } from '../../shared/errors.js';
import { scrubSecrets } from '../../shared/secrets.js';
import type { CliContext } from '../context.js';
import { connectionFlags } from '../flag-names.js';
import { parseCount } from '../options.js';

interface KeyFlags {
  apiKey?: string;
  apiKeyEnv?: string;
  apiKeyStdin?: boolean;
}

/** The API key from --api-key, --api-key-env VAR or standard input, in that order. */
async function readApiKey(
  ctx: CliContext,
  flags: KeyFlags,
  required: boolean,
): Promise<string | undefined> {
  const ways = [flags.apiKey, flags.apiKeyEnv, flags.apiKeyStdin].filter((w) => w !== undefined);
  if (ways.length > 1) {
    throw new ValidationError(
      'give the API key one way only: --api-key, --api-key-env or --api-key-stdin',
      [{ path: 'apiKey', message: 'given more than one way' }],
    );
  }
  if (flags.apiKey) return flags.apiKey;
  if (flags.apiKeyEnv) {
    const key = readSecretFromEnv(flags.apiKeyEnv, ctx.io.env);
    if (!key)
      throw new ValidationError(`--api-key-env: the variable ${flags.apiKeyEnv} is not set`, [
        { path: 'apiKeyEnv', message: 'not set' },
      ]);
    return key;
  }
  if (flags.apiKeyStdin || required) {
    const text = (await ctx.io.readStdin())?.trim();
    if (text) return text;
  }
  if (required) {
    throw new ValidationError(
      'an API key is required: give --api-key KEY, --api-key-env VAR, or pipe it on standard input',
      [{ path: 'apiKey', message: 'required' }],
    );
  }
  return undefined;
}

function parseUrl(value: string): string {
  try {
    return new URL(value).toString().replace(/\/$/, '');
  } catch {
    throw new InvalidArgumentError('expected a URL such as https://api.sendgrid.com.');
  }
}

function printConnection(ctx: CliContext, view: ConnectionView): void {
  ctx.print(`${view.id}  ${view.name}`);
  ctx.print(`  type: ${view.type}   base URL: ${view.base_url}`);
  ctx.print(`  API key: ${view.api_key}`);
  ctx.print(
    `  usable by: ${view.sharing === 'admins' ? 'administrators' : 'administrators and contributors'}`,
  );
  ctx.print(`  limit: ${view.profile_limit} profiles per export`);
  ctx.print(`  privacy consent: ${view.consent.accepted_by} at ${view.consent.accepted_at}`);
  ctx.print(`  exports act as: ${view.export_user}`);
}

export function registerConnectionCommands(program: Command, ctx: CliContext): void {
  const connections = program
    .command('connections')
    .description('connect destination accounts (SendGrid)');

  connections
    .command('add')
    .description('connect a SendGrid account: the key is checked, then stored encrypted')
    .argument('<type>', 'the destination type: sendgrid')
    .requiredOption('--name <name>', 'display name')
    .option(
      '--api-key <key>',
      'the API key (prefer --api-key-env or standard input: keys in shell history leak)',
    )
    .option('--api-key-env <var>', 'read the API key from this environment variable')
    .option('--api-key-stdin', 'read the API key from standard input')
    .option(
      '--base-url <url>',
      'API base URL (default https://api.sendgrid.com; the EU host or a sandbox URL)',
      parseUrl,
    )
    .option(
      '--share-with-contributors',
      'let contributors use it too (default: administrators only)',
    )
    .option('--limit <n>', 'most profiles per export (default 100000)', parseCount)
    .option(
      '--accept-privacy',
      'confirm the data-privacy consent: sending these profiles to SendGrid is allowed',
    )
    .option('--json', 'print the connection as JSON')
    .action(
      async (
        type: string,
        flags: KeyFlags & {
          name: string;
          baseUrl?: string;
          shareWithContributors?: boolean;
          limit?: number;
          acceptPrivacy?: boolean;
          json?: boolean;
        },
      ) => {
        ctx.flagNames = connectionFlags;
        const apiKey = await readApiKey(ctx, flags, true);
        await ctx.withApp(async (app) => {
          const view = await app.connections.add(ctx.actor(), {
            type,
            name: flags.name,
            apiKey: apiKey ?? '',
            baseUrl: flags.baseUrl,
            sharing: flags.shareWithContributors ? 'admins_and_contributors' : 'admins',
            profileLimit: flags.limit,
            acceptPrivacy: (flags.acceptPrivacy ?? false) as true,
          });
          if (flags.json) ctx.printJson(view);
          else ctx.print(view.id);
        });
      },
    );

  connections
    .command('list')
    .description('list connections')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }) => {
      await ctx.withApp(async (app) => {
        const views = await app.connections.list(ctx.actor());
        if (flags.json) return ctx.printJson(views);
        if (views.length === 0)
          return ctx.print('No connections yet: `segsync connections add sendgrid --help`.');
        for (const view of views)
          ctx.print(`${view.id}  ${view.name}  ${view.type}  ${view.api_key}  ${view.base_url}`);
      });
    });

  connections
    .command('show')
    .description('show a connection (the key masked)')
    .argument('<id>')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      await ctx.withApp(async (app) => {
        const view = await app.connections.get(ctx.actor(), id);
        if (flags.json) ctx.printJson(view);
        else printConnection(ctx, view);
      });
    });

  connections
    .command('edit')
    .description(
      'change a connection; a changed key or URL is checked first (sending the mask keeps the key)',
    )
    .argument('<id>')
    .option('--name <name>', 'display name')
    .option('--api-key <key>', 'a new API key')
    .option('--api-key-env <var>', 'read the new API key from this environment variable')
    .option('--api-key-stdin', 'read the new API key from standard input')
    .option('--base-url <url>', 'API base URL', parseUrl)
    .option('--share-with-contributors', 'let contributors use it too')
    .option('--admins-only', 'let only administrators use it')
    .option('--limit <n>', 'most profiles per export', parseCount)
    .option('--json', 'print the connection as JSON')
    .action(
      async (
        id: string,
        flags: KeyFlags & {
          name?: string;
          baseUrl?: string;
          shareWithContributors?: boolean;
          adminsOnly?: boolean;
          limit?: number;
          json?: boolean;
        },
      ) => {
        if (flags.shareWithContributors && flags.adminsOnly) {
          throw new ValidationError(
            'give either --share-with-contributors or --admins-only, not both',
            [{ path: 'sharing', message: 'both given' }],
          );
        }
        ctx.flagNames = connectionFlags;
        const apiKey = await readApiKey(ctx, flags, false);
        await ctx.withApp(async (app) => {
          const view = await app.connections.update(ctx.actor(), id, {
            name: flags.name,
            apiKey,
            baseUrl: flags.baseUrl,
            sharing: flags.shareWithContributors
              ? 'admins_and_contributors'
              : flags.adminsOnly
                ? 'admins'
                : undefined,
            profileLimit: flags.limit,
          });
          if (flags.json) ctx.printJson(view);
          else printConnection(ctx, view);
        });
      },
    );

  connections
    .command('test')
    .description('check the stored key against SendGrid again')
    .argument('<id>')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      await ctx.withApp(async (app) => {
        let result: { scopes: string[] };
        try {
          result = await app.connections.test(ctx.actor(), id);
        } catch (error) {
          // A refused key is the test's answer, not a crash: scripts get it as JSON too (and the
          // exit code says the destination refused).
          if (flags.json && error instanceof DestinationError) {
            ctx.printJson({ ok: false, error: scrubSecrets(error.toJSON()) });
          }
          throw error;
        }
        if (flags.json) ctx.printJson({ ok: true, scopes: result.scopes });
        else
          ctx.print(
            `ok: the key works and has the permissions exports need (${result.scopes.length} scopes)`,
          );
      });
    });

  connections
    .command('remove')
    .description('remove a connection (refused while exports use it: remove or detach them first)')
    .argument('<id>')
    .action(async (id: string) => {
      await ctx.withApp(async (app) => {
        await app.connections.remove(ctx.actor(), id);
        ctx.print(`removed ${id}`);
      });
    });
}
