import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { demoColumns, demoProfileLines } from './demo-data.js';
import { decodeUtf8, readCsv, type CsvRecord } from './readers.js';

async function records(text: string, chunk: number): Promise<CsvRecord[]> {
  const bytes = Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  const chunks = () => Readable.from(parts);
  const out: CsvRecord[] = [];
  for await (const batch of readCsv(decodeUtf8(chunks() as AsyncIterable<Buffer>)))
    out.push(...batch);
  return out;
}

const cell = fc.oneof(
  fc.constantFrom('', 'a', 'Ávila', 'x y', '1,5', 'a;b', 'say "hi"', 'two\nlines', 'cr\r\nlf', '€'),
  fc.string({ maxLength: 6 }),
);

describe('CSV reader', () => {
  it('reads what csv-parse reads, whatever the chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(cell, { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(',', ';'),
        fc.constantFrom('\n', '\r\n'),
        fc.integer({ min: 1, max: 40 }),
        async (rows, delimiter, eol, chunk) => {
          const width = rows[0]?.length ?? 2;
          // A header naming every column keeps the delimiter detectable, as in real files.
          const header = Array.from({ length: width }, (_, i) => `c${i}`);
          const all = [header, ...rows.map((r) => header.map((_, i) => r[i] ?? ''))];
          const text = all
            .map((r) =>
              r
                .map((v) => (/[",;\r\n]/.test(v) || v === '' ? `"${v.replace(/"/g, '""')}"` : v))
                .join(delimiter),
            )
            .join(eol);
          const expected: string[][] = parse(text, { delimiter, relax_column_count: true });
          const got = await records(text, chunk);
          expect(got.map((r) => r.fields)).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('numbers records by the line they start on', async () => {
    const got = await records('h1,h2\n"a\nb",c\n\nd,e\n', 3);
    expect(got.map((r) => r.line)).toEqual([1, 2, 5]);
  });
});

describe('demo data', () => {
  it('is deterministic for a seed, with unique emails and realistic values', () => {
    const a = [...demoProfileLines(500, 9)];
    expect([...demoProfileLines(500, 9)]).toEqual(a);
    expect([...demoProfileLines(500, 10)]).not.toEqual(a);
    const rows = parse<Record<string, string>>(a.join(''), { columns: true });
    expect(Object.keys(rows[0] ?? {})).toEqual([...demoColumns]);
    const emails = rows.map((r) => (r.email ?? '').trim().toLowerCase());
    expect(new Set(emails).size).toBe(500);
    expect(emails.every((e) => /^[a-z]+\.[a-z']*[a-z]+\d+@[a-z.]+$/.test(e.replace("'", '')))).toBe(
      true,
    );
    const countries = new Set(rows.map((r) => r.country));
    expect(countries).toContain('Spain');
    expect(countries).toContain('United States');
    expect(rows.some((r) => r.email !== (r.email ?? '').trim().toLowerCase())).toBe(true); // a few messy
    expect(rows.every((r) => /^\d{4}-\d{2}-\d{2}$/.test(r.signup_date ?? ''))).toBe(true);
    expect(rows.every((r) => ['true', 'false'].includes(r.newsletter_opt_in ?? ''))).toBe(true);
  });
});
