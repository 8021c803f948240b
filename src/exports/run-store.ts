import { sql, type Kysely, type Selectable } from 'kysely';
import { dialectOf, isUniqueViolation, KEYS_PER_QUERY, textFromUtf8 } from '../db/dialect.js';
import { inTransaction } from '../db/transaction.js';
import { chunks } from '../shared/chunks.js';
import type { Database, ExportRunsTable, RunBatchesTable, RunProblemsTable } from '../db/schema.js';
import { LedgerStore } from './ledger-store.js';
import { activeStatuses, assertTransition, finalStatuses, type RunStatus } from './run-states.js';

export type RunRow = Selectable<ExportRunsTable>;
export type BatchSummary = Selectable<RunBatchesTable>;
/** A batch as a run records it: its summary and what its request carried, as JSON (or its bytes). */
export type BatchRow = BatchSummary & { contacts: string | Uint8Array };
export type ProblemRow = Selectable<RunProblemsTable>;

// Bound parameters per statement stay far below SQLite's (32,766) and PostgreSQL's (65,535) caps.
const ROWS_PER_INSERT = 500;
/** Jobs a run's ETA learns from (RunStore.recentJobMs). */
const RECENT_JOBS = 20;
/** The runs those jobs are looked for in: the export's latest that sent anything. */
const RECENT_RUNS = 5;

/** The counters a run keeps; `delta` updates add to them. */
export type RunCounters = Pick<
  RunRow,
  | 'members'
  | 'sent'
  | 'created'
  | 'updated'
  | 'skipped'
  | 'unchanged'
  | 'removed'
  | 'failed'
  | 'requests'
>;

