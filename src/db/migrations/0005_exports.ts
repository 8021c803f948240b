import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../dialect.js';

/**
 * Exports, their runs, and the ledger of what each export delivered.
 * - `run_batches` is the checkpoint: one row per request SendGrid acknowledged, with its job id
 *   and the contacts it carried. A resumed run settles these jobs first, so an acknowledged
 *   request is never sent again, then plans the rest anew against the ledger.
 * - `export_ledger` holds, per export and email, the hash of the payload SendGrid confirmed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const withoutRowid = dialectOf(db) === 'sqlite' ? sql`without rowid` : sql``;
  await db.schema
    .createTable('exports')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull().unique())
    // Null once detached: the export keeps its configuration but does not run.
    .addColumn('connection_id', 'text', (col) =>
      col.references('connections.id').onDelete('restrict'),
    )
    .addColumn('list_id', 'text', (col) => col.notNull())
    .addColumn('mapping', 'text', (col) => col.notNull())
    .addColumn('mode', 'text', (col) => col.notNull())
    .addColumn('schedule', 'text', (col) => col.notNull())
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .execute();
  await db.schema
    .createTable('export_segments')
    .addColumn('export_id', 'text', (col) =>
      col.notNull().references('exports.id').onDelete('cascade'),
    )
    .addColumn('segment_id', 'text', (col) =>
      col.notNull().references('segments.id').onDelete('restrict'),
    )
    .addColumn('position', 'integer', (col) => col.notNull())
    .addPrimaryKeyConstraint('export_segments_pk', ['export_id', 'segment_id'])
    .execute();
  await db.schema
    .createIndex('export_segments_segment_idx')
    .on('export_segments')
    .column('segment_id')
    .execute();

  await db.schema
    .createTable('export_runs')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('export_id', 'text', (col) =>
      col.notNull().references('exports.id').onDelete('cascade'),
    )
    .addColumn('status', 'text', (col) => col.notNull())
    .addColumn('trigger', 'text', (col) => col.notNull())
    .addColumn('full', 'integer', (col) => col.notNull().defaultTo(0))
    // The export's configuration as the run saw it at its start, so a resume sends the same.
    .addColumn('settings', 'text')
    .addColumn('members', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('sent', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('created', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('updated', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('skipped', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('unchanged', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('removed', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('failed', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('requests', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('worker', 'text')
    .addColumn('heartbeat_at', 'text')
    .addColumn('cancel_requested', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('started_at', 'text')
    .addColumn('finished_at', 'text')
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .execute();
  await db.schema
    .createIndex('export_runs_export_idx')
    .on('export_runs')
    .columns(['export_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('export_runs_status_idx')
    .on('export_runs')
    .columns(['status', 'created_at'])
    .execute();
  // At most one active run per export, even when several processes start one at the same moment.
  await db.schema
    .createIndex('export_runs_one_active')
    .on('export_runs')
    .column('export_id')
    .unique()
    .where(sql.ref('status'), 'in', [
      sql.lit('queued'),
      sql.lit('running'),
      sql.lit('waiting_on_destination'),
    ])
    .execute();

  await db.schema
    .createTable('run_batches')
    .addColumn('run_id', 'text', (col) =>
      col.notNull().references('export_runs.id').onDelete('cascade'),
    )
    .addColumn('seq', 'integer', (col) => col.notNull())
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('contact_count', 'integer', (col) => col.notNull())
    // What the request carried, as JSON: [[email, hash, profile key], ...] for an upsert,
    // [[email, contact id], ...] for a removal. Settling the job reads it.
    .addColumn('contacts', 'text', (col) => col.notNull())
    .addColumn('job_id', 'text')
    // submitted (acknowledged, job pending) | completed | errored | failed
    .addColumn('status', 'text', (col) => col.notNull())
    .addColumn('created', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('updated', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('errored', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('message', 'text')
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('run_batches_pk', ['run_id', 'seq'])
    .execute();

  await db.schema
    .createTable('run_problems')
    .addColumn('run_id', 'text', (col) =>
      col.notNull().references('export_runs.id').onDelete('cascade'),
    )
    .addColumn('seq', 'integer', (col) => col.notNull())
    // skipped (never sent), failed (SendGrid refused it), warning (sent, with a change)
    .addColumn('severity', 'text', (col) => col.notNull())
    // plan (found while planning or sending; a resumed run finds them again) or job (from a
    // settled job's errors)
    .addColumn('source', 'text', (col) => col.notNull())
    .addColumn('profile_key', 'text')
    .addColumn('email', 'text')
    .addColumn('code', 'text', (col) => col.notNull())
    .addColumn('reason', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('run_problems_pk', ['run_id', 'seq'])
    .execute();

  await db.schema
    .createTable('export_ledger')
    .addColumn('export_id', 'text', (col) =>
      col.notNull().references('exports.id').onDelete('cascade'),
    )
    .addColumn('email', 'text', (col) => col.notNull())
    .addColumn('hash', 'text', (col) => col.notNull())
    .addColumn('delivered_at', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('export_ledger_pk', ['export_id', 'email'])
    .modifyEnd(withoutRowid)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'export_ledger',
    'run_problems',
    'run_batches',
    'export_runs',
    'export_segments',
    'exports',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
