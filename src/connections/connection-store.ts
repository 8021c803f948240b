import type { Kysely, Selectable } from 'kysely';
import type { ConnectionsTable, Database } from '../db/schema.js';

export type ConnectionRow = Selectable<ConnectionsTable>;

/** Rows of the connections table; knows nothing of keys in clear. */
export class ConnectionStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: ConnectionRow): Promise<void> {
    await this.db.insertInto('connections').values(row).execute();
  }

  async update(
    id: string,
    changes: Partial<Omit<ConnectionRow, 'id' | 'created_at'>>,
  ): Promise<void> {
    await this.db.updateTable('connections').set(changes).where('id', '=', id).execute();
  }

  find(id: string): Promise<ConnectionRow | undefined> {
    return this.db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByName(name: string): Promise<ConnectionRow | undefined> {
    return this.db
      .selectFrom('connections')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
  }

  list(): Promise<ConnectionRow[]> {
    return this.db
      .selectFrom('connections')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  /** Deletes the row; returns whether there was one. */
  async remove(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('connections').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
