import { createApp, type App } from '../app.js';
import { loadConfig, type Config } from '../config.js';

/** What a command needs from the outside world; tests pass their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Environment to read the configuration from; the process environment when absent. */
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  /** Resolves when the user asks the process to stop (SIGINT/SIGTERM). */
  untilStopped(): Promise<void>;
}

export class CliContext {
  private config: Config | undefined;

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

  /** Prints `value` as JSON on stdout, one document per line. */
  printJson(value: unknown): void {
    this.io.stdout(`${JSON.stringify(value)}\n`);
  }

  print(line: string): void {
    this.io.stdout(`${line}\n`);
  }
}
