import { Migrator, type Kysely, type MigrationProvider } from 'kysely';
import { InternalError } from '../shared/errors.js';
import { migrations } from './migrations/index.js';

const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };

function migratorFor<DB>(db: Kysely<DB>): Migrator {
  return new Migrator({
    db,
    provider,
    migrationTableName: 'segsync_migration',
    migrationLockTableName: 'segsync_migration_lock',
  });
}

/** One migration and when it ran (undefined: pending). */
export interface MigrationState {
  name: string;
  executedAt: Date | undefined;
}

/**
 * Brings the schema to the latest migration and returns the names it applied. Safe to call from
 * many processes at once: Kysely serialises migrators with a lock row.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<string[]> {
  const { error, results } = await migratorFor(db).migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === 'Error');
    const detail = error instanceof Error ? error.message : JSON.stringify(error);
    throw new InternalError(
      `database migration ${failed ? `${failed.migrationName} ` : ''}failed: ${detail}`,
      { cause: error },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Every known migration with the time it was applied, in order. */
export async function migrationStatus<DB>(db: Kysely<DB>): Promise<MigrationState[]> {
  const infos = await migratorFor(db).getMigrations();
  return infos.map((info) => ({ name: info.name, executedAt: info.executedAt }));
}
