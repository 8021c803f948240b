import type { Kysely } from 'kysely';
import type { Clock } from '../shared/clock.js';
import type { Database } from './schema.js';

/** Key-value facts about the installation, such as its id and first start time. */
export class MetaStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('app_meta')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value;
  }

  async set(key: string, value: string): Promise<void> {
    const updatedAt = this.clock.now().toISOString();
    await this.db
      .insertInto('app_meta')
      .values({ key, value, updated_at: updatedAt })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: updatedAt }))
      .execute();
  }

  /**
   * Returns the value under `key`, storing `make()` first when there is none. Concurrent callers
   * (several processes starting at once) all get the one value that won.
   */
  async getOrInit(key: string, make: () => string): Promise<string> {
    await this.db
      .insertInto('app_meta')
      .values({ key, value: make(), updated_at: this.clock.now().toISOString() })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    const value = await this.get(key);
    if (value === undefined) throw new Error(`app_meta ${key} vanished right after insert`);
    return value;
  }

  async all(): Promise<Record<string, string>> {
    const rows = await this.db
      .selectFrom('app_meta')
      .select(['key', 'value'])
      .orderBy('key')
      .execute();
    return Object.fromEntries(rows.map((row) => [row.key, row.value]));
  }
}
