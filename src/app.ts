import { describeDatabase, type Config } from './config.js';
import { openDatabase, type DatabaseHandle } from './db/connect.js';
import { MetaStore } from './db/meta-store.js';
import { migrateToLatest } from './db/migrate.js';
import { systemClock, type Clock } from './shared/clock.js';
import { InternalError, SegsyncError } from './shared/errors.js';
import { newId } from './shared/ids.js';
import { createLogger, type Logger } from './shared/logger.js';

/**
 * The composition root: config -> database -> stores -> services. The CLI, the API server and the
 * scheduler build one App and call its services; nothing in the domain imports this file.
 */
export interface App {
  config: Config;
  logger: Logger;
  clock: Clock;
  database: DatabaseHandle;
  meta: MetaStore;
  close(): Promise<void>;
}

export interface AppOptions {
  config: Config;
  clock?: Clock;
  logger?: Logger;
  /** Bring the schema up to date at start (the default). `db status` and `db migrate` opt out. */
  migrate?: boolean;
}

/** Opens the database, migrates it unless told not to, and wires the stores and services. */
export async function createApp(options: AppOptions): Promise<App> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const database = openDatabase(config.database);
  try {
    if (options.migrate ?? true) {
      const applied = await migrateToLatest(database.db);
      if (applied.length > 0) logger.info({ applied }, 'database migrated');
    }
  } catch (error) {
    await database.close();
    throw explainDatabaseFailure(error, config);
  }
  const meta = new MetaStore(database.db, clock);
  return {
    config,
    logger,
    clock,
    database,
    meta,
    close: () => database.close(),
  };
}

/** Records the installation's id on its first start and returns it. */
export function installationId(app: App): Promise<string> {
  return app.meta.getOrInit('installation_id', () => newId('inst', app.clock));
}

/** Turns a driver error at start (server down, bad password) into a message naming the setting. */
function explainDatabaseFailure(error: unknown, config: Config): Error {
  if (error instanceof SegsyncError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  const setting = config.database.kind === 'postgres' ? 'DATABASE_URL' : 'SEGSYNC_DATA_DIR';
  return new InternalError(
    `cannot open the database (${describeDatabase(config.database)}, from ${setting}): ${detail}`,
    { cause: error },
  );
}
