import { sql, type Kysely } from 'kysely';

/**
 * The ledger learns which profile each delivered contact came from, and which version of it.
 * - `profile_id`: the profile the contact was built from; null once no profile maps to it any
 *   more (its email changed, or it predates this migration). A mirror export removes those.
 * - `seen`: the profile's `updated_at` when the delivered payload was built from it, so a run
 *   reads only members that are new or changed since (the index below), instead of rebuilding
 *   every contact to compare hashes. Null means "check again" (a changed mapping, say).
 * - `exports.ledger_settings`: the fingerprint of the settings (list, mapping) the ledger's
 *   payloads were built with; a run with other settings marks every entry to be checked again.
 * - What a request carried moves to `run_batch_contacts`, apart from the batch's status: settling
 *   a job then updates a small row instead of rewriting megabytes, and a run that ended drops
 *   what its requests carried (the ledger and the problems keep what matters), so the database
 *   does not grow by the size of every export at every run.
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

  await db.schema
    .createTable('run_batch_contacts')
    .addColumn('run_id', 'text', (col) => col.notNull())
    .addColumn('seq', 'integer', (col) => col.notNull())
    // JSON: [[email, hash, profile key, profile id, profile version], ...] for an upsert,
    // [[email, contact id], ...] for a removal.
    .addColumn('contacts', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('run_batch_contacts_pk', ['run_id', 'seq'])
    .addForeignKeyConstraint(
      'run_batch_contacts_batch_fk',
      ['run_id', 'seq'],
      'run_batches',
      ['run_id', 'seq'],
      (fk) => fk.onDelete('cascade'),
    )
    .execute();
  await sql`insert into run_batch_contacts (run_id, seq, contacts)
    select run_id, seq, contacts from run_batches`.execute(db);
  await db.schema.alterTable('run_batches').dropColumn('contacts').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('run_batches')
    .addColumn('contacts', 'text', (col) => col.notNull().defaultTo('[]'))
    .execute();
  await sql`update run_batches set contacts = coalesce((select c.contacts from run_batch_contacts c
    where c.run_id = run_batches.run_id and c.seq = run_batches.seq), '[]')`.execute(db);
  await db.schema.dropTable('run_batch_contacts').execute();
  await db.schema.alterTable('exports').dropColumn('ledger_settings').execute();
  await db.schema.dropIndex('export_ledger_profile_idx').execute();
  await db.schema.alterTable('export_ledger').dropColumn('seen').execute();
  await db.schema.alterTable('export_ledger').dropColumn('profile_id').execute();
}
