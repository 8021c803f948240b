import { Command, CommanderError } from 'commander';
import { toSegsyncError } from '../shared/errors.js';
import { redactSecretsInText } from '../shared/secrets.js';
import { version } from '../shared/version.js';
import { registerDbCommands } from './commands/db.js';
import { registerServeCommand } from './commands/serve.js';
import { CliContext, type CliIo } from './context.js';
import { ExitCode, exitCodeForError } from './exit-codes.js';

/** Builds the command tree. Each area registers its own commands in `cli/commands/`. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('segsync')
    .description('Export segments of customer profiles into SendGrid contact lists.')
    .version(version, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.io.stdout(text),
      writeErr: (text) => ctx.io.stderr(text),
    })
    .showSuggestionAfterError(true);
  registerDbCommands(program, ctx);
  registerServeCommand(program, ctx);
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
    const error = toSegsyncError(thrown);
    io.stderr(`segsync: ${redactSecretsInText(error.message)}\n`);
    return exitCodeForError(error);
  }
}

/** Thrown by a command that finished but must exit with a non-zero code (a failed run, say). */
export class RunExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
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
    untilStopped: () =>
      new Promise((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      }),
  };
}
