import { PostgresAdapter, sql, type Expression, type Kysely, type RawBuilder } from 'kysely';

/** The SQL dialects segsync runs on. Every dialect difference is decided in `db/`. */
export type SqlDialect = 'sqlite' | 'postgres';

/**
 * Keys per `in (...)` list, each a bound parameter: far below SQLite's (32,766) and PostgreSQL's
 * (65,535) caps on a statement's parameters.
 */
export const KEYS_PER_QUERY = 900;

/** Which dialect a Kysely instance speaks (for migrations and the few dialect-specific queries). */
export function dialectOf<DB>(db: Kysely<DB>): SqlDialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * How a value read from a JSON attributes document is typed in SQL: `text` (strings and ISO
 * dates), `number` (a double) or `boolean` (the integer 0 or 1 on both dialects, as stored
 * booleans are everywhere in segsync). Absent keys read as NULL.
 */
export type JsonValueKind = 'text' | 'number' | 'boolean';

/**
 * The value of `name` in the JSON document in `column` (a column reference such as
 * `profiles.attributes`). The attribute name travels as a bound parameter, never as SQL text:
 * a JSON path `$."name"` on SQLite (names containing `"` or `\` are refused by the caller's
 * catalog rules), a `->>` key on PostgreSQL.
 */
export function jsonValue(
  dialect: SqlDialect,
  column: string,
  name: string,
  kind: JsonValueKind,
): RawBuilder<unknown> {
  if (dialect === 'sqlite') {
    // json_extract already yields TEXT, REAL/INTEGER, or 1/0 for JSON true/false.
    return sql`json_extract(${sql.ref(column)}, ${`$."${name}"`})`;
  }
  const text = sql`(${sql.ref(column)} ->> ${name}::text)`;
  switch (kind) {
    case 'text':
      return text;
    case 'number':
      return sql`${text}::double precision`;
    case 'boolean':
      return sql`${text}::boolean::integer`;
  }
}

/**
 * `value` lower-cased byte-wise on ASCII letters only, the same on both dialects (SQLite's lower()
 * only knows ASCII; PostgreSQL's does the same under the C collation), so case-insensitive
 * comparisons agree everywhere: `É` and `é` stay different.
 */
export function lowerAscii(dialect: SqlDialect, value: Expression<unknown>): RawBuilder<string> {
  return dialect === 'sqlite' ? sql`lower(${value})` : sql`lower((${value}) collate "C")`;
}

/** `value` compared by code points (ISO dates sort as text this way on both dialects). */
export function binaryText(dialect: SqlDialect, value: Expression<unknown>): RawBuilder<string> {
  return dialect === 'sqlite' ? sql`${value}` : sql`((${value}) collate "C")`;
}

/** Whether `haystack` contains `needle` (plain text, no wildcards), as 1/0 or true/false. */
export function textContains(
  dialect: SqlDialect,
  haystack: Expression<unknown>,
  needle: Expression<unknown>,
): RawBuilder<boolean> {
  return dialect === 'sqlite'
    ? sql`(instr(${haystack}, ${needle}) > 0)`
    : sql`(strpos(${haystack}, (${needle})::text) > 0)`;
}

/** Whether `text` starts with `prefix` (plain text, no wildcards). */
export function textStartsWith(
  dialect: SqlDialect,
  text: Expression<unknown>,
  prefix: Expression<unknown>,
): RawBuilder<boolean> {
  return dialect === 'sqlite'
    ? sql`(substr(${text}, 1, length(${prefix})) = ${prefix})`
    : sql`(left(${text}, length((${prefix})::text)) = ${prefix})`;
}

/** Whether `text` ends with `suffix` (plain text, no wildcards; `suffix` is never empty). */
export function textEndsWith(
  dialect: SqlDialect,
  text: Expression<unknown>,
  suffix: Expression<unknown>,
): RawBuilder<boolean> {
  return dialect === 'sqlite'
    ? sql`(length(${text}) >= length(${suffix}) and substr(${text}, -length(${suffix})) = ${suffix})`
    : sql`(right(${text}, length((${suffix})::text)) = ${suffix})`;
}

/**
 * The upsert assignment that merges an incoming JSON document into the stored one: incoming keys
 * win, incoming `null`s remove keys (how `--empty-clears` erases), other stored keys stay. A
 * freshly inserted document may keep its `null`s: readers treat a JSON null as an absent value
 * (both dialects' JSON access already read it as SQL NULL).
 */
export function mergeJsonDocuments(
  dialect: SqlDialect,
  stored: string,
  incoming: string,
): RawBuilder<string> {
  return dialect === 'sqlite'
    ? sql`json_patch(${sql.ref(stored)}, ${sql.ref(incoming)})`
    : sql`jsonb_strip_nulls(${sql.ref(stored)} || ${sql.ref(incoming)})`;
}

/**
 * Whether `merged` (a mergeJsonDocuments result) differs from the document in the `stored` column.
 * PostgreSQL compares jsonb values. SQLite compares the text, which suits json_patch: it writes
 * the stored members in their stored order with their values' text untouched (numbers and string
 * escapes as they were written) and appends new members after them, so merging values a document
 * already holds gives back its very text; anything else differs. A merge that only drops JSON
 * nulls the stored document kept differs too, on both: jsonNullsOnlyDifference tells those apart.
 */
