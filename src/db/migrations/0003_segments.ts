import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../dialect.js';

/** Segments, the membership of their last refresh, and the history of refresh counts. */
export async function up(db: Kysely<unknown>): Promise<void> {
  const dialect = dialectOf(db);
  await db.schema
    .createTable('segments')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull().unique())
    .addColumn('description', 'text', (col) => col.notNull().defaultTo(''))
    .addColumn('rule', 'text', (col) => col.notNull())
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .addColumn('member_count', 'integer')
    .addColumn('refreshed_at', 'text')
    .addColumn('refresh_ms', 'integer')
    .execute();
  // The primary key (segment, profile) is the membership index: exports page through one or more
  // segments in profile-id order with it. No foreign key to profiles: a refresh inserts up to
  // millions of rows, each of which would pay a lookup, and the rows come from profiles anyway.
  let members = db.schema
    .createTable('segment_members')
    .addColumn('segment_id', 'text', (col) =>
      col.notNull().references('segments.id').onDelete('cascade'),
    )
    .addColumn('profile_id', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('segment_members_pk', ['segment_id', 'profile_id']);
  // SQLite: the primary key is the table itself, not a second copy of every row.
  if (dialect === 'sqlite') members = members.modifyEnd(sql`without rowid`);
  await members.execute();
  await db.schema
    .createTable('segment_refreshes')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('segment_id', 'text', (col) =>
      col.notNull().references('segments.id').onDelete('cascade'),
    )
    .addColumn('refreshed_at', 'text', (col) => col.notNull())
    .addColumn('member_count', 'integer', (col) => col.notNull())
    .addColumn('duration_ms', 'integer', (col) => col.notNull())
    .execute();
  await db.schema
    .createIndex('segment_refreshes_segment_idx')
    .on('segment_refreshes')
    .columns(['segment_id', 'refreshed_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('segment_refreshes').execute();
  await db.schema.dropTable('segment_members').execute();
  await db.schema.dropTable('segments').execute();
}
