/**
 * The table types Kysely checks queries against. Conventions on both dialects:
 * - ids are prefixed text (`seg_...`), times are ISO-8601 UTC text (they sort as text),
 * - booleans are integers 0/1 (SQLite has no boolean type; PostgreSQL columns use integer too),
 * - JSON documents are text; `db/dialect.ts` has the few expressions that read inside them.
 */

/** Key-value facts about this installation (its id, when it was first started). */
export interface AppMetaTable {
  key: string;
  value: string;
  updated_at: string;
}

export interface Database {
  app_meta: AppMetaTable;
}
