import type { Kysely, Selectable } from 'kysely';
import type { Database, ExportsTable } from '../db/schema.js';
import { activeStatuses } from './run-states.js';

// ledger_settings belongs to the ledger (ledger-store.ts), not to the export's definition.
export type ExportRow = Omit<Selectable<ExportsTable>, 'ledger_settings'>;
export interface ExportRecord extends ExportRow {
  segment_ids: string[];
}

/** Export definitions and the segments each one sends. */
export class ExportStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Inserts an export and its segments in one transaction. */
  async insert(row: ExportRow, segmentIds: readonly string[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('exports').values(row).execute();
      await trx
        .insertInto('export_segments')
        .values(
          segmentIds.map((segment_id, position) => ({ export_id: row.id, segment_id, position })),
        )
        .execute();
    });
  }

  /** Updates an export's columns, and replaces its segments when given. */
  async update(
    id: string,
    changes: Partial<Omit<ExportRow, 'id' | 'created_at' | 'created_by'>>,
    segmentIds?: readonly string[],
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      if (Object.keys(changes).length > 0) {
        await trx.updateTable('exports').set(changes).where('id', '=', id).execute();
      }
      if (segmentIds) {
        await trx.deleteFrom('export_segments').where('export_id', '=', id).execute();
        await trx
          .insertInto('export_segments')
          .values(
            segmentIds.map((segment_id, position) => ({ export_id: id, segment_id, position })),
          )
          .execute();
      }
    });
  }

  async find(id: string): Promise<ExportRecord | undefined> {
    const row = await this.db
      .selectFrom('exports')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    return { ...row, segment_ids: await this.segmentIds(id) };
  }

  findByName(name: string): Promise<ExportRow | undefined> {
    return this.db.selectFrom('exports').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async list(): Promise<ExportRecord[]> {
    const rows = await this.db
      .selectFrom('exports')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const links = await this.db
      .selectFrom('export_segments')
      .select(['export_id', 'segment_id'])
      .orderBy('export_id')
      .orderBy('position')
      .execute();
    return rows.map((row) => ({
      ...row,
      segment_ids: links.filter((link) => link.export_id === row.id).map((link) => link.segment_id),
    }));
  }

  async segmentIds(exportId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('export_segments')
      .select('segment_id')
      .where('export_id', '=', exportId)
      .orderBy('position')
      .execute();
    return rows.map((row) => row.segment_id);
  }

  /** The exports that send a segment (its deletion is refused while there are any). */
  usersOfSegment(segmentId: string): Promise<{ id: string; name: string }[]> {
    return this.db
      .selectFrom('exports')
      .innerJoin('export_segments', 'export_segments.export_id', 'exports.id')
      .select(['exports.id', 'exports.name'])
      .where('export_segments.segment_id', '=', segmentId)
      .orderBy('exports.name')
      .execute();
  }

  /** The exports attached to a connection (its removal is refused while there are any). */
  /**
   * The exports using a connection: those attached to it, and those with a run still going (or
   * interrupted) that took it in its settings before the export moved to another connection.
   */
  async usersOfConnection(
    connectionId: string,
  ): Promise<{ id: string; name: string; runId?: string }[]> {
    const attached = await this.db
      .selectFrom('exports')
      .select(['id', 'name'])
      .where('connection_id', '=', connectionId)
      .execute();
    const running = await this.db
      .selectFrom('export_runs as r')
      .innerJoin('exports as e', 'e.id', 'r.export_id')
      .select(['e.id', 'e.name', 'r.id as runId', 'r.settings'])
      .where('r.status', 'in', [...activeStatuses])
      .execute();
    const users = new Map<string, { id: string; name: string; runId?: string }>(
      attached.map((e) => [e.id, e]),
    );
    // Keyed by export: an export attached to the connection is named once, as such.
    for (const { id, name, runId, settings } of running) {
      const taken = settings ? (JSON.parse(settings) as { connectionId?: string }) : {};
      if (taken.connectionId === connectionId && !users.has(id)) {
        users.set(id, { id, name, runId });
      }
    }
    return [...users.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Deletes the export with its runs and ledger (cascade); returns whether it existed. */
  async remove(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('exports').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
