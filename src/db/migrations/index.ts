import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.js';

/**
 * Every migration, in order. They run on SQLite and PostgreSQL alike; a migration that needs a
 * dialect-specific statement asks `dialectOf(db)`. Names never change once released.
 */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
};
