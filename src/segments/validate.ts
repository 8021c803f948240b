import { parseDate, type AttributeType } from '../profiles/attributes.js';
import type { Issue } from '../shared/errors.js';
import { ValidationError } from '../shared/errors.js';
import {
  booleanOperators,
  dateOperators,
  MAX_RULE_DEPTH,
  orderOperators,
  parseRuleShape,
  presenceOperators,
  stringOperators,
  type Condition,
  type Operator,
  type Rule,
  type RuleNode,
} from './rule.js';

/**
 * A rule checked against the attribute catalog and with segment references replaced by the rules
 * they name: what both the SQL compiler and the in-memory evaluator read. Values are normalised
 * (dates as ISO-8601 UTC text), so the two read the same thing.
 */
export type ResolvedRule =
  | { kind: 'all'; items: ResolvedRule[] }
  | { kind: 'any'; items: ResolvedRule[] }
  | { kind: 'not'; item: ResolvedRule }
  | ResolvedCondition;

export type ResolvedCondition =
  | { kind: 'text'; attribute: string; operator: TextOperator; value: string }
  | { kind: 'text_in'; attribute: string; negate: boolean; values: string[] }
  | { kind: 'number_in'; attribute: string; negate: boolean; values: number[] }
  | {
      kind: 'compare';
      attribute: string;
      type: 'number' | 'date';
      operator: CompareOperator;
      value: number | string;
    }
  | {
      kind: 'between';
      attribute: string;
      type: 'number' | 'date';
      low: number | string;
      high: number | string;
    }
  | { kind: 'boolean'; attribute: string; value: boolean }
  | { kind: 'present'; attribute: string; type: AttributeType; negate: boolean }
  | { kind: 'within_days'; attribute: string; days: number; negate: boolean };

/** Case-insensitive text operators; the value is already ASCII-lower-cased by the compiler/evaluator. */
export type TextOperator =
  'equals' | 'not_equals' | 'contains' | 'not_contains' | 'starts_with' | 'ends_with';
export type CompareOperator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';

/** What validation needs to know besides the rule. */
export interface RuleContext {
  /** The attribute catalog: type by name. */
  attributes: ReadonlyMap<string, AttributeType>;
  /** The stored rule of a segment, or undefined when there is no such segment. */
  segmentRule(id: string): Promise<Rule | undefined>;
  /** The segment being defined (when updating one): a reference back to it is a cycle. */
  self?: string;
}

/**
 * Parses and checks a rule: its shape (zod), then its meaning: known attributes, operators that
 * fit the attribute's type, values present and of the right type, nesting of at most
 * MAX_RULE_DEPTH, references to existing segments without cycles. Throws a ValidationError whose
 * issues point at the bad nodes (`all[1].any[0].value: expected a number`).
 */
