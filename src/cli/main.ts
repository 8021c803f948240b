import { Command, CommanderError } from 'commander';
import { toSegsyncError } from '../shared/errors.js';
import { redactSecretsInText } from '../shared/secrets.js';
import { version } from '../shared/version.js';
import { registerConnectionCommands } from './commands/connections.js';
import { registerDbCommands } from './commands/db.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerDemoDataCommand } from './commands/demo-data.js';
import { registerExportCommands } from './commands/exports.js';
import { registerProfileCommands } from './commands/profiles.js';
import { registerRunCommands } from './commands/runs.js';
import { registerWorkerCommand } from './commands/worker.js';
import { registerSandboxCommand } from './commands/sandbox.js';
import { registerSegmentCommands } from './commands/segments.js';
import { registerServeCommand } from './commands/serve.js';
import { CliContext, type CliIo } from './context.js';
import { inFlagTerms } from './flag-names.js';
import { ExitCode, exitCodeForError } from './exit-codes.js';
import { RunExit } from './run-exit.js';

/** Builds the command tree. Each area registers its own commands in `cli/commands/`. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('segsync')
    .description('Export segments of customer profiles into SendGrid contact lists.')
    .version(version, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.io.stdout(text),
      // commander quotes a rejected value back (`argument 'SG.…' is invalid`): a key given to
      // the wrong flag must not be printed in clear either.
      writeErr: (text) => ctx.io.stderr(redactSecretsInText(text)),
    })
    .showSuggestionAfterError(true);
  registerDbCommands(program, ctx);
  registerProfileCommands(program, ctx);
  registerSegmentCommands(program, ctx);
  registerDemoDataCommand(program, ctx);
  registerServeCommand(program, ctx);
  registerSandboxCommand(program, ctx);
  registerConnectionCommands(program, ctx);
  registerExportCommands(program, ctx);
  registerRunCommands(program, ctx);
  registerWorkerCommand(program, ctx);
  registerDemoCommand(program, ctx);
  return program;
}

/**
 * Runs the CLI with `argv` (as process.argv: node, script, ...args) and returns the exit code.
 * Usage errors (unknown command, bad flag) print one line and return 2; domain errors print
 * `segsync: <message>` and return the code their kind maps to.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const ctx = new CliContext(io);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv]);
    return ExitCode.ok;
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // commander has already printed its one-line message or the help text. `--help` and
      // `--version` exit 0; `segsync` alone (help on stderr, nothing ran) is a usage error.
      return thrown.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (thrown instanceof RunExit) return thrown.exitCode;
    const error = toSegsyncError(inFlagTerms(thrown, ctx.flagNames));
    io.stderr(`segsync: ${redactSecretsInText(error.message)}\n`);
    return exitCodeForError(error);
  }
}

function processIo(): CliIo {
  // `segsync ... | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(ExitCode.ok);
    throw error;
  });
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stderrIsTTY: process.stderr.isTTY,
    readStdin: async () => {
      if (process.stdin.isTTY) return undefined;
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    untilStopped: () =>
      new Promise((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      }),
    exitOnInterrupt: (last) => {
      const handler = (signal: NodeJS.Signals) => {
        last();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      };
      process.once('SIGINT', handler);
      process.once('SIGTERM', handler);
      return () => {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
      };
    },
  };
}
