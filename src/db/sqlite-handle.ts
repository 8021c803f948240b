import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';

// Kysely prepares every statement anew; a bulk write of a million rows wants one prepared
// statement run a million times, which only the driver's own handle offers.
const handles = new WeakMap<Kysely<never>, BetterSqlite3.Database>();

/** Records the better-sqlite3 connection behind an SQLite Kysely instance (openDatabase does). */
export function rememberSqliteHandle<DB>(db: Kysely<DB>, sqlite: BetterSqlite3.Database): void {
  handles.set(db as unknown as Kysely<never>, sqlite);
}

/**
 * The better-sqlite3 connection behind `db`, for bulk writes with a reused prepared statement;
 * undefined on PostgreSQL (and for a transaction object: ask with the root instance). Statements
 * run on it join whatever transaction Kysely has open on that one connection.
 */
export function sqliteHandleOf<DB>(db: Kysely<DB>): BetterSqlite3.Database | undefined {
  return handles.get(db as unknown as Kysely<never>);
}
