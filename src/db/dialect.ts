import { PostgresAdapter, type Kysely } from 'kysely';

/** The SQL dialects segsync runs on. Every dialect difference is decided in `db/`. */
export type SqlDialect = 'sqlite' | 'postgres';

/** Which dialect a Kysely instance speaks (for migrations and the few dialect-specific queries). */
export function dialectOf<DB>(db: Kysely<DB>): SqlDialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}
