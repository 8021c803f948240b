import { asciiLowerCase, type AttributeValue } from '../profiles/attributes.js';
import type { ResolvedCondition, ResolvedRule } from './validate.js';

/**
 * Evaluates a resolved rule on one profile's attributes in memory, with exactly the semantics the
 * SQL compiler gives it (compile.ts): the reference the property test holds the SQL against.
 *
 * - A positive condition holds only when the attribute has a value and the comparison holds.
 * - Negative operators (not_equals, not_contains, not_in, not_within_last_days) are the negation
 *   of their positive twin, so they also match profiles without a value.
 * - Text comparisons ignore ASCII case only (`É` and `é` differ), as both databases do.
 */
export function evaluateRule(
  rule: ResolvedRule,
  attributes: Readonly<Record<string, AttributeValue | null | undefined>>,
  now: Date,
): boolean {
  switch (rule.kind) {
    case 'all':
      return rule.items.every((item) => evaluateRule(item, attributes, now));
    case 'any':
      return rule.items.some((item) => evaluateRule(item, attributes, now));
    case 'not':
      return !evaluateRule(rule.item, attributes, now);
    case 'present':
    case 'boolean':
    case 'text':
    case 'text_in':
    case 'number_in':
    case 'compare':
    case 'between':
    case 'within_days':
      return evaluateCondition(rule, attributes[rule.attribute] ?? undefined, now);
  }
}

const DAY_MS = 86_400_000;

/** The earliest instant `within_last_days days` accepts, as ISO text (shared with the compiler). */
export function withinDaysCutoff(now: Date, days: number): string {
  return new Date(now.getTime() - days * DAY_MS).toISOString();
}

function evaluateCondition(
  condition: ResolvedCondition,
  value: AttributeValue | undefined,
  now: Date,
): boolean {
  switch (condition.kind) {
    case 'present':
      return (value !== undefined) !== condition.negate;
    case 'boolean':
      return value === condition.value;
    case 'text': {
      const negate = condition.operator === 'not_equals' || condition.operator === 'not_contains';
      if (typeof value !== 'string') return negate;
      const text = asciiLowerCase(value);
      const needle = asciiLowerCase(condition.value);
      switch (condition.operator) {
        case 'equals':
        case 'not_equals':
          return (text === needle) !== negate;
        case 'contains':
        case 'not_contains':
          return text.includes(needle) !== negate;
        case 'starts_with':
          return text.startsWith(needle);
        case 'ends_with':
          return text.endsWith(needle);
      }
      break;
    }
    case 'text_in': {
      if (typeof value !== 'string') return condition.negate;
      const text = asciiLowerCase(value);
      return condition.values.some((v) => asciiLowerCase(v) === text) !== condition.negate;
    }
    case 'number_in':
      if (typeof value !== 'number') return condition.negate;
      return condition.values.includes(value) !== condition.negate;
    case 'compare': {
      if (value === undefined || typeof value === 'boolean') return condition.operator === 'ne';
      const wanted = condition.value;
      switch (condition.operator) {
        case 'eq':
          return value === wanted;
        case 'ne':
          return value !== wanted;
        case 'gt':
          return value > wanted;
        case 'ge':
          return value >= wanted;
        case 'lt':
          return value < wanted;
        case 'le':
          return value <= wanted;
      }
      break;
    }
    case 'between':
      if (value === undefined || typeof value === 'boolean') return false;
      return value >= condition.low && value <= condition.high;
    case 'within_days': {
      if (typeof value !== 'string') return condition.negate;
      const within = value >= withinDaysCutoff(now, condition.days) && value <= now.toISOString();
      return within !== condition.negate;
    }
  }
  return false;
}
