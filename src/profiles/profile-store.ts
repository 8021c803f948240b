import type BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import {
  dialectOf,
  jsonDocumentChanged,
  jsonDocumentText,
  jsonNullsOnlyDifference,
  jsonValueTexts,
  lowerAscii,
  mergeJsonDocuments,
  textContains,
} from '../db/dialect.js';
import type { Database } from '../db/schema.js';
import { sqliteHandleOf } from '../db/sqlite-handle.js';
import {
  asciiLowerCase,
  type Attribute,
  type AttributeType,
  type AttributeValue,
  type Profile,
} from './attributes.js';

/** A profile row to insert, or to merge into the stored profile with the same key. */
export interface ProfileUpsert {
  /** The id a new profile gets; ignored when the key already exists. */
  id: string;
  key: string;
  /**
   * The values to set, as JSON object text (`{"country":"Spain","total_spend":12.5}`); a `null`
   * erases a stored value (only `--empty-clears` sends those).
   */
  document: string;
  /** The rows of the file merged into `document` (RowBatch.rows); 1 when absent. */
  rows?: number;
}

/** What upsertMany wrote: file rows of the profiles written, and (PostgreSQL) those inserted. */
export interface UpsertCounts {
  written: number;
  created?: number;
}

/** Reads a stored attributes document (text on SQLite, parsed jsonb on PostgreSQL). */
export function parseAttributes(stored: unknown): Record<string, AttributeValue> {
  const document = (typeof stored === 'string' ? JSON.parse(stored) : stored) as Record<
    string,
    AttributeValue | null
  >;
  // A null is an erased value; readers see it as absent. Most documents hold none, and are
  // returned as parsed: exports read a million of them in one run.
  let hasNull = false;
  for (const name in document) {
    if (document[name] === null) {
      hasNull = true;
      break;
    }
  }
  if (!hasNull) return document as Record<string, AttributeValue>;
  const out: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(document)) if (value !== null) out[name] = value;
  return out;
}

/** Profiles and the attribute catalog, on either dialect. */
export class ProfileStore {
  constructor(
    private readonly db: Kysely<Database>,
    // SQLite's own connection, for bulk upserts with one reused prepared statement.
    private readonly sqlite: BetterSqlite3.Database | undefined = sqliteHandleOf(db),
  ) {}

