import type { Kysely } from 'kysely';

/**
 * Destination connections. The API key is stored only sealed (AES-256-GCM, connections/
 * secret-box.ts) next to its mask; `settings` holds the non-secret settings as JSON text.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('connections')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('sharing', 'text', (col) => col.notNull())
    .addColumn('settings', 'text', (col) => col.notNull())
    .addColumn('secret_sealed', 'text', (col) => col.notNull())
    .addColumn('secret_mask', 'text', (col) => col.notNull())
    .addColumn('profile_limit', 'integer', (col) => col.notNull())
    .addColumn('consent_by', 'text', (col) => col.notNull())
    .addColumn('consent_at', 'text', (col) => col.notNull())
    .addColumn('export_user', 'text', (col) => col.notNull())
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .execute();
  await db.schema
    .createIndex('connections_name')
    .on('connections')
    .column('name')
    .unique()
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('connections').execute();
}
