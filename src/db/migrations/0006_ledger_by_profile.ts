import type { Kysely } from 'kysely';

/**
 * The ledger learns which profile each delivered contact came from, and which version of it.
 * - `profile_id`: the profile the contact was built from; null once no profile maps to it any
 *   more (its email changed, or it predates this migration). A mirror export removes those.
 * - `seen`: the profile's `updated_at` when the delivered payload was built from it, so a run
 *   reads only members that are new or changed since (the index below), instead of rebuilding
 *   every contact to compare hashes. Null means "check again" (a changed mapping, say).
 * - `exports.ledger_settings`: the fingerprint of the settings (list, mapping) the ledger's
 *   payloads were built with; a run with other settings marks every entry to be checked again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('export_ledger').addColumn('profile_id', 'text').execute();
  await db.schema.alterTable('export_ledger').addColumn('seen', 'text').execute();
  await db.schema
    .createIndex('export_ledger_profile_idx')
    .on('export_ledger')
    .columns(['export_id', 'profile_id', 'seen'])
    .execute();
  await db.schema.alterTable('exports').addColumn('ledger_settings', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('exports').dropColumn('ledger_settings').execute();
  await db.schema.dropIndex('export_ledger_profile_idx').execute();
  await db.schema.alterTable('export_ledger').dropColumn('seen').execute();
  await db.schema.alterTable('export_ledger').dropColumn('profile_id').execute();
}
