import type { Kysely } from 'kysely';

/**
 * A run's batch records when SendGrid acknowledged its request (`acknowledged_at`). With the time
 * it settled (`updated_at`), that says how long SendGrid's jobs take, which the next runs' ETA
 * starts from. Batches from before have none.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('run_batches').addColumn('acknowledged_at', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('run_batches').dropColumn('acknowledged_at').execute();
}
