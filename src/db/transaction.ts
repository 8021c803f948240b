import type { Kysely } from 'kysely';

/**
 * Runs `work` in a transaction: `db`'s own when `db` is a transaction already (a store bound to
 * a caller's transaction joins it), a new one otherwise.
 */
export function inTransaction<DB, T>(
  db: Kysely<DB>,
  work: (trx: Kysely<DB>) => Promise<T>,
): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}
