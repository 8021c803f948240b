import { z } from 'zod';
import { isCalendarDate } from '../shared/calendar.js';

/**
 * The attribute catalog's types and the rules for reading raw values (CSV cells, JSON Lines
 * values) into them. Profiles store values by attribute name: strings, numbers, booleans, and
 * dates as ISO-8601 UTC text (`2024-03-01T00:00:00.000Z`), which sorts and compares as text.
 */

export const attributeTypes = ['string', 'number', 'boolean', 'date'] as const;
export type AttributeType = (typeof attributeTypes)[number];

/** A stored attribute value; dates are ISO-8601 UTC strings. */
export type AttributeValue = string | number | boolean;

/** One entry of the attribute catalog. */
export interface Attribute {
  name: string;
  type: AttributeType;
  /** Whether profiles are unified on this attribute (exactly one attribute once data exists). */
  isKey: boolean;
}

/** A unified profile: one customer, merged from every imported source. */
export interface Profile {
  id: string;
  /** The normalised key value (trimmed, lower-cased), unique among profiles. */
  key: string;
  /** Non-empty values by attribute name; the key attribute is among them. */
  attributes: Record<string, AttributeValue>;
  createdAt: string;
  updatedAt: string;
}

/** The attribute profiles are unified on when nothing says otherwise. */
export const defaultKeyAttribute = 'email';

/**
 * Attribute names are the user's column names, kept as written, within limits that keep them
 * safe to use as JSON keys and JSON path members: no quotes, backslashes or control characters.
 */
export const attributeNameSchema = z
  .string()
  .min(1, { message: 'expected a non-empty attribute name' })
  .max(100, { message: 'expected an attribute name of at most 100 characters' })
  // eslint-disable-next-line no-control-regex
  .regex(/^[^"\\\u0000-\u001f\u007f]+$/, {
    message: 'expected an attribute name without quotes, backslashes or control characters',
  })
  // Profiles' attributes are plain objects: `constructor` would read as a function on every
  // profile without one, and `__proto__` would not be stored at all.
  .refine((name) => !(name in Object.prototype), {
    message:
      'expected an attribute name that is not a built-in object property (such as constructor)',
  });

/** Why an attribute name is unusable, or undefined when it is fine. */
export function attributeNameProblem(name: string): string | undefined {
  const result = attributeNameSchema.safeParse(name);
  return result.success ? undefined : result.error.issues[0]?.message;
}

/** `--schema FILE`: declared types by attribute name, optionally under an `attributes` key. */
export const attributeSchemaFileSchema = z.union([
  z.strictObject({ attributes: z.record(z.string(), z.enum(attributeTypes)) }),
  z.record(z.string(), z.enum(attributeTypes)),
]);

/** The declared types of a parsed `--schema` document. */
export function declaredTypes(
  parsed: z.output<typeof attributeSchemaFileSchema>,
): Record<string, AttributeType> {
  const wrapped = parsed as { attributes?: unknown };
  return (
    typeof wrapped.attributes === 'object' && wrapped.attributes !== null
      ? wrapped.attributes
      : parsed
  ) as Record<string, AttributeType>;
}

/**
 * Lower-cases ASCII letters only, as the database comparisons do (db/dialect.ts `lowerAscii`), so
 * in-memory and SQL case-insensitive comparisons agree on every input.
 */
