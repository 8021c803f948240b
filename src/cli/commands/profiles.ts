import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { Attribute, Profile } from '../../profiles/attributes.js';
import { importFormats, type ImportFormat } from '../../profiles/import.js';
import { parseAttributeSchema } from '../../profiles/service.js';
import { ValidationError } from '../../shared/errors.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { parseCount } from '../options.js';
import { RunExit } from '../run-exit.js';

function parseFormat(value: string): ImportFormat {
  if (!(importFormats as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected ${importFormats.join(' or ')}.`);
  }
  return value as ImportFormat;
}

/** A path as the user meant it: relative to the folder the command runs in. */
export function resolveUserPath(ctx: CliContext, file: string): string {
  return path.resolve(ctx.io.cwd ?? process.cwd(), file);
}

/** Reads and parses a JSON file the user named, saying which option it came from when bad. */
export function readJsonFile(ctx: CliContext, file: string, option: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(resolveUserPath(ctx, file), 'utf8');
  } catch {
    throw new ValidationError(`${option}: cannot read ${file}`, [
      { path: option, message: `cannot read ${file}` },
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ValidationError(`${option}: ${file} is not valid JSON (${detail})`, [
      { path: option, message: 'not valid JSON' },
    ]);
  }
}

/** A profile as `--json` prints it: snake_case, as every other command's JSON. */
function profileJson(profile: Profile) {
  return {
    id: profile.id,
    key: profile.key,
    attributes: profile.attributes,
    created_at: profile.createdAt,
    updated_at: profile.updatedAt,
  };
}

function attributeJson(attribute: Attribute) {
  return { name: attribute.name, type: attribute.type, is_key: attribute.isKey };
}

function printProfile(ctx: CliContext, profile: Profile): void {
  ctx.print(`${profile.key}  (${profile.id})`);
  for (const [name, value] of Object.entries(profile.attributes).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    ctx.print(`  ${name}: ${String(value)}`);
  }
  ctx.print(`  created ${profile.createdAt}, updated ${profile.updatedAt}`);
}

export function registerProfileCommands(program: Command, ctx: CliContext): void {
  const profiles = program.command('profiles').description('import and look up customer profiles');

  profiles
    .command('import')
    .description(
      'import profiles from a CSV (header row, "," or ";") or JSON Lines file, merging by key; ' +
        'the file is imported whole or, when malformed, not at all',
    )
    .argument('<file>', 'the file to import')
    .option(
      '--format <format>',
      'csv or jsonl (default: from the file name, else csv)',
      parseFormat,
    )
    .option('--key <attribute>', 'the attribute profiles are unified on (default: email)')
    .option('--schema <file>', 'JSON file declaring attribute types: {"total_spend":"number",...}')
    .option('--empty-clears', 'an empty value erases the stored one (default: it is ignored)')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        file: string,
        options: {
          format?: ImportFormat;
          key?: string;
          schema?: string;
          emptyClears?: boolean;
          json?: boolean;
        },
      ) => {
        const format =
          options.format ?? (/\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : ('csv' as const));
        const schema = options.schema
          ? parseAttributeSchema(readJsonFile(ctx, options.schema, '--schema'))
          : undefined;
        const result = await ctx.withApp((app) =>
          app.profiles.importFile(resolveUserPath(ctx, file), {
            format,
            key: options.key,
            schema,
            emptyClears: options.emptyClears ?? false,
          }),
        );
        if (options.json) {
          ctx.printJson(result);
        } else {
          ctx.print(
            `${file}: ${result.created} created, ${result.updated} updated, ${result.unchanged} unchanged, ${result.rejected} rejected`,
          );
          for (const error of result.errors) ctx.print(`  line ${error.line}: ${error.message}`);
          if (result.rejected > result.errors.length) {
            ctx.print(`  ... and ${result.rejected - result.errors.length} more rejected rows`);
          }
        }
        // Some rows rejected: the good ones are in, but the file did not import cleanly.
        if (result.rejected > 0) throw new RunExit(ExitCode.partial);
      },
    );

  profiles
    .command('count')
    .description('print how many profiles there are')
    .option('--json', 'print {"count":N}')
    .action(async (options: { json?: boolean }) => {
      const count = await ctx.withApp((app) => app.profiles.count());
      if (options.json) ctx.printJson({ count });
      else ctx.print(String(count));
    });

  profiles
    .command('show')
    .description('show the profile with this key (matched as imported: trimmed, lower-cased)')
    .argument('<key>', 'the key value, an email address by default')
    .option('--json', 'print the profile as JSON')
    .action(async (key: string, options: { json?: boolean }) => {
      const profile = await ctx.withApp((app) => app.profiles.get(key));
      if (options.json) ctx.printJson(profileJson(profile));
      else printProfile(ctx, profile);
    });

  profiles
    .command('search')
    .description('list profiles whose key or any value contains TEXT (ignoring case)')
    .argument('<text>', 'the text to look for')
    .option('--limit <n>', 'at most this many profiles (default 20)', parseCount)
    .option('--json', 'print the profiles as JSON, one per line')
    .action(async (text: string, options: { limit?: number; json?: boolean }) => {
      const found = await ctx.withApp((app) => app.profiles.search(text, options.limit ?? 20));
      if (options.json) {
        for (const profile of found) ctx.printJson(profileJson(profile));
        return;
      }
      if (found.length === 0) ctx.print('no profiles found');
      for (const profile of found) printProfile(ctx, profile);
    });

  profiles
    .command('attributes')
    .description('list the attribute catalog: each attribute with its type')
    .option('--json', 'print the catalog as JSON')
    .action(async (options: { json?: boolean }) => {
      const attributes = await ctx.withApp((app) => app.profiles.attributes());
      if (options.json) {
        ctx.printJson(attributes.map(attributeJson));
        return;
      }
      for (const a of attributes) ctx.print(`${a.name}  ${a.type}${a.isKey ? '  (key)' : ''}`);
    });
}
