import type { Kysely, Selectable } from 'kysely';
import type { Database, ExportsTable } from '../db/schema.js';
import { activeStatuses } from './run-states.js';

// ledger_settings belongs to the ledger (ledger-store.ts), not to the export's definition.
export type ExportRow = Omit<Selectable<ExportsTable>, 'ledger_settings'>;
export interface ExportRecord extends ExportRow {
  segment_ids: string[];
}

/**
 * An export using a connection or a segment. `runId` is set when only a run of it still does (it
 * took the resource in its settings before the export moved away from it).
 */
export interface ResourceUser {
  id: string;
  name: string;
  runId?: string;
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

  /**
   * The exports sending a segment: those whose definition names it, and those with a run still
   * going (or interrupted) that took it in its settings before the export stopped sending it.
   * The segment's deletion is refused while there are any: such a run would find its members
   * gone, and could not tell which of its contacts to keep.
   */
  async usersOfSegment(segmentId: string): Promise<ResourceUser[]> {
    const defined = await this.db
      .selectFrom('exports')
      .innerJoin('export_segments', 'export_segments.export_id', 'exports.id')
      .select(['exports.id', 'exports.name'])
      .where('export_segments.segment_id', '=', segmentId)
      .execute();
    return this.withActiveRuns(defined, (taken) => taken.segmentIds?.includes(segmentId) === true);
  }

  /**
   * The exports using a connection: those attached to it, and those with a run still going (or
   * interrupted) that took it in its settings before the export moved to another connection.
   */
  async usersOfConnection(connectionId: string): Promise<ResourceUser[]> {
    const attached = await this.db
      .selectFrom('exports')
      .select(['id', 'name'])
      .where('connection_id', '=', connectionId)
      .execute();
    return this.withActiveRuns(attached, (taken) => taken.connectionId === connectionId);
  }

  /**
   * `users`, plus the exports of active runs whose settings `took` (what a run took stays its
   * own until it ends, whatever the export says now). Keyed by export: an export already among
   * `users` is named once, as such. Sorted by name.
   */
  private async withActiveRuns(
    users: readonly { id: string; name: string }[],
    took: (settings: { connectionId?: string; segmentIds?: string[] }) => boolean,
  ): Promise<ResourceUser[]> {
    const running = await this.db
      .selectFrom('export_runs as r')
      .innerJoin('exports as e', 'e.id', 'r.export_id')
      .select(['e.id', 'e.name', 'r.id as runId', 'r.settings'])
      .where('r.status', 'in', [...activeStatuses])
      .execute();
    const byExport = new Map<string, ResourceUser>(users.map((e) => [e.id, { ...e }]));
    for (const { id, name, runId, settings } of running) {
      if (byExport.has(id) || !settings) continue;
      if (took(JSON.parse(settings) as { connectionId?: string; segmentIds?: string[] })) {
        byExport.set(id, { id, name, runId });
      }
    }
    return [...byExport.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Deletes the export with its runs and ledger (cascade); returns whether it existed. */
  async remove(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('exports').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
