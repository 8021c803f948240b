import type { Kysely } from 'kysely';

/**
 * Every profile's id with its version, in an index of their own: a delta run compares each
 * member's version with what the export's ledger saw, and reads it here without touching the
 * profile's row (a tenth of the bytes); only the members that changed are then read whole.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('profiles_version_idx')
    .on('profiles')
    .columns(['id', 'updated_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('profiles_version_idx').execute();
}