export function asciiLowerCase(text: string): string {
  return text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

/** Normalises a key value: trimmed and lower-cased, so `Ana@X.com ` and `ana@x.com` unify. */
export function normaliseKey(value: string): string {
  return value.trim().toLowerCase();
}

// A number as people write it in data files: optional sign, digits, optional decimals/exponent.
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A number written in decimal (`12.5`, `-3`, `1e6`), or undefined: never JavaScript's other
 * readings of text (`0x1F`, `0b11`, `Infinity`, an empty string as 0). `text` is trimmed.
 */
export function parseDecimal(text: string): number | undefined {
  if (!NUMBER.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Why a text did not fit its attribute's type (returned, not thrown: bad rows are common). */
export class CoerceFailure {
  constructor(readonly message: string) {}
}

const WHOLE_NUMBER = /^[+-]?\d+$/;
const UNSAFE_WHOLE_NUMBER = `a whole number beyond ±${Number.MAX_SAFE_INTEGER} cannot be stored exactly`;

/**
 * A number text as stored: its value, or why it cannot be one. A whole number past 2^53 (a
 * 19-digit order id, say) would be stored as a neighbouring one, silently: it is refused.
 */
function readNumber(text: string): number | CoerceFailure {
  const value = parseDecimal(text);
  if (value === undefined) return new CoerceFailure(`expected a number, got ${quote(text)}`);
  if (!Number.isSafeInteger(value) && WHOLE_NUMBER.test(text)) {
    return new CoerceFailure(
      `expected a number, got ${quote(text)}: ${UNSAFE_WHOLE_NUMBER} (declare the attribute a string)`,
    );
  }
  return value;
}

// Inference is stricter: `08001` (a postal code) or `+34` (a dialling code) stay strings.
const INFERRED_NUMBER = /^-?(0|[1-9]\d{0,14})(\.\d+)?$/;
const TRUE_WORDS = new Set(['true', 'yes', 'y', '1', 'si', 'sí', 't']);
const FALSE_WORDS = new Set(['false', 'no', 'n', '0', 'f']);
const INFERRED_BOOLEAN = new Set(['true', 'false', 'yes', 'no']);
const DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Parses a date written as `YYYY-MM-DD` or an ISO-8601 date-time (UTC when no offset is given)
 * into its ISO-8601 UTC form, or returns undefined when it is not a real date.
 */
export function parseDate(text: string): string | undefined {
  const match = DATE.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zone = 'Z'] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (!isCalendarDate(year, month, day)) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  const offset =
    zone === 'Z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
  const millis = fraction ? fraction.slice(0, 4).padEnd(4, '0') : '.000';
  const time = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}${millis}${offset}`);
  if (year < 1 || Number.isNaN(time)) return undefined;
  const utc = new Date(time);
  // An offset can move a date past year 9999 or before year 1 (`+010000-01-01T...`, `0000-...`):
  // stored, it would compare wrongly as text, and no destination takes it.
  const utcYear = utc.getUTCFullYear();
  if (utcYear < 1 || utcYear > 9999) return undefined;
  return utc.toISOString();
}

/**
 * Reads a text value (a trimmed, non-empty CSV cell or JSON string) as `type`: the stored value,
 * or an error sentence such as `expected a number, got "12,5"`.
 */
export function coerceText(
  text: string,
  type: AttributeType,
): { value: AttributeValue } | { error: string } {
  switch (type) {
    case 'string':
      return { value: text };
    case 'number': {
      const value = readNumber(text);
      return value instanceof CoerceFailure ? { error: value.message } : { value };
    }
    case 'boolean': {
      const lower = text.toLowerCase();
      if (TRUE_WORDS.has(lower)) return { value: true };
      if (FALSE_WORDS.has(lower)) return { value: false };
      return { error: `expected true or false, got ${quote(text)}` };
    }
    case 'date': {
      const value = cachedDate(text);
      return value === undefined
        ? { error: `expected a date such as 2024-03-01, got ${quote(text)}` }
        : { value };
    }
  }
}

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

/** A string as JSON text; most values need no escaping, which skips JSON.stringify. */
export function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * Like coerceText, but returns the value already written as JSON text (`"Madrid"`, `12.5`,
 * `true`): the import writes each profile's JSON document directly, a million times, and this
 * path allocates nothing per value beyond the text itself.
 */
export function encodeText(text: string, type: AttributeType): string | CoerceFailure {
  switch (type) {
    case 'string':
      return jsonString(text);
    case 'number': {
      const value = readNumber(text);
      return value instanceof CoerceFailure ? value : String(value);
    }
    case 'boolean': {
      const lower = text.toLowerCase();
      if (TRUE_WORDS.has(lower)) return 'true';
      if (FALSE_WORDS.has(lower)) return 'false';
      return new CoerceFailure(`expected true or false, got ${quote(text)}`);
    }
    case 'date': {
      const value = cachedDate(text);
      return value === undefined
        ? new CoerceFailure(`expected a date such as 2024-03-01, got ${quote(text)}`)
        : `"${value}"`;
    }
  }
}

/**
 * Reads a JSON Lines value as `type`. Strings go through the same rules as CSV cells; JSON numbers
 * and booleans must meet a number or boolean attribute; null and "" are empty (undefined).
 */
export function coerceJson(
  raw: unknown,
  type: AttributeType,
): { value: AttributeValue | undefined } | { error: string } {
  if (raw === null) return { value: undefined };
  if (typeof raw === 'string') {
    const text = raw.trim();
    return text === '' ? { value: undefined } : coerceText(text, type);
  }
  if (typeof raw === 'number') {
    // JSON.parse reads 1e400 as Infinity, which JSON cannot store (it would clear the value).
    if (!Number.isFinite(raw)) return { error: 'a number too large to store (beyond ±1.8e308)' };
    // JSON.parse already rounded such a number to a neighbouring one: what was written is lost.
    if (Number.isInteger(raw) && !Number.isSafeInteger(raw)) {
      return { error: `${UNSAFE_WHOLE_NUMBER}, got ${raw} (write it as a string: "…")` };
    }
    if (type === 'number') return { value: raw };
    if (type === 'string') return { value: String(raw) };
    return { error: `expected ${describeType(type)}, got the number ${raw}` };
  }
  if (typeof raw === 'boolean') {
    if (type === 'boolean') return { value: raw };
    if (type === 'string') return { value: String(raw) };
    return { error: `expected ${describeType(type)}, got ${raw}` };
  }
  return { error: 'expected a single value, got a nested object or array' };
}

// Dates repeat a lot in real files (a few thousand distinct days): remember recent parses.
const dateCache = new Map<string, string | undefined>();
function cachedDate(text: string): string | undefined {
  let value = dateCache.get(text);
  if (value === undefined && !dateCache.has(text)) {
    value = parseDate(text);
    if (dateCache.size >= 10_000) dateCache.clear();
    dateCache.set(text, value);
  }
  return value;
}

/** The type a column gets from values seen in the file (non-empty, trimmed texts). */
export function inferTextType(values: readonly string[]): AttributeType {
  if (values.length === 0) return 'string';
  if (values.every((v) => INFERRED_BOOLEAN.has(v.toLowerCase()))) return 'boolean';
  if (values.every((v) => INFERRED_NUMBER.test(v))) return 'number';
  if (values.every((v) => parseDate(v) !== undefined)) return 'date';
  return 'string';
}

/** The type a JSON Lines attribute gets from values seen in the file (non-empty). */
export function inferJsonType(values: readonly unknown[]): AttributeType {
  if (values.length === 0) return 'string';
  if (values.every((v) => typeof v === 'number')) return 'number';
  if (values.every((v) => typeof v === 'boolean')) return 'boolean';
  if (values.every((v) => typeof v === 'string')) return inferTextType(values);
  return 'string';
}

/** `a number`, `a date`, ...: for messages. */
export function describeType(type: AttributeType): string {
  switch (type) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'date':
      return 'a date';
  }
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
}
