import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

// Each spawn costs about a second: the steps are combined into few, long tests.
describe('segsync profiles, segments and demo-data', { timeout: 120_000 }, () => {
  let cwd: string;
  const run = (args: string[]) => runCli(args, { cwd });

  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-segments-'));
  });
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('writes deterministic demo data and imports it, merging a second source', async () => {
    const first = await run(['demo-data', '--profiles', '300', '--out', 'demo.csv', '--seed', '5']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/wrote 300 profiles to demo\.csv/);
    const csv = fs.readFileSync(path.join(cwd, 'demo.csv'), 'utf8');
    const lines = csv.trim().split('\n');
    expect(lines).toHaveLength(301);
    expect(lines[0]).toBe(
      'email,first_name,last_name,country,state,city,postal_code,signup_date,total_spend,loyalty_tier,newsletter_opt_in',
    );
    expect(csv).toMatch(/Spain/);
    expect(csv).toMatch(/United States|United Kingdom/);

    const imported = await run(['profiles', 'import', 'demo.csv', '--json']);
    expect(imported.code).toBe(0);
    expect(JSON.parse(imported.stdout)).toEqual({
      created: 300,
      updated: 0,
      unchanged: 0,
      rejected: 0,
      errors: [],
    });

    // A second source in JSON Lines with a messy key, a new attribute and one bad row.
    const firstEmail = (lines[1] ?? '').split(',')[0]?.trim() ?? '';
    fs.writeFileSync(
      path.join(cwd, 'shop.jsonl'),
      `{"email":"  ${firstEmail.toUpperCase()} ","orders":3}\n{"email":"new@example.com","orders":1}\n{"email":"bad@example.com","total_spend":"lots"}\n`,
    );
    const merged = await run(['profiles', 'import', 'shop.jsonl', '--json']);
    expect(merged.code).toBe(3); // partial: one row rejected
    expect(JSON.parse(merged.stdout)).toEqual({
      created: 1,
      updated: 1,
      unchanged: 0,
      rejected: 1,
      errors: [{ line: 3, message: 'total_spend: expected a number, got "lots"' }],
    });

    const count = await run(['profiles', 'count']);
    expect(count.stdout.trim()).toBe('301');
    const shown = await run(['profiles', 'show', firstEmail.toUpperCase(), '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      key: firstEmail.toLowerCase(),
      attributes: { orders: 3 },
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
    });
    const catalog = JSON.parse((await run(['profiles', 'attributes', '--json'])).stdout) as unknown;
    expect(catalog).toContainEqual({ name: 'email', type: 'string', is_key: true });
    expect(catalog).toContainEqual({ name: 'orders', type: 'number', is_key: false });
    const found = await run(['profiles', 'search', 'new@example', '--json']);
    expect(JSON.parse(found.stdout)).toMatchObject({ key: 'new@example.com' });
  });

  it('refuses a malformed file without writing anything', async () => {
    fs.writeFileSync(path.join(cwd, 'broken.csv'), 'email,name\nx@example.com,"open\n');
    const broken = await run(['profiles', 'import', 'broken.csv', '--json']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/malformed file: line 2: unterminated quoted field/);
    expect((await run(['profiles', 'count'])).stdout.trim()).toBe('301');
  });

  it('creates, previews, refreshes, lists, shows and deletes segments', async () => {
    const rule = {
      all: [
        { attribute: 'country', operator: 'equals', value: 'spain' },
        { attribute: 'newsletter_opt_in', operator: 'is_true' },
      ],
    };
    fs.writeFileSync(path.join(cwd, 'rule.json'), JSON.stringify(rule));
    const created = await run([
      'segments',
      'create',
      '--name',
      'Spain subscribers',
      '--rule',
      '@rule.json',
    ]);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^seg_[0-9a-z]{26}$/);

    const other = await run([
      'segments',
      'create',
      '--name',
      'Big spenders',
      '--rule',
      '{"any":[{"attribute":"total_spend","operator":"greater_than","value":1000}]}',
      '--json',
    ]);
    const otherId = (JSON.parse(other.stdout) as { id: string }).id;

    const preview = await run(['segments', 'preview', '--rule', JSON.stringify(rule), '--json']);
    const previewed = JSON.parse(preview.stdout) as { count: number; sample: unknown[] };
    expect(previewed.count).toBeGreaterThan(0);
    expect(previewed.sample.length).toBe(Math.min(100, previewed.count));

    const refreshed = await run(['segments', 'refresh', '--all', '--json']);
    expect(refreshed.code).toBe(0);
    const results = refreshed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; count: number });
    expect(results.map((r) => r.id).sort()).toEqual([id, otherId].sort());
    expect(results.find((r) => r.id === id)).toEqual({ id, count: previewed.count });

    const list = await run(['segments', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ id, member_count: previewed.count })]),
    );
    const shown = await run(['segments', 'show', id]);
    expect(shown.stdout).toMatch(new RegExp(`${previewed.count} members at`));

    const invalid = await run([
      'segments',
      'preview',
      '--rule',
      '{"all":[{"attribute":"country","operator":"equals","value":"Spain"},{"any":[{"attribute":"total_spend","operator":"less_than","value":"x"}]}]}',
    ]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/all\[1\]\.any\[0\]\.value: expected a number/);

    // Edited: a new name and rule; the members stay as last refreshed until the next refresh.
    const edited = await run([
      'segments',
      'edit',
      otherId,
      '--name',
      'Very big spenders',
      '--rule',
      '{"any":[{"attribute":"total_spend","operator":"greater_than","value":100000}]}',
      '--json',
    ]);
    expect(edited.code).toBe(0);
    expect(JSON.parse(edited.stdout)).toMatchObject({
      id: otherId,
      name: 'Very big spenders',
      rule: { any: [{ value: 100000 }] },
    });
    const taken = await run(['segments', 'edit', otherId, '--name', 'Spain subscribers']);
    expect(taken.code).toBe(5);
    const selfReference = await run([
      'segments',
      'edit',
      otherId,
      '--rule',
      JSON.stringify({ segment: otherId }),
    ]);
    expect(selfReference.code).toBe(2);

    const deleted = await run(['segments', 'delete', otherId]);
    expect(deleted.code).toBe(0);
    const missing = await run(['segments', 'show', otherId]);
    expect(missing.code).toBe(4);
  });
});
