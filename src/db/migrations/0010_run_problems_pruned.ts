import type { Kysely } from 'kysely';

/**
 * A run records when its per-contact problems were dropped (`problems_pruned_at`): an export
 * keeps those of its latest runs only (RunStore.pruneProblems), as a run of an export with tens
 * of thousands of invalid emails records each of them again, at every scheduled run. The run's
 * counters stay; `runs errors` says the list is gone rather than that there was none.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('export_runs').addColumn('problems_pruned_at', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('export_runs').dropColumn('problems_pruned_at').execute();
}
