import { describeDatabase, type Config } from './config.js';
import { ConnectionService } from './connections/connection-service.js';
import { ConnectionStore } from './connections/connection-store.js';
import { loadOrCreateMasterKey, SecretBox } from './connections/secret-box.js';
import { destinations } from './destinations/registry.js';
import { ExportService, type ExportSources } from './exports/export-service.js';
import { ExportStore } from './exports/export-store.js';
import { ExportRunner } from './exports/runner.js';
import { LedgerStore } from './exports/ledger-store.js';
import { MemberStore } from './exports/member-store.js';
import { RunStore } from './exports/run-store.js';
import { ExportWorker, newWorkerId } from './exports/worker.js';
import { ProfileStore } from './profiles/profile-store.js';
import { ProfileService } from './profiles/service.js';
import { SegmentStore } from './segments/segment-store.js';
import { SegmentService } from './segments/service.js';
import { openDatabase, type DatabaseHandle } from './db/connect.js';
import { MetaStore } from './db/meta-store.js';
import { migrateToLatest } from './db/migrate.js';
import { systemClock, type Clock } from './shared/clock.js';
import { ConfigError, InternalError, SegsyncError } from './shared/errors.js';
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
  /** Unified profiles: import, count, look up, search. */
  profiles: ProfileService;
  /** Segments: define, preview, refresh, and the member stream exports read. */
  segments: SegmentService;
  connections: ConnectionService;
  exports: ExportService;
  /** Executes queued export runs; the CLI's `--wait`, `worker` and `serve` drive it. */
  exportWorker: ExportWorker;
  /** This process's worker id (host:pid:random), recorded on the runs it executes. */
  workerId: string;
  close(): Promise<void>;
}

export interface AppOptions {
  config: Config;
  clock?: Clock;
  logger?: Logger;
  /** Bring the schema up to date at start (the default). `db status` and `db migrate` opt out. */
  migrate?: boolean;
  /** How destinations reach the network (tests wrap it to check every request). */
  fetch?: typeof fetch;
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
  const { db } = database;
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

  const connectionStore = new ConnectionStore(db);
  const exportStore = new ExportStore(db);
  const runStore = new RunStore(db);
  const ledgerStore = new LedgerStore(db);
  const segmentStore = new SegmentStore(db);
  const memberStore = new MemberStore(db, segmentStore);
  const profileStore = new ProfileStore(db);
  const profiles = new ProfileService(profileStore, clock);
  // A segment an export uses cannot be deleted; the refusal names the exports.
  const segments = new SegmentService(segmentStore, profileStore, clock, {
    segmentUsers: (id) => exportStore.usersOfSegment(id),
  });

  let box: SecretBox;
  try {
    box = new SecretBox(loadOrCreateMasterKey(config.masterKey, config.dataDir));
    if (options.migrate ?? true) await checkMasterKey(meta, box, connectionStore);
  } catch (error) {
    // Closed before the error is reported: PostgreSQL's idle connections would otherwise keep
    // the process alive for their idle timeout (about ten seconds) after the message.
    await database.close();
    throw error;
  }
  const connections = new ConnectionService({
    store: connectionStore,
    box,
    destinations,
    fetch: options.fetch ?? globalThis.fetch,
    clock,
    connectionUsers: (id) => exportStore.usersOfConnection(id),
  });
  const sources: ExportSources = {
    countMembers: (ids) => memberStore.countMembers(ids),
    unrefreshedSegments: (ids) => memberStore.unrefreshedSegments(ids),
    iterateMembers: (ids, options) => memberStore.iterateMembers(ids, options),
    missingSegments: (ids) => memberStore.missingSegments(ids),
    attributeTypes: async () =>
      new Map((await profileStore.attributes()).map((a) => [a.name, a.type] as const)),
  };
  const exports = new ExportService({
    exports: exportStore,
    runs: runStore,
    ledger: ledgerStore,
    connections,
    sources,
    clock,
  });
  const workerId = newWorkerId();
  const runner = new ExportRunner({
    runs: runStore,
    ledger: ledgerStore,
    members: sources,
    loadSettings: (run) => exports.settingsForRun(run),
    openDestination: async (settings) => {
      const actor = await exports.exportUser(settings.connectionId);
      const { destination, session } = await connections.openSession(actor, settings.connectionId);
      return { destination, session };
    },
    clock,
    logger,
    sleep,
    random: Math.random,
    workerId,
  });
  const exportWorker = new ExportWorker({ runner, runs: runStore, logger, sleep });

  return {
    config,
    logger,
    clock,
    database,
    meta,
    profiles,
    segments,
    connections,
    exports,
    exportWorker,
    workerId,
    close: () => database.close(),
  };
}

/**
 * Stops a start with a different master key than the one that encrypted the stored secrets (a
 * lost master.key, a wrong SEGSYNC_MASTER_KEY), instead of failing later at the first export.
 */
async function checkMasterKey(
  meta: MetaStore,
  box: SecretBox,
  connections: ConnectionStore,
): Promise<void> {
  const fingerprint = box.fingerprint();
  const stored = await meta.getOrInit('master_key_fingerprint', () => fingerprint);
  if (stored === fingerprint) return;
  if ((await connections.list()).length > 0) {
    throw new ConfigError(
      'the master key (SEGSYNC_MASTER_KEY, or master.key in the data folder) is not the one that encrypted the stored API keys: restore it, or remove and re-add the connections',
      [{ path: 'SEGSYNC_MASTER_KEY', message: 'does not match the stored secrets' }],
    );
  }
  await meta.set('master_key_fingerprint', fingerprint);
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
