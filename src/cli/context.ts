import os from 'node:os';
import { createApp, type App } from '../app.js';
import type { Actor } from '../auth/permissions.js';
import { loadConfig, type Config } from '../config.js';
import type { FlagNames } from './flag-names.js';

/** What a command needs from the outside world; tests pass their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Environment to read the configuration from; the process environment when absent. */
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  /** Resolves when the user asks the process to stop (SIGINT/SIGTERM). */
  untilStopped(): Promise<void>;
  /**
   * Until the returned function is called, SIGINT and SIGTERM call `last` and then end the
   * process at once, with the signal's exit code (130, 143), as the signal alone would have.
   */
  exitOnInterrupt(last: () => void): () => void;
  /** All of standard input, or undefined when it is a terminal (nothing was piped in). */
  readStdin(): Promise<string | undefined>;
  /** Whether stderr is a terminal (progress bars draw only there). */
  stderrIsTTY: boolean;
}

export class CliContext {
  private config: Config | undefined;
  /** The running command's flags by service field, for its validation messages (flag-names.ts). */
  flagNames: FlagNames = {};

  constructor(readonly io: CliIo) {}

  /** The configuration, read on first use so `--help` works even with a bad environment. */
  getConfig(): Config {
    this.config ??= this.io.env ? loadConfig(this.io.env, this.io.cwd) : loadConfig();
    return this.config;
  }

  /** Runs `work` with an open App, closing it afterwards whatever happens. */
  async withApp<T>(
    work: (app: App) => Promise<T>,
    options: { migrate?: boolean } = {},
  ): Promise<T> {
    const app = await createApp({ config: this.getConfig(), ...options });
    try {
      return await work(app);
    } finally {
      await app.close();
    }
  }

  /**
   * Who acts at the CLI: the operator of this machine, an administrator (the CLI has the data
   * folder or the database URL, so it has everything anyway).
   */
  actor(): Actor {
    const name = os.userInfo().username;
    return { id: `local:${name}`, name, role: 'admin' };
  }

  /** Prints `value` as JSON on stdout, one document per line. */
  printJson(value: unknown): void {
    this.io.stdout(`${JSON.stringify(value)}\n`);
  }

  print(line: string): void {
    this.io.stdout(`${line}\n`);
  }
}
