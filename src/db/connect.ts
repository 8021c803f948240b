import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  type SqliteDialectConfig,
} from 'kysely';
import pg from 'pg';
import type { DatabaseTarget } from '../config.js';
import type { SqlDialect } from './dialect.js';
import type { Database } from './schema.js';
import { rememberSqliteHandle } from './sqlite-handle.js';

/** An open database: the Kysely instance, its dialect, and how to close it. */
export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: SqlDialect;
  close(): Promise<void>;
}

// PostgreSQL's int8 (count(*), sums) arrives as text by default; SQLite gives numbers. Parsing
// int8 as a JS number removes that difference; segsync's counts stay far below 2^53.
const INT8_OID = 20;
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
};

/**
 * Opens the database `target` names. SQLite runs in WAL mode with foreign keys on and a busy
 * timeout (so a CLI command and a running server can share the file); its folder is created
 * when missing. `:memory:` opens a private in-memory SQLite database.
 */
export function openDatabase(
  target: DatabaseTarget,
  options: { poolSize?: number } = {},
): DatabaseHandle {
  switch (target.kind) {
    case 'sqlite': {
      if (target.file !== ':memory:') fs.mkdirSync(path.dirname(target.file), { recursive: true });
      const sqlite = new BetterSqlite3(target.file);
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma('foreign_keys = ON');
      sqlite.pragma('busy_timeout = 10000');
      sqlite.pragma('synchronous = NORMAL');
      // A run writes its ledger in bulk: tens of thousands of rows per request, at random places
      // in its B-trees. SQLite's default checkpoint, every 1,000 pages (4 MB) of log, copies the
      // same ledger pages back into the database file again and again within one run; every
      // 10,000 pages copies each once per 40 MB of writes (a 100,000-contact export runs about
      // 10% faster), and the log file is cut back to 64 MB after a checkpoint.
      sqlite.pragma('wal_autocheckpoint = 10000');
      sqlite.pragma('journal_size_limit = 67108864');
      const db = new Kysely<Database>({
        dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }),
      });
      rememberSqliteHandle(db, sqlite);
      return { db, dialect: 'sqlite', close: () => db.destroy() };
    }
    case 'postgres': {
      const pool = new pg.Pool({
        connectionString: target.url,
        max: options.poolSize ?? 10,
        types: pgTypes,
      });
      // An idle client losing its connection must not crash the process; the next query reconnects.
      pool.on('error', () => undefined);
      const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
      return { db, dialect: 'postgres', close: () => db.destroy() };
    }
  }
}

// Statements Kysely ran recently, kept prepared by their text.
const STATEMENTS_KEPT = 200;

/**
 * SQLite transactions that take the write lock when they begin (BEGIN IMMEDIATE). A deferred
 * transaction that reads and then writes fails at once with "database is locked" when another
 * process wrote in between (WAL mode cannot upgrade its read snapshot), whatever busy_timeout
 * says: a profile import beside a running export did. Taken at the start, the lock is waited
 * for as busy_timeout allows.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly settings: SqliteDialectConfig) {
    super(settings);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.settings);
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * The connection as Kysely's SQLite dialect sees it, with its statements kept prepared by their
 * text: Kysely prepares a statement for every query, and better-sqlite3 frees one (with the
 * copies of the values bound to it, a megabyte-sized JSON array say) only when the garbage
 * collector finalizes it, so a long run would hold many of those copies at once. A kept
 * statement is prepared once and every run binds over the values of the one before. (A kept
 * statement runs one query at a time: Kysely's `stream()` would hold it while iterating, so two
 * streams of the same text at once would fail; nothing here streams on SQLite.)
 */
function withStatementCache(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const kept = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let statement = kept.get(sql);
      if (statement) {
        kept.delete(sql); // most recently used goes last
      } else {
        statement = sqlite.prepare(sql);
        const oldest = kept.keys().next();
        if (kept.size >= STATEMENTS_KEPT && !oldest.done) kept.delete(oldest.value);
      }
      kept.set(sql, statement);
      return statement;
    },
  };
}