/** Export runs: their lifecycle, settings snapshot, checkpoints and problems. */
export class RunStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Inserts a run; false when the export already has an active run (one at a time, enforced). */
  async insertRun(row: RunRow): Promise<boolean> {
    try {
      await this.db.insertInto('export_runs').values(row).execute();
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  findRun(id: string): Promise<RunRow | undefined> {
    return this.db.selectFrom('export_runs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listRuns(
    filter: {
      exportId?: string;
      statuses?: readonly RunStatus[];
      limit?: number;
      oldestFirst?: boolean;
    } = {},
  ): Promise<RunRow[]> {
    let query = this.db.selectFrom('export_runs').selectAll();
    if (filter.exportId) query = query.where('export_id', '=', filter.exportId);
    if (filter.statuses && filter.statuses.length > 0)
      query = query.where('status', 'in', filter.statuses);
    const direction = filter.oldestFirst ? 'asc' : 'desc';
    return query
      .orderBy('created_at', direction)
      .orderBy('id', direction)
      .limit(filter.limit ?? 100)
      .execute();
  }

  /**
   * Moves a run from `from` to `to` if it is still in `from` (checked against the lifecycle),
   * with extra column changes. Returns false when another process moved it first.
   */
  async transition(
    id: string,
    from: RunStatus,
    to: RunStatus,
    changes: Partial<Omit<RunRow, 'id' | 'status'>> = {},
    /** Only while this worker holds the run (not once it was given to another). */
    heldBy?: string,
    /** Only while nobody asked to cancel the run (a run ending any other way than canceled). */
    unlessCancelRequested = false,
  ): Promise<boolean> {
    assertTransition(id, from, to);
    let update = this.db
      .updateTable('export_runs')
      .set({ ...changes, status: to })
      .where('id', '=', id)
      .where('status', '=', from);
    if (heldBy !== undefined) update = update.where('worker', '=', heldBy);
    if (unlessCancelRequested) update = update.where('cancel_requested', '=', 0);
    const result = await update.executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async update(id: string, changes: Partial<Omit<RunRow, 'id' | 'status'>>): Promise<void> {
    await this.db.updateTable('export_runs').set(changes).where('id', '=', id).execute();
  }

  /** Adds to a run's counters in one statement (safe against concurrent readers). */
  async addCounters(id: string, delta: Partial<RunCounters>, updatedAt: string): Promise<void> {
    const entries = Object.entries(delta).filter(([, value]) => value !== undefined && value !== 0);
    if (entries.length === 0) return;
    const set: Record<string, unknown> = { updated_at: updatedAt, heartbeat_at: updatedAt };
    for (const [column, value] of entries) set[column] = sql`${sql.ref(column)} + ${value}`;
    await this.db.updateTable('export_runs').set(set).where('id', '=', id).execute();
  }

  /** Asks a run that has not ended to stop; false when it had ended already. */
  async requestCancel(id: string): Promise<boolean> {
    const result = await this.db
      .updateTable('export_runs')
      .set({ cancel_requested: 1 })
      .where('id', '=', id)
      .where('status', 'in', activeStatuses)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** What a working run checks between steps: was it canceled, and which worker holds it. */
  async control(id: string): Promise<{ cancelRequested: boolean; worker: string | null }> {
    const row = await this.db
      .selectFrom('export_runs')
      .select(['cancel_requested', 'worker'])
      .where('id', '=', id)
      .executeTakeFirst();
    return { cancelRequested: row?.cancel_requested === 1, worker: row?.worker ?? null };
  }

  // --- problems ---------------------------------------------------------------------------

  /** Adds problems to a run, numbering them after the ones it has. */
  async addProblems(runId: string, problems: readonly Omit<ProblemRow, 'seq'>[]): Promise<void> {
    if (problems.length === 0) return;
    await inTransaction(this.db, async (trx) => {
      const last = await trx
        .selectFrom('run_problems')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .where('run_id', '=', runId)
        .executeTakeFirst();
      let seq = Number(last?.seq ?? 0);
      const rows = problems.map((problem) => ({ ...problem, seq: ++seq }));
      for (const chunk of chunks(rows, ROWS_PER_INSERT / 8)) {
        await trx.insertInto('run_problems').values(chunk).execute();
      }
    });
  }

  /** Forgets the problems planning found (a resumed run plans again and finds them again). */
  async clearPlanProblems(runId: string): Promise<void> {
    await this.db
      .deleteFrom('run_problems')
      .where('run_id', '=', runId)
      .where('source', '=', 'plan')
      .execute();
  }

  /**
   * Drops the per-contact problems of the export's ended runs but the latest `keep` (by
   * creation), marking those runs pruned at `at`: a run re-records every member it skips, so
   * an export of many invalid emails would otherwise add their list at every run, for ever.
   */
  async pruneProblems(exportId: string, keep: number, at: string): Promise<void> {
    const older = await this.db
      .selectFrom('export_runs')
      .select('id')
      .where('export_id', '=', exportId)
      .where('status', 'in', finalStatuses)
      .where('problems_pruned_at', 'is', null)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .offset(keep)
      // SQLite takes an OFFSET only after a LIMIT.
      .limit(1_000_000)
      .execute();
    for (const chunk of chunks(
      older.map((run) => run.id),
      KEYS_PER_QUERY,
    )) {
      await inTransaction(this.db, async (trx) => {
        await trx.deleteFrom('run_problems').where('run_id', 'in', chunk).execute();
        await trx
          .updateTable('export_runs')
          .set({ problems_pruned_at: at })
          .where('id', 'in', chunk)
          .execute();
      });
    }
  }

  async countProblems(runId: string, severity: string): Promise<number> {
    const row = await this.db
      .selectFrom('run_problems')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('run_id', '=', runId)
      .where('severity', '=', severity)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  // --- checkpoints --------------------------------------------------------------------------

  /** The run's batches without what they carried (a large run's contacts are read one at a time). */
  batches(runId: string): Promise<BatchSummary[]> {
    return this.db
      .selectFrom('run_batches')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('seq')
      .execute();
  }

  /**
   * How long SendGrid took to settle the export's recent upsert jobs, on average, from the
   * acknowledgement of their requests (ms); undefined when none is known. For the ETA of a run.
   */
  async recentJobMs(exportId: string): Promise<number | undefined> {
    // From the export's last few runs that sent anything, found through export_runs' index on
    // (export_id, created_at): a bounded read however many runs the export has had.
    const recentRuns = this.db
      .selectFrom('export_runs')
      .select('id')
      .where('export_id', '=', exportId)
      .where('sent', '>', 0)
      .orderBy('created_at', 'desc')
      .limit(RECENT_RUNS);
    const rows = await this.db
      .selectFrom('run_batches as b')
      .select(['b.acknowledged_at', 'b.updated_at'])
      .where('b.run_id', 'in', recentRuns)
      .where('b.kind', '=', 'upsert')
      .where('b.status', '!=', 'submitted')
      .where('b.acknowledged_at', 'is not', null)
      .orderBy('b.updated_at', 'desc')
      .limit(RECENT_JOBS)
      .execute();
    const durations = rows
      .map((row) => Date.parse(row.updated_at) - Date.parse(row.acknowledged_at ?? ''))
      .filter((ms) => Number.isFinite(ms) && ms >= 0);
    if (durations.length === 0) return undefined;
    return durations.reduce((sum, ms) => sum + ms, 0) / durations.length;
  }

  /** The queued or going runs of other exports into the same list, with their export's name. */
  async activeRunsOnList(
    listId: string,
    exceptExportId: string,
  ): Promise<{ id: string; exportName: string }[]> {
    return this.db
      .selectFrom('export_runs as r')
      .innerJoin('exports as e', 'e.id', 'r.export_id')
      .select(['r.id', 'e.name as exportName'])
      .where('e.list_id', '=', listId)
      .where('e.id', '<>', exceptExportId)
      .where('r.status', 'in', [...activeStatuses])
      .orderBy('r.id')
      .execute();
  }

  /**
   * Whether the run has requests SendGrid acknowledged whose jobs it has not settled, or that it
   * sent without an answer (they may have reached SendGrid).
   */
  async hasUnsettledRequests(runId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('run_batches')
      .select('seq')
      .where('run_id', '=', runId)
      .where('status', 'in', ['submitted', 'sending'])
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** What one batch carried, as JSON text (see migration 0006); `[]` once its run ended. */
  async batchContacts(runId: string, seq: number): Promise<string> {
    const row = await this.db
      .selectFrom('run_batch_contacts')
      .select('contacts')
      .where('run_id', '=', runId)
      .where('seq', '=', seq)
      .executeTakeFirst();
    return row?.contacts ?? '[]';
  }

  /** The checkpoint of one acknowledged request: the batch and what it carried, together. */
  async insertBatch(row: BatchRow): Promise<void> {
    const { contacts, ...summary } = row;
    await inTransaction(this.db, async (trx) => {
      await trx.insertInto('run_batches').values(summary).execute();
      await trx
        .insertInto('run_batch_contacts')
        .values({
          run_id: row.run_id,
          seq: row.seq,
          contacts:
            typeof contacts === 'string' ? contacts : textFromUtf8(dialectOf(trx), contacts),
        })
        .execute();
    });
  }

  /** Marks a request recorded before it was sent (`sending`) as acknowledged, with its job. */
  async acknowledgeBatch(
    runId: string,
    seq: number,
    changes: { job_id: string; acknowledged_at: string; updated_at: string },
  ): Promise<void> {
    await this.db
      .updateTable('run_batches')
      .set({ ...changes, status: 'submitted' })
      .where('run_id', '=', runId)
      .where('seq', '=', seq)
      .where('status', '=', 'sending')
      .execute();
  }

  /** Forgets a request recorded before it was sent, with what it carried (a cascade). */
  async deleteBatch(runId: string, seq: number): Promise<void> {
    await this.db
      .deleteFrom('run_batches')
      .where('run_id', '=', runId)
      .where('seq', '=', seq)
      .execute();
  }

  /**
   * Replaces what a batch carried (the contacts of an unanswered request found delivered, say),
   * in `record`'s transaction.
   */
  async replaceBatchContacts(runId: string, seq: number, contacts: string): Promise<void> {
    await this.db
      .updateTable('run_batch_contacts')
      .set({ contacts })
      .where('run_id', '=', runId)
      .where('seq', '=', seq)
      .execute();
  }

  /**
   * Drops what an ended run's requests carried: the ledger and the problems keep what matters.
   * A request never answered, or whose job was never settled (SendGrid could not be reached as
   * the run ended), keeps it, until a later run of the export settles it.
   */
  async dropBatchContacts(runId: string): Promise<void> {
    const unsettled = this.db
      .selectFrom('run_batches')
      .select('seq')
      .where('run_id', '=', runId)
      .where('status', 'in', ['sending', 'submitted']);
    await this.db
      .deleteFrom('run_batch_contacts')
      .where('run_id', '=', runId)
      .where('seq', 'not in', unsettled)
      .execute();
  }

  /**
   * The acknowledged requests of the export's ended runs whose jobs were never settled (a run
   * that stopped while SendGrid could not be reached), with what they carried still kept, and the
   * settings of the run that sent them: the export's next run settles them.
   */
  unsettledJobsOfEndedRuns(
    exportId: string,
  ): Promise<(BatchSummary & { run_settings: string | null })[]> {
    return this.db
      .selectFrom('run_batches as b')
      .innerJoin('export_runs as r', 'r.id', 'b.run_id')
      .innerJoin('run_batch_contacts as c', (join) =>
        join.onRef('c.run_id', '=', 'b.run_id').onRef('c.seq', '=', 'b.seq'),
      )
      .selectAll('b')
      .select('r.settings as run_settings')
      .where('r.export_id', '=', exportId)
      .where('r.status', 'in', finalStatuses)
      .where('b.status', '=', 'submitted')
      .orderBy('b.run_id')
      .orderBy('b.seq')
      .execute();
  }

  /** Forgets what one batch carried (a settled request of a run that ended). */
  async dropContactsOf(runId: string, seq: number): Promise<void> {
    await this.db
      .deleteFrom('run_batch_contacts')
      .where('run_id', '=', runId)
      .where('seq', '=', seq)
      .execute();
  }

  /** The export's requests sent without an answer, in any of its runs (see settleUnanswered). */
  unansweredBatches(exportId: string): Promise<BatchSummary[]> {
    return this.db
      .selectFrom('run_batches as b')
      .innerJoin('export_runs as r', 'r.id', 'b.run_id')
      .selectAll('b')
      .where('r.export_id', '=', exportId)
      .where('b.status', '=', 'sending')
      .orderBy('b.run_id')
      .orderBy('b.seq')
      .execute();
  }

  /**
   * Settles a batch once. In one transaction: marks it with its job's final state, unless it is
   * no longer submitted (another worker settled it, or this one did before a crash), and lets
   * `record` write what the job did (the ledger, the counters) through stores bound to that
   * transaction. False when the batch was settled already, and nothing was recorded again.
   */
  async settleBatch(
    runId: string,
    seq: number,
    changes: Partial<Omit<BatchSummary, 'run_id' | 'seq'>>,
    record: (stores: { runs: RunStore; ledger: LedgerStore }) => Promise<void>,
    /** The status the batch must have: `submitted`, or `sending` for an unanswered request. */
    from: 'submitted' | 'sending' = 'submitted',
  ): Promise<boolean> {
    return inTransaction(this.db, async (trx) => {
      const marked = await trx
        .updateTable('run_batches')
        .set(changes)
        .where('run_id', '=', runId)
        .where('seq', '=', seq)
        .where('status', '=', from)
        .executeTakeFirst();
      if (Number(marked.numUpdatedRows) !== 1) return false;
      await record({ runs: new RunStore(trx), ledger: new LedgerStore(trx) });
      return true;
    });
  }

  problems(runId: string): Promise<ProblemRow[]> {
    return this.db
      .selectFrom('run_problems')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('seq')
      .execute();
  }
}
