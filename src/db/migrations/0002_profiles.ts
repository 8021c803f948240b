import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../dialect.js';

/**
 * Unified profiles and their attribute catalog. A profile is one row with its attributes in one
 * JSON document: imports write one row per customer, and segment rules read attributes with the
 * dialect's JSON access (db/dialect.ts), so a new attribute never needs a schema change.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const dialect = dialectOf(db);
  await db.schema
    .createTable('profile_attributes')
    .addColumn('name', 'text', (col) => col.primaryKey())
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('is_key', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (col) => col.notNull())
    .execute();
  await db.schema
    .createTable('profiles')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('key', 'text', (col) => col.notNull().unique())
    // jsonb on PostgreSQL: attributes are read inside the document by every segment rule.
    .addColumn('attributes', dialect === 'postgres' ? sql`jsonb` : 'text', (col) => col.notNull())
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('profiles').execute();
  await db.schema.dropTable('profile_attributes').execute();
}
