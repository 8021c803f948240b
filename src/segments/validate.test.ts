import { describe, expect, it } from 'vitest';
import type { AttributeType } from '../profiles/attributes.js';
import { ValidationError } from '../shared/errors.js';
import type { Rule, RuleNode } from './rule.js';
import { resolveRule, type RuleContext } from './validate.js';

const attributes = new Map<string, AttributeType>([
  ['country', 'string'],
  ['total_spend', 'number'],
  ['opt_in', 'boolean'],
  ['signup', 'date'],
]);

function context(segments: Record<string, Rule> = {}, self?: string): RuleContext {
  return { attributes, segmentRule: (id) => Promise.resolve(segments[id]), self };
}

async function issuesOf(rule: unknown, ctx = context()): Promise<string[]> {
  try {
    await resolveRule(rule, ctx);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return error.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

const cond = (attribute: string, operator: string, value?: unknown): RuleNode =>
  (value === undefined ? { attribute, operator } : { attribute, operator, value }) as RuleNode;

describe('rule validation', () => {
  it('accepts a nested rule and normalises dates', async () => {
    const { resolved } = await resolveRule(
      {
        all: [
          cond('country', 'in', ['Spain', 'Mexico']),
          { any: [cond('total_spend', 'between', [10, 20]), { not: cond('opt_in', 'is_true') }] },
          cond('signup', 'after', '2024-03-01'),
        ],
      },
      context(),
    );
    expect(resolved).toMatchObject({
      kind: 'all',
      items: [
        { kind: 'text_in', values: ['Spain', 'Mexico'] },
        { kind: 'any' },
        { kind: 'compare', operator: 'gt', value: '2024-03-01T00:00:00.000Z' },
      ],
    });
  });

  it('points at the bad node', async () => {
    expect(
      await issuesOf({
        all: [
          cond('country', 'equals', 'Spain'),
          { any: [cond('total_spend', 'greater_than', 'x')] },
        ],
      }),
    ).toEqual(['all[1].any[0].value: expected a number']);
    expect(await issuesOf({ all: [cond('colour', 'equals', 'red')] })).toEqual([
      'all[0].attribute: unknown attribute "colour"',
    ]);
    expect(await issuesOf({ any: [cond('country', 'greater_than', 3)] })).toEqual([
      'any[0].operator: greater_than does not apply to the text attribute "country" (use one of equals, not_equals, contains, not_contains, starts_with, ends_with, in, not_in, is_empty, is_not_empty)',
    ]);
    expect(await issuesOf({ all: [cond('country', 'contains')] })).toEqual([
      'all[0].value: expected a non-empty text',
    ]);
    expect(await issuesOf({ all: [cond('opt_in', 'is_true', true)] })).toEqual([
      'all[0].value: is_true takes no value',
    ]);
    expect(await issuesOf({ all: [cond('signup', 'before', 'yesterday')] })).toEqual([
      'all[0].value: expected a date such as 2024-03-01',
    ]);
    expect(await issuesOf({ all: [cond('total_spend', 'in', [1, 'two'])] })).toEqual([
      'all[0].value[1]: expected a number',
    ]);
    expect(await issuesOf({ all: [cond('total_spend', 'between', [1])] })).toEqual([
      'all[0].value: expected a list of two numbers [low, high]',
    ]);
    expect(await issuesOf({ all: [cond('signup', 'within_last_days', -1)] })).toEqual([
      'all[0].value: expected a number of days (0 or more)',
    ]);
  });

  it('reports shape errors at the node zod failed on', async () => {
    expect(
      await issuesOf({ all: [{ attribute: 'country', operator: 'resembles', value: 1 }] }),
    ).toEqual([expect.stringMatching(/^all\[0\]\.operator: expected one of equals, /)]);
    expect(await issuesOf({ all: [] })).toEqual(['all: expected at least one condition']);
    expect(await issuesOf({ all: [{ any: [{ nonsense: 1 }] }] })).toEqual([
      expect.stringMatching(/^all\[0\]\.any\[0\]: expected a group/),
    ]);
    expect(await issuesOf([cond('country', 'equals', 'x')])).toEqual([
      expect.stringMatching(/^: expected a rule group|expected a rule group/),
    ]);
  });

  it('limits nesting to five levels', async () => {
    let rule: unknown = cond('country', 'equals', 'Spain');
    for (let i = 0; i < 5; i++) rule = { all: [rule] };
    expect(await issuesOf(rule)).toEqual([]);
    expect(await issuesOf({ not: rule })).toEqual([
      'not.all[0].all[0].all[0].all[0]: nested deeper than 5 levels',
    ]);
  });

  it('inlines referenced segments and rejects cycles and unknown segments', async () => {
    const segments: Record<string, Rule> = {
      seg_a: { all: [cond('country', 'equals', 'Spain')] },
      seg_b: { any: [{ segment: 'seg_a' }, cond('opt_in', 'is_true')] },
      seg_c: { all: [{ segment: 'seg_b' }] },
    };
    const { resolved } = await resolveRule(
      { all: [{ not: { segment: 'seg_b' } }] },
      context(segments),
    );
    expect(resolved).toMatchObject({
      kind: 'all',
      items: [
        { kind: 'not', item: { kind: 'any', items: [{ kind: 'all' }, { kind: 'boolean' }] } },
      ],
    });
    // Updating seg_a to include seg_c would close the loop a -> c -> b -> a.
    expect(await issuesOf({ all: [{ segment: 'seg_c' }] }, context(segments, 'seg_a'))).toEqual([
      'all[0].segment: segment seg_c cannot be used: all[0].segment: segment seg_b cannot be used: any[0].segment: segment seg_a refers back to itself (seg_a -> seg_c -> seg_b -> seg_a)',
    ]);
    expect(await issuesOf({ all: [{ segment: 'seg_zzz' }] }, context(segments))).toEqual([
      'all[0].segment: there is no segment seg_zzz',
    ]);
  });
});
