import { Readable } from 'node:stream';
import { beforeEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/databases.js';
import { ManualClock } from '../shared/clock.js';
import { ValidationError } from '../shared/errors.js';
import { MalformedFileError } from './readers.js';
import { ProfileStore } from './profile-store.js';
import { parseAttributeSchema, ProfileService } from './service.js';
import type { ImportOptions } from './import.js';

/** A byte source delivering `bytes` in small chunks, so chunk boundaries fall mid-record. */
function source(content: string | Buffer, chunk = 7): Readable {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  return Readable.from(parts);
}

// Every case runs twice: parsed on the main thread, and parsed in a worker thread while the main
// thread writes (large files take that path); the results must not differ.
for (const worker of [false, true])
  describeEachDatabase(`profile import${worker ? ' (worker)' : ''}`, (get) => {
    const clock = new ManualClock('2026-11-29T10:00:00.000Z');
    let service: ProfileService;

    beforeEach(async () => {
      const { db } = get();
      // Each test starts from no profiles and an empty catalog.
      await db.deleteFrom('profiles').execute();
      await db.deleteFrom('profile_attributes').execute();
      service = new ProfileService(new ProfileStore(db), clock);
    });

    const load = (content: string | Buffer, options: ImportOptions = {}) =>
      service.importStream(source(content), { worker, ...options });

    it('imports a CSV, infers types and normalises keys', async () => {
      const result = await load(
        'email,name,total_spend,opt_in,signup,postal\n' +
          ' Ana@Example.COM ,Ana,12.5,true,2024-03-01,08001\n' +
          'bob@example.com,Bob,0,false,2023-12-31T10:00:00Z,28001\n',
      );
      expect(result).toEqual({ created: 2, updated: 0, unchanged: 0, rejected: 0, errors: [] });
      expect(await service.count()).toBe(2);
      const ana = await service.get('ANA@example.com');
      expect(ana.key).toBe('ana@example.com');
      expect(ana.attributes).toEqual({
        email: 'ana@example.com',
        name: 'Ana',
        total_spend: 12.5,
        opt_in: true,
        signup: '2024-03-01T00:00:00.000Z',
        postal: '08001',
      });
      const types = Object.fromEntries((await service.attributes()).map((a) => [a.name, a.type]));
      expect(types).toEqual({
        email: 'string',
        name: 'string',
        total_spend: 'number',
        opt_in: 'boolean',
        signup: 'date',
        postal: 'string',
      });
    });

    it('merges a second source into the same profiles; empty cells keep values', async () => {
      await load('email,name,city\nana@example.com,Ana,Madrid\n');
      const result = await load(
        'email,city,tier\nANA@example.com,,gold\ncarl@example.com,Leeds,\n',
      );
      expect(result).toMatchObject({ created: 1, updated: 1, unchanged: 0, rejected: 0 });
      expect((await service.get('ana@example.com')).attributes).toEqual({
        email: 'ana@example.com',
        name: 'Ana',
        city: 'Madrid',
        tier: 'gold',
      });
    });

    it('erases values with empty cells under --empty-clears', async () => {
      await load('email,name,city\nana@example.com,Ana,Madrid\n');
      await load('email,city\nana@example.com,\n', { emptyClears: true });
      expect((await service.get('ana@example.com')).attributes).toEqual({
        email: 'ana@example.com',
        name: 'Ana',
      });
    });

    it('merges repeated keys within one file, later values winning', async () => {
      const result = await load('email,city,tier\na@x.com,Madrid,gold\nA@X.com,Sevilla,\n');
      expect(result).toMatchObject({ created: 1, updated: 1, rejected: 0 });
      expect((await service.get('a@x.com')).attributes).toMatchObject({
        city: 'Sevilla',
        tier: 'gold',
      });
      // A key's rows are merged in order, then compared with the stored profile: all of them
      // count unchanged when together they change nothing, updated when they change a value.
      expect(
        await load('email,city,tier\na@x.com,Sevilla,\nA@x.com,,gold\nb@x.com,Leeds,\n'),
      ).toMatchObject({ created: 1, updated: 0, unchanged: 2 });
      expect(await load('email,city\na@x.com,Sevilla\na@x.com,Vigo\na@x.com,Vigo\n')).toMatchObject(
        { created: 0, updated: 3, unchanged: 0 },
      );
      // A file whose repeats disagree, imported again, leaves the profile as it was.
      const file = 'email,city\nc@x.com,E1\nc@x.com,E2\nc@x.com,E3\n';
      expect(await load(file)).toMatchObject({ created: 1, updated: 2, unchanged: 0 });
      const version = (await service.get('c@x.com')).updatedAt;
      tick();
      expect(await load(file)).toMatchObject({ created: 0, updated: 0, unchanged: 3 });
      expect(await service.get('c@x.com')).toMatchObject({
        updatedAt: version,
        attributes: { city: 'E3' },
      });
    });

    it('rejects rows that do not fit the catalog, with line numbers, and keeps the good rows', async () => {
      await load('email,total_spend,joined\nseed@x.com,1,2020-01-01\n');
      const result = await load(
        'email,total_spend,joined\n' +
          'a@x.com,12,2024-01-01\n' +
          'b@x.com,"12,5",2024-01-01\n' +
          ',3,2024-01-01\n' +
          'c@x.com,4\n' +
          'd@x.com,5,2024-02-30\n' +
          'e@x.com,6,2024-02-29\n',
      );
      expect(result).toMatchObject({ created: 2, updated: 0, rejected: 4 });
      expect(result.errors).toEqual([
        { line: 3, message: 'total_spend: expected a number, got "12,5"' },
        { line: 4, message: 'email: the key is empty' },
        { line: 5, message: 'expected 3 fields, found 2' },
        { line: 6, message: 'joined: expected a date such as 2024-03-01, got "2024-02-30"' },
      ]);
    });

    it('refuses numbers JSON cannot store, dates an offset moves out of years 1-9999, and built-in names', async () => {
      await load('{"email":"a@x.com","n":2}\n', { format: 'jsonl' });
      const result = await load('{"email":"a@x.com","n":1e400}\n{"email":"b@x.com","n":-1e400}\n', {
        format: 'jsonl',
      });
      expect(result).toMatchObject({ updated: 0, created: 0, rejected: 2 });
      expect(result.errors[0]).toEqual({
        line: 1,
        message: 'n: a number too large to store (beyond ±1.8e308)',
      });
      // The stored value stays.
      expect((await service.get('a@x.com')).attributes.n).toBe(2);

      // A whole number past 2^53 would be stored as a neighbouring one: refused, in CSV and
      // JSON alike (even into a string attribute: JSON.parse already changed it).
      const big = await load(
        'email,n\ng@x.com,12345678901234567890\nh@x.com,9007199254740991\ni@x.com,-9007199254740993\nj@x.com,1.5e300\n',
      );
      expect(big).toMatchObject({ created: 2, rejected: 2 });
      expect(big.errors).toEqual([
        {
          line: 2,
          message:
            'n: expected a number, got "12345678901234567890": a whole number beyond ±9007199254740991 cannot be stored exactly (declare the attribute a string)',
        },
        {
          line: 4,
          message: expect.stringContaining('got "-9007199254740993": a whole number') as unknown,
        },
      ]);
      expect((await service.get('h@x.com')).attributes.n).toBe(9007199254740991);
      const bigJson = await load('{"email":"k@x.com","s":12345678901234567890}\n', {
        format: 'jsonl',
        schema: { s: 'string' },
      });
      expect(bigJson.errors).toEqual([
        {
          line: 1,
          message:
            's: a whole number beyond ±9007199254740991 cannot be stored exactly, got 12345678901234567000 (write it as a string: "…")',
        },
      ]);

      const dates = await load(
        'email,d\nc@x.com,9999-12-31T23:00:00-05:00\nd@x.com,0001-01-01T00:00:00+01:00\ne@x.com,9999-12-31T23:00:00Z\n',
        { schema: { d: 'date' } },
      );
      expect(dates).toMatchObject({ created: 1, rejected: 2 });
      expect((await service.get('e@x.com')).attributes.d).toBe('9999-12-31T23:00:00.000Z');

      for (const name of ['constructor', '__proto__', 'toString']) {
        await expect(load(`email,${name}\nf@x.com,x\n`)).rejects.toThrow(
          `column "${name}": expected an attribute name that is not a built-in object property`,
        );
        const row = await load(`{"email":"f@x.com",${JSON.stringify(name)}:"x"}\n`, {
          format: 'jsonl',
        });
        expect(row.errors[0]?.message).toMatch(/not a built-in object property/);
      }
      for (const schema of ['{"__proto__":"string"}', '{"attributes":{"__proto__":"date"}}'])
        expect(() => parseAttributeSchema(JSON.parse(schema))).toThrow(
          /__proto__: expected an attribute name that is not a built-in object property/,
        );
    });

    it('honours declared types from a schema and refuses clashes with the catalog', async () => {
      const result = await load('email,postal\na@x.com,28001\nb@x.com,SW1A 1AA\n', {
        schema: { postal: 'string' },
      });
      expect(result.rejected).toBe(0);
      await expect(
        load('email,postal\nc@x.com,1\n', { schema: { postal: 'number' } }),
      ).rejects.toThrow(/postal: already holds a string, not a number/);
    });

    it('keeps the key attribute of the first import', async () => {
      await load('email,id\na@x.com,1\n');
      await expect(load('id,email\n2,b@x.com\n', { key: 'id' })).rejects.toThrow(
        /unified on "email"/,
      );
    });

    it('reads ";" files, quoted fields with delimiters, quotes and line breaks, CRLF and a BOM', async () => {
      const text =
        '\uFEFFemail;note;city\r\n' +
        'a@x.com;"uno; dos ""tres""\r\nline two";"Madrid"\r\n' +
        '\r\n' +
        'b@x.com;plain;Bilbao\r\n';
      const result = await load(text);
      expect(result).toMatchObject({ created: 2, rejected: 0 });
      expect((await service.get('a@x.com')).attributes).toMatchObject({
        note: 'uno; dos "tres"\r\nline two',
        city: 'Madrid',
      });
      // The BOM is not part of the first column's name.
      expect((await service.attributes()).map((a) => a.name)).toContain('email');
    });

    it('names the line of a row after a multi-line quoted field', async () => {
      const result = await load('email,note\na@x.com,"one\ntwo"\nb@x.com,"x"y\n').catch(
        (error: unknown) => error,
      );
      expect(result).toBeInstanceOf(MalformedFileError);
      expect((result as MalformedFileError).line).toBe(4);
    });

    it('writes nothing from a file with an unterminated quote, naming the line', async () => {
      const promise = load('email,note\na@x.com,ok\nb@x.com,"never closed\nc@x.com,fine\n');
      await expect(promise).rejects.toThrow(
        'malformed file: line 3: unterminated quoted field (a " is never closed)',
      );
      expect(await service.count()).toBe(0);
      expect(await service.attributes()).toEqual([]);
    });

    it('writes nothing from a file with invalid UTF-8, naming the line', async () => {
      const rows = Array.from({ length: 600 }, (_, i) => `p${i}@x.com,ok`).join('\n');
      const bytes = Buffer.concat([
        Buffer.from(`email,name\n${rows}\nbad@x.com,`),
        Buffer.from([0xc3, 0x28]), // a cut two-byte sequence: Latin-1 "Ã(" mis-saved
        Buffer.from('\n'),
      ]);
      await expect(load(bytes)).rejects.toThrow(/line 602: invalid UTF-8/);
      expect(await service.count()).toBe(0);
    });

    it('refuses a header without the key column, and an empty file', async () => {
      await expect(load('mail,name\na@x.com,Ana\n')).rejects.toThrow(
        /line 1: no key column "email"/,
      );
      await expect(load('customer,name\nC1,Ana\n', { key: 'customer' })).resolves.toMatchObject({
        created: 1,
      });
      await get().db.deleteFrom('profile_attributes').execute();
      await expect(load('')).rejects.toThrow(/line 1: the file is empty/);
      await expect(load('email,email\na,b\n')).rejects.toThrow(/column "email" appears twice/);
    });

    it('imports JSON Lines, rejecting non-objects and ill-typed values, and refusing broken JSON', async () => {
      const result = await load(
        '{"email":"a@x.com","spend":10,"vip":true,"tags":null}\n' +
          '\n' +
          '[1,2]\n' +
          '{"email":"b@x.com","spend":"lots"}\n' +
          '{"spend":3}\n' +
          '{"email":"c@x.com","spend":2.5,"nested":{"a":1}}\n',
        { format: 'jsonl', schema: { spend: 'number' } },
      );
      expect(result.created).toBe(1);
      expect(result.errors).toEqual([
        { line: 3, message: 'expected a JSON object' },
        { line: 4, message: 'spend: expected a number, got "lots"' },
        { line: 5, message: 'email: the key is missing or empty' },
        { line: 6, message: 'nested: expected a single value, got a nested object or array' },
      ]);
      expect((await service.get('a@x.com')).attributes).toEqual({
        email: 'a@x.com',
        spend: 10,
        vip: true,
      });
      await expect(
        load('{"email":"z@x.com"}\n{"email": oops}\n', { format: 'jsonl' }),
      ).rejects.toThrow(/line 2: not valid JSON/);
      expect(await service.count()).toBe(1);
    });

    it('adds to the catalog only attributes an accepted row gave a value', async () => {
      const json = await load(
        '{"email":"a@x.com","spend":10}\n{"email":"b@x.com","nested":{"x":1},"arr":[1]}\n',
        { format: 'jsonl' },
      );
      expect(json).toMatchObject({ created: 1, rejected: 1 });
      const csv = await load('email,spend,extra\nc@x.com,lots,kept out\n', {
        schema: { spend: 'number' },
      });
      expect(csv).toMatchObject({ created: 0, rejected: 1 });
      expect((await service.attributes()).map((a) => a.name).sort()).toEqual(['email', 'spend']);
    });

    it('infers types from the first 1,000 rows exactly, and holds later rows to them', async () => {
      const rows = Array.from({ length: 1000 }, (_, i) => `p${i}@x.com,${i}`);
      const late = Array.from({ length: 5 }, (_, i) => `late${i}@x.com,x${i}`);
      const result = await load(`email,n\n${[...rows, ...late].join('\n')}\n`);
      expect(result).toMatchObject({ created: 1000, rejected: 5 });
      expect(result.errors[0]).toEqual({ line: 1002, message: 'n: expected a number, got "x0"' });
      const types = Object.fromEntries((await service.attributes()).map((a) => [a.name, a.type]));
      expect(types.n).toBe('number');
    });

    it('counts a profile created once when two imports bring its new key at the same moment', async () => {
      const keys = Array.from({ length: 600 }, (_, i) => `race${i}@x.com`);
      const [first, second] = await Promise.all([
        load(`email,tier\n${keys.map((k) => `${k},gold`).join('\n')}\n`),
        load(`email,spend\n${keys.map((k, i) => `${k},${i}`).join('\n')}\n`),
      ]);
      expect(first.created + second.created).toBe(600);
      expect(first.created + first.updated).toBe(600);
      expect(second.created + second.updated).toBe(600);
      expect(await service.count()).toBe(600);
      expect((await service.get('race7@x.com')).attributes).toMatchObject({
        tier: 'gold',
        spend: 7,
      });
    });

    it('streams many batches, merging repeated keys within and across batches', async () => {
      const rows = Array.from(
        { length: 3000 },
        (_, i) => `u${i % 2500}@x.com,${i},${i % 7 === 0 ? 'x' : i % 2 === 0}`,
      );
      const result = await load(`email,n,flag\n${rows.join('\n')}\n`, {
        batchSize: 40,
        schema: { flag: 'boolean' },
      });
      expect(result).toMatchObject({ created: 2214, updated: 357, rejected: 429 });
      expect(result.errors[0]).toEqual({
        line: 2,
        message: 'flag: expected true or false, got "x"',
      });
      expect(result.errors.at(-1)).toEqual({
        line: 2998,
        message: 'flag: expected true or false, got "x"',
      });
      expect((await service.get('u10@x.com')).attributes).toEqual({
        email: 'u10@x.com',
        n: 2510,
        flag: true,
      });
      expect(await service.count()).toBe(2214);
    });

    /** Each profile's updated_at, by key. */
    const updatedAts = async (): Promise<Record<string, string>> => {
      const rows = await get().db.selectFrom('profiles').select(['key', 'updated_at']).execute();
      return Object.fromEntries(rows.map((row) => [row.key, row.updated_at]));
    };
    /** Moves the clock on and returns the new time, as imports stamp it. */
    const tick = (): string => {
      clock.advance(60_000);
      return clock.now().toISOString();
    };

    it('moves updated_at only when an import changes a value', async () => {
      const file =
        'email,name,city,spend,vip,joined\n' +
        'ana@x.com,Ana,Madrid,12.50,yes,2024-03-01\n' +
        'bob@x.com,"Bob ""B"" Lee",León,0.1,no,2023-12-31T10:00:00Z\n' +
        'carl@x.com,Carl,,-3,,\n';
      const first = tick();
      expect(await load(file)).toMatchObject({ created: 3, updated: 0, rejected: 0 });
      const all = (at: string) => ({ 'ana@x.com': at, 'bob@x.com': at, 'carl@x.com': at });
      expect(await updatedAts()).toEqual(all(first));

      // The same file again: every row matches a profile (the counts say so), none changes.
      tick();
      expect(await load(file)).toEqual({
        created: 0,
        updated: 0,
        unchanged: 3,
        rejected: 0,
        errors: [],
      });
      expect(await updatedAts()).toEqual(all(first));

      // Some of the columns, in another order and with keys written differently: same values.
      tick();
      const subset = 'city,spend,email\nMadrid,12.5,ANA@x.com\nLeón,0.10,bob@x.com\n';
      expect(await load(subset)).toMatchObject({ created: 0, updated: 0, unchanged: 2 });
      expect(await updatedAts()).toEqual(all(first));

      // One changed value moves that profile only; a new attribute counts as a change too.
      const changed = tick();
      expect(
        await load('email,city,spend\nana@x.com,Sevilla,12.5\nbob@x.com,León,0.1\n'),
      ).toMatchObject({ created: 0, updated: 1, unchanged: 1 });
      expect(await updatedAts()).toEqual({ ...all(first), 'ana@x.com': changed });
      const added = tick();
      await load('email,tier\ncarl@x.com,gold\n');
      expect(await updatedAts()).toEqual({
        'ana@x.com': changed,
        'bob@x.com': first,
        'carl@x.com': added,
      });
      const ana = await service.get('ana@x.com');
      expect(ana).toMatchObject({ createdAt: first, updatedAt: changed });
      expect(ana.attributes).toMatchObject({ city: 'Sevilla', spend: 12.5, name: 'Ana' });
    });

    it('keeps updated_at when JSON Lines bring back the same values in another key order', async () => {
      const first = tick();
      await load('email,name,spend,vip,joined\nana@x.com,Ana,12.5,true,2024-03-01\n');
      tick();
      const result = await load(
        '{"joined":"2024-03-01","vip":true,"spend":12.5,"email":"Ana@X.com","name":"Ana"}\n' +
          '{"email":"ana@x.com","spend":12.5}\n',
        { format: 'jsonl' },
      );
      // Two rows for the one profile, neither changing a value: both unchanged.
      expect(result).toMatchObject({ created: 0, updated: 0, unchanged: 2, rejected: 0 });
      expect(await updatedAts()).toEqual({ 'ana@x.com': first });
      const changed = tick();
      await load('{"email":"ana@x.com","vip":false}\n', { format: 'jsonl' });
      expect(await updatedAts()).toEqual({ 'ana@x.com': changed });
    });

    it('keeps updated_at under --empty-clears when nothing changes; an erased value moves it', async () => {
      const file = 'email,name,city\nana@x.com,Ana,\nbob@x.com,Bob,Leeds\n';
      const first = tick();
      await load(file, { emptyClears: true });
      // A fresh profile keeps the empty cell as a null; merging into it drops that null.
      const stored = await get()
        .db.selectFrom('profiles')
        .select('attributes')
        .where('key', '=', 'ana@x.com')
        .executeTakeFirstOrThrow();
      const document: unknown =
        typeof stored.attributes === 'string' ? JSON.parse(stored.attributes) : stored.attributes;
      expect(document).toHaveProperty('city', null);

      tick();
      expect(await load(file, { emptyClears: true })).toMatchObject({
        created: 0,
        updated: 0,
        unchanged: 2,
      });
      expect(await updatedAts()).toEqual({ 'ana@x.com': first, 'bob@x.com': first });
      tick();
      await load(file, { emptyClears: true });
      expect(await updatedAts()).toEqual({ 'ana@x.com': first, 'bob@x.com': first });
      expect((await service.get('ana@x.com')).attributes).toEqual({
        email: 'ana@x.com',
        name: 'Ana',
      });

      // An empty cell for a value the profile does not hold changes nothing; one it holds does.
      const erased = tick();
      expect(
        await load('email,city\nana@x.com,\nbob@x.com,\n', { emptyClears: true }),
      ).toMatchObject({ created: 0, updated: 1, unchanged: 1 });
      expect(await updatedAts()).toEqual({ 'ana@x.com': first, 'bob@x.com': erased });
      expect((await service.get('bob@x.com')).attributes).toEqual({
        email: 'bob@x.com',
        name: 'Bob',
      });
    });

    it('finds profiles by text in the key or any value', async () => {
      await load(
        'email,city,loyalty_tier,spend,vip\nana@x.com,Madrid,,12.5,yes\nbob@y.com,León,"gold ""plus""",,no\n',
      );
      const keys = async (text: string) => (await service.search(text)).map((p) => p.key);
      expect(await keys('MADR')).toEqual(['ana@x.com']);
      expect(await keys('@y.com')).toEqual(['bob@y.com']);
      expect(await keys('león')).toEqual(['bob@y.com']);
      // Values only: not attribute names, nor the JSON around them.
      for (const text of ['loyalty', 'city', ':', ',', '_', '{']) {
        expect(await keys(text)).toEqual([]);
      }
      // Numbers and booleans as they read; characters JSON escapes, as they are.
      expect(await keys('12.5')).toEqual(['ana@x.com']);
      expect(await keys('true')).toEqual(['ana@x.com']);
      expect(await keys('"plus"')).toEqual(['bob@y.com']);
      await expect(service.get('nobody@x.com')).rejects.toThrow(
        /profile nobody@x.com was not found/,
      );
      await expect(service.search('  ')).rejects.toBeInstanceOf(ValidationError);
    });
  });
