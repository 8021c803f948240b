import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.js';
import * as m0002 from './0002_profiles.js';
import * as m0003 from './0003_segments.js';
import * as m0004 from './0004_connections.js';
import * as m0005 from './0005_exports.js';
import * as m0006 from './0006_ledger_by_profile.js';
import * as m0007 from './0007_profile_versions.js';
import * as m0008 from './0008_ledger_adopted.js';
import * as m0009 from './0009_batch_acknowledged_at.js';
import * as m0010 from './0010_run_problems_pruned.js';

/**
 * Every migration, in order. They run on SQLite and PostgreSQL alike; a migration that needs a
 * dialect-specific statement asks `dialectOf(db)`. Names never change once released.
 */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_profiles': m0002,
  '0003_segments': m0003,
  '0004_connections': m0004,
  '0005_exports': m0005,
  '0006_ledger_by_profile': m0006,
  '0007_profile_versions': m0007,
  '0008_ledger_adopted': m0008,
  '0009_batch_acknowledged_at': m0009,
  '0010_run_problems_pruned': m0010,
};
