import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/databases.js';
import { ManualClock } from '../shared/clock.js';
import { dialectOf } from './dialect.js';
import { MetaStore } from './meta-store.js';
import { migrateToLatest, migrationStatus } from './migrate.js';
import { migrations } from './migrations/index.js';

describeEachDatabase(
  'migrations',
  (get) => {
    it('reports every migration pending on an empty database', async () => {
      const status = await migrationStatus(get().db);
      expect(status.map((m) => m.name)).toEqual(Object.keys(migrations));
      expect(status.every((m) => m.executedAt === undefined)).toBe(true);
    });

    it('applies all migrations once, then nothing', async () => {
      expect(await migrateToLatest(get().db)).toEqual(Object.keys(migrations));
      expect(await migrateToLatest(get().db)).toEqual([]);
      const status = await migrationStatus(get().db);
      expect(status.every((m) => m.executedAt instanceof Date)).toBe(true);
    });

    it('survives migrators racing each other', async () => {
      const results = await Promise.all([migrateToLatest(get().db), migrateToLatest(get().db)]);
      expect(results).toEqual([[], []]);
    });

    it('knows its dialect', () => {
      expect(dialectOf(get().db)).toBe(get().dialect);
    });

    it('returns counts as numbers on both dialects', async () => {
      const row = await get()
        .db.selectFrom('app_meta')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(row.n).toBe(0);
    });

    it('enforces foreign keys', async () => {
      // SQLite ignores foreign keys unless told otherwise; openDatabase tells it.
      await sql`create table fk_parent (id text primary key)`.execute(get().db);
      await sql`create table fk_child (parent_id text references fk_parent(id))`.execute(get().db);
      await expect(
        sql`insert into fk_child values ('missing')`.execute(get().db),
      ).rejects.toThrow();
    });
  },
  { migrate: false },
);

describeEachDatabase('meta store', (get) => {
  const clock = new ManualClock('2026-11-29T10:00:00.000Z');

  it('stores, overwrites and lists values', async () => {
    const meta = new MetaStore(get().db, clock);
    expect(await meta.get('colour')).toBeUndefined();
    await meta.set('colour', 'blue');
    clock.advance(1000);
    await meta.set('colour', 'green');
    expect(await meta.get('colour')).toBe('green');
    const row = await get()
      .db.selectFrom('app_meta')
      .selectAll()
      .where('key', '=', 'colour')
      .executeTakeFirstOrThrow();
    expect(row.updated_at).toBe('2026-11-29T10:00:01.000Z');
    expect(await meta.all()).toMatchObject({ colour: 'green' });
  });

  it('initialises a value once even when callers race', async () => {
    const meta = new MetaStore(get().db, clock);
    let made = 0;
    const values = await Promise.all(
      Array.from({ length: 5 }, () => meta.getOrInit('installation_id', () => `id-${++made}`)),
    );
    expect(new Set(values).size).toBe(1);
    expect(await meta.getOrInit('installation_id', () => 'other')).toBe(values[0]);
  });
});

describe('migration list', () => {
  it('is named in order with a four-digit prefix', () => {
    const names = Object.keys(migrations);
    expect(names).toEqual([...names].sort());
    for (const name of names) expect(name).toMatch(/^\d{4}_[a-z0-9_]+$/);
  });
});
