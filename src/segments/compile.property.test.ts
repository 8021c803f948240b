import fc from 'fast-check';
import { expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/databases.js';
import type { AttributeType, AttributeValue } from '../profiles/attributes.js';
import { ProfileStore } from '../profiles/profile-store.js';
import { compileRule } from './compile.js';
import { evaluateRule } from './evaluate.js';
import type { RuleNode } from './rule.js';
import { SegmentStore } from './segment-store.js';
import { resolveRule } from './validate.js';

/**
 * The SQL a rule compiles to selects exactly the profiles the in-memory evaluator accepts, on
 * SQLite and on PostgreSQL, for generated rules over generated profiles: including absent
 * values, negations, mixed case and non-ASCII text, decimals and date boundaries.
 */

const now = new Date('2026-11-29T12:00:00.000Z');
const catalog = new Map<string, AttributeType>([
  ['city', 'string'],
  ['name', 'string'],
  ['spend', 'number'],
  ['vip', 'boolean'],
  ['joined', 'date'],
]);

const texts = [
  'Madrid',
  'MADRID',
  'madrid',
  'León',
  'LEÓN',
  'Ávila',
  'ávila',
  'a b',
  'ab',
  'B',
  'x%_',
];
const needles = ['a', 'A', 'é', 'É', 'ma', 'ID', 'b', '%', '_', 'ón'];
const numbers = [-2.5, 0, 1, 1.5, 10, 99.99, 100, 1e6];
const dates = [
  '2026-11-29T12:00:00.000Z',
  '2026-11-29T12:00:00.001Z',
  '2026-11-22T12:00:00.000Z',
  '2026-11-22T11:59:59.999Z',
  '2026-01-01T00:00:00.000Z',
  '2019-05-05T00:00:00.000Z',
];

const profileArb = fc.record(
  {
    city: fc.constantFrom(...texts),
    name: fc.constantFrom(...texts),
    spend: fc.constantFrom(...numbers),
    vip: fc.boolean(),
    joined: fc.constantFrom(...dates),
  },
  { requiredKeys: [] },
);

const condition: fc.Arbitrary<RuleNode> = fc.oneof(
  fc.record({
    attribute: fc.constantFrom('city', 'name'),
    operator: fc.constantFrom('equals', 'not_equals'),
    value: fc.constantFrom(...texts),
  }),
  fc.record({
    attribute: fc.constantFrom('city', 'name'),
    operator: fc.constantFrom('contains', 'not_contains', 'starts_with', 'ends_with'),
    value: fc.constantFrom(...needles, ...texts),
  }),
  fc.record({
    attribute: fc.constantFrom('city', 'name'),
    operator: fc.constantFrom('in', 'not_in'),
    value: fc.array(fc.constantFrom(...texts), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    attribute: fc.constant('spend'),
    operator: fc.constantFrom(
      'equals',
      'not_equals',
      'greater_than',
      'greater_or_equal',
      'less_than',
      'less_or_equal',
    ),
    value: fc.constantFrom(...numbers),
  }),
  fc.record({
    attribute: fc.constant('spend'),
    operator: fc.constantFrom('in', 'not_in', 'between'),
    value: fc.tuple(fc.constantFrom(...numbers), fc.constantFrom(...numbers)),
  }),
  fc.record({
    attribute: fc.constant('joined'),
    operator: fc.constantFrom('before', 'after', 'greater_or_equal', 'less_or_equal', 'equals'),
    value: fc.constantFrom(...dates),
  }),
  fc.record({
    attribute: fc.constant('joined'),
    operator: fc.constantFrom('within_last_days', 'not_within_last_days'),
    value: fc.constantFrom(0, 7, 30, 3650),
  }),
  fc.record({
    attribute: fc.constant('vip'),
    operator: fc.constantFrom('is_true', 'is_false'),
  }),
  fc.record({
    attribute: fc.constant('vip'),
    operator: fc.constantFrom('equals', 'not_equals'),
    value: fc.boolean(),
  }),
  fc.record({
    attribute: fc.constantFrom('city', 'spend', 'vip', 'joined'),
    operator: fc.constantFrom('is_empty', 'is_not_empty'),
  }),
);

const { node } = fc.letrec<{ node: RuleNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    condition,
    fc.record({ all: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ any: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ not: tie('node') }),
  ),
}));

const ruleArb = fc.oneof(
  fc.record({ all: fc.array(node, { minLength: 1, maxLength: 3 }) }),
  fc.record({ any: fc.array(node, { minLength: 1, maxLength: 3 }) }),
  fc.record({ not: node }),
);

function depth(rule: unknown): number {
  if (typeof rule !== 'object' || rule === null) return 0;
  const r = rule as Record<string, unknown>;
  if (Array.isArray(r.all)) return 1 + Math.max(...r.all.map(depth));
  if (Array.isArray(r.any)) return 1 + Math.max(...r.any.map(depth));
  if (r.not) return 1 + depth(r.not);
  return 0;
}

describeEachDatabase('rule compilation (property)', (get) => {
  it('selects exactly the profiles the in-memory evaluation accepts', async () => {
    const { db } = get();
    const profileStore = new ProfileStore(db);
    const segmentStore = new SegmentStore(db);
    let serial = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(profileArb, { minLength: 1, maxLength: 25 }),
        ruleArb.filter((rule) => depth(rule) <= 5),
        async (profiles, rule) => {
          await db.deleteFrom('profiles').execute();
          const rows = profiles.map((attributes, i) => ({
            id: `prf_${String(++serial).padStart(8, '0')}`,
            key: `p${i}@x.com`,
            document: JSON.stringify(attributes),
          }));
          await profileStore.upsertMany(rows, now.toISOString());
          const { resolved } = await resolveRule(rule, {
            attributes: catalog,
            segmentRule: () => Promise.resolve(undefined),
          });
          const predicate = compileRule(resolved, { dialect: get().dialect, now });
          const { sample } = await segmentStore.preview(predicate, 1000);
          const fromSql = sample.map((m) => m.key).sort();
          const inMemory = rows
            .filter((_, i) =>
              evaluateRule(resolved, profiles[i] as Record<string, AttributeValue>, now),
            )
            .map((row) => row.key)
            .sort();
          expect(fromSql).toEqual(inMemory);
        },
      ),
      { numRuns: 80 },
    );
  });
});
