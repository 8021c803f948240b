import type { Command } from 'commander';
import { writeDemoProfiles } from '../../profiles/demo-data.js';
import type { CliContext } from '../context.js';
import { parseCount } from '../options.js';
import { resolveUserPath } from './profiles.js';

export function registerDemoDataCommand(program: Command, ctx: CliContext): void {
  program
    .command('demo-data')
    .description(
      'write a realistic CSV of demo customers (Spanish- and English-speaking countries), ' +
        'the same for the same seed',
    )
    .requiredOption('--profiles <n>', 'how many customers', parseCount)
    .requiredOption('--out <file>', 'the CSV file to write')
    .option('--seed <s>', 'seed of the generator (default 1)', parseCount)
    .action(async (options: { profiles: number; out: string; seed?: number }) => {
      const count = await writeDemoProfiles(resolveUserPath(ctx, options.out), {
        profiles: options.profiles,
        seed: options.seed ?? 1,
      });
      ctx.print(`wrote ${count} profiles to ${options.out}`);
    });
}