export function jsonDocumentChanged(
  merged: Expression<unknown>,
  stored: string,
): RawBuilder<boolean> {
  // The same SQL on both dialects (SQLite has `is distinct from` since 3.39); neither side is NULL.
  return sql`(${merged} is distinct from ${sql.ref(stored)})`;
}

/**
 * Whether `merged` (a mergeJsonDocuments result) holds the same values as the document in the
 * `stored` column once that document's JSON nulls are read as absent, as readers read them: a
 * freshly inserted document may keep nulls (`--empty-clears`), and merging into it drops them
 * although no value changed. Costs a second merge on SQLite when the stored text holds `null`
 * at all; ask it only of documents jsonDocumentChanged already found different.
 */
export function jsonNullsOnlyDifference(
  dialect: SqlDialect,
  merged: Expression<unknown>,
  stored: string,
): RawBuilder<boolean> {
  const column = sql.ref(stored);
  // Patching a document with itself drops its null members and rewrites nothing else.
  return dialect === 'sqlite'
    ? sql`(instr(${column}, 'null') > 0 and ${merged} = json_patch(${column}, ${column}))`
    : sql`(${merged} = jsonb_strip_nulls(${column}))`;
}

/**
 * The JSON document in `column` as text: a quick test before jsonValueTexts, as a value's text
 * is in it as written, unless it has a character JSON escapes (quotes, backslashes, controls).
 */
export function jsonDocumentText(dialect: SqlDialect, column: string): RawBuilder<string> {
  return dialect === 'sqlite' ? sql`${sql.ref(column)}` : sql`(${sql.ref(column)})::text`;
}

/**
 * The values of the JSON object in `column` (not its names) as a table with one text column
 * `t`: strings as they are, numbers in digits, booleans as `true`/`false`.
 */
export function jsonValueTexts(dialect: SqlDialect, column: string): RawBuilder<unknown> {
  const ref = sql.ref(column);
  return dialect === 'sqlite'
    ? sql`(select case when type in ('true', 'false') then type else cast(value as text) end as t
        from json_each(${ref}))`
    : sql`(select value as t from jsonb_each_text(${ref}))`;
}

/** Whether a driver error is a unique-constraint violation (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    (typeof message === 'string' && message.startsWith('UNIQUE constraint failed'))
  );
}

/**
 * The index a query must read a table through (SQLite's `indexed by`), where the planner would
 * otherwise pick another index and read the table's rows as well; nothing on PostgreSQL, whose
 * planner weighs index-only scans itself.
 */
export function readThroughIndex(dialect: SqlDialect, index: string): RawBuilder<unknown> {
  return dialect === 'sqlite' ? sql.raw(`indexed by ${index}`) : sql``;
}

/**
 * `left join TABLE ALIAS on CONDITION`, where CONDITION pins an index's leading columns to the
 * outer row's values, executed as one index lookup per outer row whatever the planner believes
 * about the table's size. Planners left to themselves go wrong on tables a run fills as it reads:
 * SQLite may pick the table's key, which CONDITION pins only in part, and scan it per row;
 * PostgreSQL, whose statistics still say empty, sorts the whole table for a merge join on every
 * page. SQLite is told the index (`indexed by`); PostgreSQL gets a lateral subquery that
 * `offset 0` keeps from being flattened back into a join it could plan otherwise.
 */
export function lookupJoin(
  dialect: SqlDialect,
  join: { table: string; alias: string; index: string; on: RawBuilder<unknown> },
): RawBuilder<unknown> {
  const table = sql.table(join.table);
  const alias = sql.ref(join.alias);
  return dialect === 'sqlite'
    ? sql`left join ${table} ${alias} indexed by ${sql.ref(join.index)} on ${join.on}`
    : sql`left join lateral (select * from ${table} ${alias} where ${join.on} offset 0) ${alias} on true`;
}

/**
 * Brings the planner's statistics of `table` up to date after a bulk rewrite of it. PostgreSQL
 * otherwise plans by the size it last measured (autovacuum catches up only later): after a
 * segment's refresh filled its membership it would read every member and sort them for each
 * page of a run. SQLite plans here without statistics (the queries that need an index name it:
 * readThroughIndex, lookupJoin), so nothing is done there.
 */
export async function refreshPlannerStatistics<DB>(db: Kysely<DB>, table: string): Promise<void> {
  if (dialectOf(db) === 'postgres') await sql`analyze ${sql.table(table)}`.execute(db);
}

/**
 * Text stored from its UTF-8 bytes, bound as a binary parameter: large texts built as bytes (a
 * request's checkpoint) reach the database without becoming a JS string first.
 */
export function textFromUtf8(dialect: SqlDialect, bytes: Uint8Array): RawBuilder<string> {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return dialect === 'sqlite'
    ? sql<string>`cast(${buffer} as text)`
    : sql<string>`convert_from(${buffer}, 'UTF8')`;
}

/**
 * The elements of a JSON array, passed as one text parameter (or a scalar subquery giving the
 * text), as a table with one column `v` (read its members with `v ->> 0`, ... on both dialects):
 * a bulk write sends thousands of rows as one value that the database unpacks.
 */
export function jsonArrayElements(
  dialect: SqlDialect,
  json: string | RawBuilder<string>,
): RawBuilder<unknown> {
  return dialect === 'sqlite'
    ? sql`(select value as v from json_each(${json}))`
    : sql`(select value as v from jsonb_array_elements(${json}::jsonb))`;
}
