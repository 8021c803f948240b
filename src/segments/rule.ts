import { z } from 'zod';
import type { Issue } from '../shared/errors.js';
import { ValidationError } from '../shared/errors.js';
import { formatPath } from '../shared/validation.js';

/**
 * The segment rule model, declared once as a zod schema. A rule is a tree: groups `{"all":[...]}`
 * and `{"any":[...]}`, negation `{"not": X}`, conditions on one attribute, and references to other
 * segments `{"segment":"seg_..."}`. The schema checks the shape; validate.ts checks the meaning
 * against the attribute catalog (types, values, references, depth).
 */

export const stringOperators = [
  'equals',
  'not_equals',
  'contains',
  'not_contains',
  'starts_with',
  'ends_with',
  'in',
  'not_in',
] as const;
export const orderOperators = [
  'greater_than',
  'greater_or_equal',
  'less_than',
  'less_or_equal',
  'between',
] as const;
export const booleanOperators = ['is_true', 'is_false'] as const;
export const presenceOperators = ['is_empty', 'is_not_empty'] as const;
export const dateOperators = [
  'before',
  'after',
  'within_last_days',
  'not_within_last_days',
] as const;

export const operators = [
  ...stringOperators,
  ...orderOperators,
  ...booleanOperators,
  ...presenceOperators,
  ...dateOperators,
] as const;
export type Operator = (typeof operators)[number];

/** The deepest nesting of groups (`all`, `any`, `not`) a rule may have. */
export const MAX_RULE_DEPTH = 5;

export type ConditionValue = string | number | boolean | (string | number)[];

export interface Condition {
  attribute: string;
  operator: Operator;
  value?: ConditionValue;
}

export interface SegmentReference {
  segment: string;
}

export type RuleNode =
  { all: RuleNode[] } | { any: RuleNode[] } | { not: RuleNode } | Condition | SegmentReference;

/** A whole rule: a group, or a negated node. */
export type Rule = { all: RuleNode[] } | { any: RuleNode[] } | { not: RuleNode };

const valueSchema = z.union(
  [z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))],
  { message: 'expected a string, a number, true/false or a list' },
);

export const conditionSchema = z.strictObject({
  attribute: z.string({ message: 'expected an attribute name' }).min(1, {
    message: 'expected an attribute name',
  }),
  operator: z.enum(operators, { message: `expected one of ${operators.join(', ')}` }),
  value: valueSchema.optional(),
});

export const segmentReferenceSchema = z.strictObject({
  segment: z
    .string({ message: 'expected a segment id' })
    .min(1, { message: 'expected a segment id' }),
});

const groupItems = () =>
  z.array(ruleNodeSchema, { message: 'expected a list of conditions' }).min(1, {
    message: 'expected at least one condition',
  });

const allSchema = z.strictObject({ all: z.lazy(groupItems) });
const anySchema = z.strictObject({ any: z.lazy(groupItems) });
const notSchema = z.strictObject({ not: z.lazy(() => ruleNodeSchema) });

// The branches in the order `branchFor` names them.
const branches = [
  allSchema,
  anySchema,
  notSchema,
  segmentReferenceSchema,
  conditionSchema,
] as const;

export const ruleNodeSchema: z.ZodType<RuleNode> = z.lazy(() => z.union(branches));

export const ruleSchema: z.ZodType<Rule> = z.union([allSchema, anySchema, notSchema]);

/** Which branch an input node means, from its keys: so errors speak about that branch only. */
function branchFor(input: unknown): number | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return undefined;
  if ('all' in input) return 0;
  if ('any' in input) return 1;
  if ('not' in input) return 2;
  if ('segment' in input) return 3;
  if ('attribute' in input || 'operator' in input) return 4;
  return undefined;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let node = input;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/**
 * Turns zod's issues for a rule into issues that point at the bad node. A union failure (zod
 * cannot know which kind of node was meant) is resolved by the node's keys, so the user reads
 * `all[1].any[0].value: expected a number` instead of "invalid input" at the top.
 */
export function ruleIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  base: readonly PropertyKey[] = [],
): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length === branches.length) {
      const node = valueAt(input, path);
      const branch = branchFor(node);
      const chosen = branch === undefined ? undefined : issue.errors[branch];
      if (chosen) {
        out.push(...ruleIssues(chosen, input, path));
        continue;
      }
      out.push({
        path: formatPath(path),
        message:
          'expected a group {"all":[...]}, {"any":[...]}, {"not":...}, a condition {"attribute","operator","value"} or {"segment":"seg_..."}',
      });
      continue;
    }
    if (issue.code === 'invalid_union' && issue.errors.length === 3 && path.length === 0) {
      const branch = branchFor(input);
      const chosen = branch !== undefined && branch < 3 ? issue.errors[branch] : undefined;
      if (chosen) {
        out.push(...ruleIssues(chosen, input, path));
        continue;
      }
      out.push({
        path: '',
        message: 'expected a rule group {"all":[...]}, {"any":[...]} or {"not":...}',
      });
      continue;
    }
    out.push({ path: formatPath(path), message: lowerFirst(issue.message) });
  }
  return out;
}

/** Parses a rule's shape (not its meaning), or throws a ValidationError pointing at the bad node. */
export function parseRuleShape(input: unknown): Rule {
  const result = ruleSchema.safeParse(input);
  if (result.success) return result.data;
  throw ValidationError.fromIssues(
    'invalid rule',
    ruleIssues(result.error.issues, input),
    'invalid_rule',
  );
}

function lowerFirst(text: string): string {
  return text.length > 0 ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}
