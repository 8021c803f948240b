import { sql, type RawBuilder, type SqlBool } from 'kysely';
import {
  binaryText,
  jsonValue,
  lowerAscii,
  textContains,
  textEndsWith,
  textStartsWith,
  type JsonValueKind,
  type SqlDialect,
} from '../db/dialect.js';
import { asciiLowerCase, type AttributeType } from '../profiles/attributes.js';
import { withinDaysCutoff } from './evaluate.js';
import type { ResolvedCondition, ResolvedRule } from './validate.js';

export interface CompileOptions {
  dialect: SqlDialect;
  /** "Now" for date operators, from the injected clock. */
  now: Date;
  /** The JSON attributes column the rule reads; `profiles.attributes` by default. */
  column?: string;
}

/**
 * Compiles a resolved rule into a SQL predicate over profiles with the semantics of evaluate.ts.
 * Every value and every attribute name is a bound parameter; only fixed SQL fragments (from
 * db/dialect.ts) are text.
 *
 * SQL's NULL (an attribute without a value) would leak through NOT as "unknown": in a positive
 * position NULL already means "no match", so conditions compile plainly there (the fast form a
 * refresh over millions of rows wants); under an odd number of NOTs each comparison is guarded
 * with `value is not null`, so NOT turns "no match" into "match" exactly as in memory.
 */
export function compileRule(rule: ResolvedRule, options: CompileOptions): RawBuilder<SqlBool> {
  return compile(rule, { ...options, column: options.column ?? 'profiles.attributes' }, false);
}

type Context = Required<CompileOptions>;

function compile(rule: ResolvedRule, context: Context, strict: boolean): RawBuilder<SqlBool> {
  switch (rule.kind) {
    case 'all':
      return sql<SqlBool>`(${sql.join(
        rule.items.map((item) => compile(item, context, strict)),
        sql` and `,
      )})`;
    case 'any':
      return sql<SqlBool>`(${sql.join(
        rule.items.map((item) => compile(item, context, strict)),
        sql` or `,
      )})`;
    case 'not':
      return sql<SqlBool>`(not ${compile(rule.item, context, !strict)})`;
    case 'present':
    case 'boolean':
    case 'text':
    case 'text_in':
    case 'number_in':
    case 'compare':
    case 'between':
    case 'within_days':
      return condition(rule, context, strict);
  }
}

function kindOf(type: AttributeType): JsonValueKind {
  switch (type) {
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'string':
    case 'date':
      return 'text';
  }
}

function condition(
  rule: ResolvedCondition,
  context: Context,
  strict: boolean,
): RawBuilder<SqlBool> {
  const { dialect, column } = context;
  const value = (kind: JsonValueKind) => jsonValue(dialect, column, rule.attribute, kind);
  // `test` holds when the attribute has a value that passes; NULL stands for "no value".
  const positive = (kind: JsonValueKind, test: RawBuilder<SqlBool>, guarded: boolean) =>
    guarded ? sql<SqlBool>`(${value(kind)} is not null and ${test})` : test;
  const negative = (kind: JsonValueKind, test: RawBuilder<SqlBool>) =>
    sql<SqlBool>`(not ${positive(kind, test, true)})`;
  const either = (kind: JsonValueKind, test: RawBuilder<SqlBool>, negate: boolean) =>
    negate ? negative(kind, test) : positive(kind, test, strict);

  switch (rule.kind) {
    case 'present':
      return rule.negate
        ? sql<SqlBool>`(${value(kindOf(rule.type))} is null)`
        : sql<SqlBool>`(${value(kindOf(rule.type))} is not null)`;
    case 'boolean':
      // Booleans read as the integers 0/1 on both dialects (db/dialect.ts).
      return positive(
        'boolean',
        sql<SqlBool>`(${value('boolean')} = ${rule.value ? 1 : 0})`,
        strict,
      );
    case 'text': {
      const text = lowerAscii(dialect, value('text'));
      const needle = sql`${asciiLowerCase(rule.value)}`;
      switch (rule.operator) {
        case 'equals':
          return positive('text', sql<SqlBool>`(${text} = ${needle})`, strict);
        case 'not_equals':
          return negative('text', sql<SqlBool>`(${text} = ${needle})`);
        case 'contains':
          return positive('text', textContains(dialect, text, needle), strict);
        case 'not_contains':
          return negative('text', textContains(dialect, text, needle));
        case 'starts_with':
          return positive('text', textStartsWith(dialect, text, needle), strict);
        case 'ends_with':
          return positive('text', textEndsWith(dialect, text, needle), strict);
      }
      break;
    }
    case 'text_in': {
      const list = sql.join(rule.values.map((v) => sql`${asciiLowerCase(v)}`));
      return either(
        'text',
        sql<SqlBool>`(${lowerAscii(dialect, value('text'))} in (${list}))`,
        rule.negate,
      );
    }
    case 'number_in': {
      const list = sql.join(rule.values.map((v) => sql`${v}`));
      return either('number', sql<SqlBool>`(${value('number')} in (${list}))`, rule.negate);
    }
    case 'compare': {
      const [kind, operand] = comparable(rule.type, context, rule.attribute);
      const wanted = sql`${rule.value}`;
      switch (rule.operator) {
        case 'eq':
          return positive(kind, sql<SqlBool>`(${operand} = ${wanted})`, strict);
        case 'ne':
          return negative(kind, sql<SqlBool>`(${operand} = ${wanted})`);
        case 'gt':
          return positive(kind, sql<SqlBool>`(${operand} > ${wanted})`, strict);
        case 'ge':
          return positive(kind, sql<SqlBool>`(${operand} >= ${wanted})`, strict);
        case 'lt':
          return positive(kind, sql<SqlBool>`(${operand} < ${wanted})`, strict);
        case 'le':
          return positive(kind, sql<SqlBool>`(${operand} <= ${wanted})`, strict);
      }
      break;
    }
    case 'between': {
      const [kind, operand] = comparable(rule.type, context, rule.attribute);
      return positive(
        kind,
        sql<SqlBool>`(${operand} >= ${rule.low} and ${operand} <= ${rule.high})`,
        strict,
      );
    }
    case 'within_days': {
      const operand = binaryText(dialect, value('text'));
      const cutoff = withinDaysCutoff(context.now, rule.days);
      const test = sql<SqlBool>`(${operand} >= ${cutoff} and ${operand} <= ${context.now.toISOString()})`;
      return either('text', test, rule.negate);
    }
  }
  throw new Error(`unknown condition ${JSON.stringify(rule)}`);
}

/** The attribute as an orderable SQL value: a double for numbers, code-point text for dates. */
function comparable(
  type: 'number' | 'date',
  context: Context,
  attribute: string,
): [JsonValueKind, RawBuilder<unknown>] {
  if (type === 'number')
    return ['number', jsonValue(context.dialect, context.column, attribute, 'number')];
  return [
    'text',
    binaryText(context.dialect, jsonValue(context.dialect, context.column, attribute, 'text')),
  ];
}
