import type { Kysely } from 'kysely';

/**
 * The ledger learns which contacts an export found already in its list when it first sent them
 * (`adopted` = 1): someone else added those, so a mirror export never removes them, even once
 * no member maps to them any more. Entries from before are contacts the export added (0).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('export_ledger')
    .addColumn('adopted', 'integer', (col) => col.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('export_ledger').dropColumn('adopted').execute();
}