  /** Runs `work` in one transaction with a store bound to it: all of it is written, or none. */
  withTransaction<T>(work: (store: ProfileStore) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => work(new ProfileStore(trx, this.sqlite)));
  }

  /** The attribute catalog, by name. */
  async attributes(): Promise<Attribute[]> {
    const rows = await this.db
      .selectFrom('profile_attributes')
      .select(['name', 'type', 'is_key'])
      .orderBy('name')
      .execute();
    return rows.map((row) => ({
      name: row.name,
      type: row.type as AttributeType,
      isKey: row.is_key === 1,
    }));
  }

  /** Adds attributes to the catalog; an existing name keeps its type. */
  async addAttributes(attributes: readonly Attribute[], now: string): Promise<void> {
    if (attributes.length === 0) return;
    await this.db
      .insertInto('profile_attributes')
      .values(
        attributes.map((a) => ({
          name: a.name,
          type: a.type,
          is_key: a.isKey ? 1 : 0,
          created_at: now,
        })),
      )
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('profiles')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Inserts new profiles and merges the rest into the stored ones (per attribute: incoming values
   * win, stored values the row does not mention stay). A stored profile is written, and its
   * `updated_at` becomes `now`, only when the merge changes one of its values, so `updated_at`
   * tells which profiles changed since a given time: re-importing values already stored leaves the
   * row unwritten. Returns the file rows (ProfileUpsert.rows) of the profiles it wrote, inserted
   * or changed, and on PostgreSQL how many profiles it inserted (another import may be inserting
   * the same keys at the same moment, so counting the table before and after cannot tell; SQLite
   * writes one transaction at a time, and leaves `created` to the caller). Keys must be unique
   * within one call. On SQLite this writes through the connection's own handle: call it inside
   * withTransaction (as imports do), so no other query can interleave with the bulk write.
   */
  async upsertMany(rows: readonly ProfileUpsert[], now: string): Promise<UpsertCounts> {
    if (rows.length === 0) return { written: 0 };
    if (this.sqlite) {
      // One prepared single-row statement run per row: on SQLite this is the fastest way in
      // (measured: a multi-row VALUES or json_each batch takes about twice as long per row).
      this.sqliteUpsert ??= this.sqlite.prepare(this.upsertQuery(1).compile().sql);
      const statement = this.sqliteUpsert;
      let written = 0;
      for (const row of rows) {
        if (statement.run(row.id, row.key, row.document, now, now).changes > 0) {
          written += row.rows ?? 1;
        }
      }
      return { written };
    }
    const params: unknown[] = [];
    for (const row of rows) {
      params.push(row.id, row.key, row.document, now, now);
    }
    // Imports send thousands of batches of one size: build the statement's text once per size
    // (with Kysely, so placeholders suit the dialect) and only bind new values after that.
    let text = this.upsertText.get(rows.length);
    if (text === undefined) {
      text = this.upsertQuery(rows.length, true).compile().sql;
      this.upsertText.set(rows.length, text);
    }
    // PostgreSQL returns the rows it inserted or updated, not those the conflict's WHERE left;
    // a row it inserted has no xmax yet (one the conflict updated has this transaction's).
    const result = await this.db.executeQuery<{ key: string; inserted: boolean }>(
      CompiledQuery.raw(text, params),
    );
    const created = result.rows.filter((row) => row.inserted).length;
    if (!rows.some((row) => (row.rows ?? 1) > 1)) return { written: result.rows.length, created };
    const fileRows = new Map(rows.map((row) => [row.key, row.rows ?? 1]));
    const written = result.rows.reduce((sum, { key }) => sum + (fileRows.get(key) ?? 1), 0);
    return { written, created };
  }

  private readonly upsertText = new Map<number, string>();
  private sqliteUpsert: BetterSqlite3.Statement | undefined;

  /**
   * The upsert of `count` rows; `returning` the keys it wrote and whether it inserted them
   * (PostgreSQL's multi-row form).
   */
  private upsertQuery(count: number, returning = false) {
    const dialect = dialectOf(this.db);
    const placeholder = { id: '', key: '', attributes: '', created_at: '', updated_at: '' };
    const query = this.db
      .insertInto('profiles')
      .values(Array.from({ length: count }, () => placeholder))
      .onConflict((oc) => {
        const merged = mergeJsonDocuments(dialect, 'profiles.attributes', 'excluded.attributes');
        return (
          oc
            .column('key')
            .doUpdateSet({
              attributes: merged,
              updated_at: (eb) => eb.ref('excluded.updated_at'),
            })
            // A row the merge leaves as it is stays unwritten, its updated_at with it. So does
            // one the merge only drops the nulls of, that a fresh document kept: no value changes
            // (readers take a null for an absent value), and the import counts it unchanged.
            .where((eb) =>
              eb.and([
                jsonDocumentChanged(merged, 'profiles.attributes'),
                eb.not(jsonNullsOnlyDifference(dialect, merged, 'profiles.attributes')),
              ]),
            )
        );
      });
    return returning ? query.returning(['key', sql<boolean>`(xmax = 0)`.as('inserted')]) : query;
  }

  async findByKey(key: string): Promise<Profile | undefined> {
    const row = await this.db
      .selectFrom('profiles')
      .selectAll()
      .where('key', '=', key)
      .executeTakeFirst();
    return row && toProfile(row);
  }

  async findById(id: string): Promise<Profile | undefined> {
    const row = await this.db
      .selectFrom('profiles')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toProfile(row);
  }

  /**
   * Profiles whose key or any attribute value contains `text` (ASCII case-insensitive), in id
   * order. A full scan: meant for people looking someone up, not for segment rules.
   */
  async search(text: string, limit: number): Promise<Profile[]> {
    const dialect = dialectOf(this.db);
    const needle = asciiLowerCase(text);
    const inKey = textContains(dialect, sql.ref('key'), sql`${needle}`);
    // In a value, not in an attribute's name nor in the JSON around them. Most documents are
    // ruled out on their whole text first, where the needle is written as it is in JSON.
    const value = lowerAscii(dialect, sql.ref('v.t'));
    const inValue = sql<boolean>`exists (select 1 from ${jsonValueTexts(dialect, 'attributes')} as v
      where ${textContains(dialect, value, sql`${needle}`)})`;
    const document = lowerAscii(dialect, jsonDocumentText(dialect, 'attributes'));
    const inAttributes = /["\\\p{Cc}]/u.test(needle)
      ? inValue
      : sql<boolean>`(${textContains(dialect, document, sql`${needle}`)} and ${inValue})`;
    const rows = await this.db
      .selectFrom('profiles')
      .selectAll()
      .where(sql<boolean>`(${inKey} or ${inAttributes})`)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toProfile);
  }
}

function toProfile(row: {
  id: string;
  key: string;
  attributes: unknown;
  created_at: string;
  updated_at: string;
}): Profile {
  return {
    id: row.id,
    key: row.key,
    attributes: parseAttributes(row.attributes),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
