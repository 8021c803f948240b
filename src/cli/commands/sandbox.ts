import { InvalidArgumentError, type Command } from 'commander';
import { parseRateLimit, startSandbox, type RateLimit } from '../../sandbox/index.js';
import { collect, parseCount, parsePort } from '../options.js';
import type { CliContext } from '../context.js';

interface SandboxFlags {
  port: number;
  host: string;
  apiKey?: string[];
  scopes?: string[];
  jobDelayMs?: number;
  latencyMs?: number;
  fault429?: number;
  fault5xx?: number;
  faultReset?: number;
  seed?: number;
  rateLimit?: RateLimit;
  contactCap?: number;
  state?: string;
}

function parseRate(value: string): number {
  const rate = Number(value);
  if (!/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(value) || rate < 0 || rate > 1) {
    throw new InvalidArgumentError('expected a share from 0 to 1, such as 0.05.');
  }
  return rate;
}

function parseRateLimitFlag(value: string): RateLimit {
  const limit = parseRateLimit(value);
  if (!limit) throw new InvalidArgumentError('expected N/SECONDS, such as 100/1 or 600/60.');
  return limit;
}

function parseSeed(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}

const splitScopes = (value: string) =>
  value
    .split(',')
    .map((scope) => scope.trim())
    .filter((scope) => scope !== '');

export function registerSandboxCommand(program: Command, ctx: CliContext): void {
  program
    .command('sandbox')
    .description(
      'start a local SendGrid-compatible server (Marketing Campaigns contacts and lists) for ' +
        'demos and tests, until stopped with Ctrl-C',
    )
    .option('--port <port>', 'port to listen on (0 picks a free one)', parsePort, 3900)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--api-key <key>',
      'an accepted API key; repeat for more (default: SG.sandbox)',
      collect,
    )
    .option(
      '--scopes <scopes>',
      'comma-separated scopes of the keys (default: marketing.read,marketing.write)',
      splitScopes,
    )
    .option('--job-delay-ms <ms>', 'how long import jobs stay pending (default: 500)', parseCount)
    .option('--latency-ms <ms>', 'latency added to every response (default: 0)', parseCount)
    .option('--fault-429 <rate>', 'share of requests answered with a random 429', parseRate)
    .option('--fault-5xx <rate>', 'share of requests answered with a 500 or 503', parseRate)
    .option('--fault-reset <rate>', 'share of requests whose connection is dropped', parseRate)
    .option('--seed <n>', 'seed of the fault generator, to reproduce a run (default: 1)', parseSeed)
    .option(
      '--rate-limit <n/seconds>',
      'requests per key and endpoint per window (default: 1000/1)',
      parseRateLimitFlag,
    )
    .option(
      '--contact-cap <n>',
      'most contacts the account may hold; imports past it fail',
      parseCount,
    )
    .option('--state <file>', 'save contacts and lists to FILE and restore them on start')
    .action(async (flags: SandboxFlags) => {
      const sandbox = await startSandbox({
        port: flags.port,
        host: flags.host,
        apiKeys: flags.apiKey,
        scopes: flags.scopes,
        jobDelayMs: flags.jobDelayMs,
        latencyMs: flags.latencyMs,
        fault429: flags.fault429,
        fault5xx: flags.fault5xx,
        faultReset: flags.faultReset,
        seed: flags.seed,
        rateLimit: flags.rateLimit,
        contactCap: flags.contactCap,
        statePath: flags.state,
      });
      ctx.print(`SendGrid sandbox listening on ${sandbox.url}`);
      await ctx.io.untilStopped();
      await sandbox.stop();
    });
}