export async function resolveRule(
  input: unknown,
  context: RuleContext,
): Promise<{ rule: Rule; resolved: ResolvedRule }> {
  const rule = parseRuleShape(input);
  const issues: Issue[] = [];
  const resolved = await resolveNode(
    rule,
    '',
    0,
    context,
    context.self ? [context.self] : [],
    issues,
  );
  if (issues.length > 0 || !resolved)
    throw ValidationError.fromIssues('invalid rule', issues, 'invalid_rule');
  return { rule, resolved };
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

async function resolveNode(
  node: RuleNode,
  path: string,
  depth: number,
  context: RuleContext,
  chain: string[],
  issues: Issue[],
): Promise<ResolvedRule | undefined> {
  if ('all' in node || 'any' in node) {
    const kind = 'all' in node ? 'all' : 'any';
    const items = 'all' in node ? node.all : node.any;
    if (depth + 1 > MAX_RULE_DEPTH) {
      issues.push({ path: path || kind, message: `nested deeper than ${MAX_RULE_DEPTH} levels` });
      return undefined;
    }
    const resolved: ResolvedRule[] = [];
    for (const [index, item] of items.entries()) {
      const child = await resolveNode(
        item,
        join(join(path, kind), index),
        depth + 1,
        context,
        chain,
        issues,
      );
      if (child) resolved.push(child);
    }
    return { kind, items: resolved };
  }
  if ('not' in node) {
    if (depth + 1 > MAX_RULE_DEPTH) {
      issues.push({ path: path || 'not', message: `nested deeper than ${MAX_RULE_DEPTH} levels` });
      return undefined;
    }
    const item = await resolveNode(node.not, join(path, 'not'), depth + 1, context, chain, issues);
    return item && { kind: 'not', item };
  }
  if ('segment' in node) {
    const at = join(path, 'segment');
    if (chain.includes(node.segment)) {
      issues.push({
        path: at,
        message: `segment ${node.segment} refers back to itself (${[...chain, node.segment].join(' -> ')})`,
      });
      return undefined;
    }
    const referenced = await context.segmentRule(node.segment);
    if (!referenced) {
      issues.push({ path: at, message: `there is no segment ${node.segment}` });
      return undefined;
    }
    // The referenced rule was valid when stored; re-resolve it against today's catalog.
    const inner: Issue[] = [];
    const resolved = await resolveNode(referenced, '', 0, context, [...chain, node.segment], inner);
    if (inner.length > 0) {
      issues.push({
        path: at,
        message: `segment ${node.segment} cannot be used: ${inner.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
      });
      return undefined;
    }
    return resolved;
  }
  return resolveCondition(node, path, context, issues);
}

// Which operators fit which attribute type, built from the operator groups of rule.ts.
const TYPE_OPERATORS: Record<AttributeType, readonly Operator[]> = {
  string: [...stringOperators, ...presenceOperators],
  number: ['equals', 'not_equals', 'in', 'not_in', ...orderOperators, ...presenceOperators],
  boolean: ['equals', 'not_equals', ...booleanOperators, ...presenceOperators],
  date: ['equals', 'not_equals', ...orderOperators, ...dateOperators, ...presenceOperators],
};

const TYPE_NAMES: Record<AttributeType, string> = {
  string: 'text',
  number: 'number',
  boolean: 'true/false',
  date: 'date',
};

const NO_VALUE: readonly Operator[] = ['is_true', 'is_false', 'is_empty', 'is_not_empty'];

function resolveCondition(
  node: Condition,
  path: string,
  context: RuleContext,
  issues: Issue[],
): ResolvedRule | undefined {
  const { attribute, operator } = node;
  const type = context.attributes.get(attribute);
  if (!type) {
    issues.push({ path: join(path, 'attribute'), message: `unknown attribute "${attribute}"` });
    return undefined;
  }
  if (!TYPE_OPERATORS[type].includes(operator)) {
    issues.push({
      path: join(path, 'operator'),
      message: `${operator} does not apply to the ${TYPE_NAMES[type]} attribute "${attribute}" (use one of ${TYPE_OPERATORS[type].join(', ')})`,
    });
    return undefined;
  }
  const at = join(path, 'value');
  const fail = (message: string): undefined => {
    issues.push({ path: at, message });
    return undefined;
  };
  if (NO_VALUE.includes(operator)) {
    if (node.value !== undefined) return fail(`${operator} takes no value`);
    if (operator === 'is_true' || operator === 'is_false') {
      return { kind: 'boolean', attribute, value: operator === 'is_true' };
    }
    return { kind: 'present', attribute, type, negate: operator === 'is_empty' };
  }
  const value = node.value;
  if (value === undefined) return fail(`expected ${expectedValue(type, operator)}`);
  const scalar = (raw: unknown): string | number | boolean | undefined => {
    switch (type) {
      case 'string':
        return typeof raw === 'string' && raw !== '' ? raw : undefined;
      case 'number':
        return typeof raw === 'number' && Number.isFinite(raw) ? raw : undefined;
      case 'boolean':
        return typeof raw === 'boolean' ? raw : undefined;
      case 'date':
        return typeof raw === 'string' ? parseDate(raw.trim()) : undefined;
    }
  };
  if (operator === 'in' || operator === 'not_in') {
    if (!Array.isArray(value) || value.length === 0)
      return fail(`expected a non-empty list of ${type === 'number' ? 'numbers' : 'texts'}`);
    const values = value.map(scalar);
    const bad = values.findIndex((v) => v === undefined);
    if (bad !== -1) {
      issues.push({
        path: `${at}[${bad}]`,
        message: `expected ${type === 'number' ? 'a number' : 'a non-empty text'}`,
      });
      return undefined;
    }
    return type === 'number'
      ? {
          kind: 'number_in',
          attribute,
          negate: operator === 'not_in',
          values: values as number[],
        }
      : { kind: 'text_in', attribute, negate: operator === 'not_in', values: values as string[] };
  }
  if (operator === 'between') {
    if (!Array.isArray(value) || value.length !== 2)
      return fail(`expected a list of two ${type === 'number' ? 'numbers' : 'dates'} [low, high]`);
    const [low, high] = value.map(scalar);
    if (low === undefined || high === undefined) {
      issues.push({
        path: `${at}[${low === undefined ? 0 : 1}]`,
        message: `expected ${expectedValue(type, 'equals')}`,
      });
      return undefined;
    }
    return {
      kind: 'between',
      attribute,
      type: type as 'number' | 'date',
      low: low as number | string,
      high: high as number | string,
    };
  }
  if (operator === 'within_last_days' || operator === 'not_within_last_days') {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      return fail('expected a number of days (0 or more)');
    return {
      kind: 'within_days',
      attribute,
      days: value,
      negate: operator === 'not_within_last_days',
    };
  }
  const single = scalar(value);
  if (single === undefined) return fail(`expected ${expectedValue(type, operator)}`);
  switch (operator) {
    case 'equals':
    case 'not_equals':
      if (type === 'string') return { kind: 'text', attribute, operator, value: single as string };
      if (type === 'boolean') {
        const wanted = operator === 'equals' ? (single as boolean) : !(single as boolean);
        // not_equals true also matches profiles without a value: keep that by negating equals.
        return operator === 'equals'
          ? { kind: 'boolean', attribute, value: wanted }
          : { kind: 'not', item: { kind: 'boolean', attribute, value: single as boolean } };
      }
      return {
        kind: 'compare',
        attribute,
        type,
        operator: operator === 'equals' ? 'eq' : 'ne',
        value: single as number | string,
      };
    case 'contains':
    case 'not_contains':
    case 'starts_with':
    case 'ends_with':
      return { kind: 'text', attribute, operator, value: single as string };
    case 'greater_than':
    case 'after':
      return {
        kind: 'compare',
        attribute,
        type: type as 'number' | 'date',
        operator: 'gt',
        value: single as number | string,
      };
    case 'greater_or_equal':
      return {
        kind: 'compare',
        attribute,
        type: type as 'number' | 'date',
        operator: 'ge',
        value: single as number | string,
      };
    case 'less_than':
    case 'before':
      return {
        kind: 'compare',
        attribute,
        type: type as 'number' | 'date',
        operator: 'lt',
        value: single as number | string,
      };
    case 'less_or_equal':
      return {
        kind: 'compare',
        attribute,
        type: type as 'number' | 'date',
        operator: 'le',
        value: single as number | string,
      };
    case 'is_true':
    case 'is_false':
    case 'is_empty':
    case 'is_not_empty':
      // Handled above, before a single value was read.
      return fail(`expected ${expectedValue(type, operator)}`);
  }
}

function expectedValue(type: AttributeType, operator: Operator): string {
  if (operator === 'in' || operator === 'not_in') return 'a list';
  switch (type) {
    case 'string':
      return 'a non-empty text';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'date':
      return 'a date such as 2024-03-01';
  }
}
