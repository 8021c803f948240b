import { z } from 'zod';
import { ValidationError, type Issue } from './errors.js';

/** Renders a zod path as the user would write it: `rule.all[1].value`. */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Turns zod's issues into segsync issues whose messages read as sentences about the input. */
export function issuesFromZod(error: z.ZodError, prefix = ''): Issue[] {
  return error.issues.map((issue) => ({
    path: formatPath(issue.path, prefix),
    message: lowerFirst(issue.message),
  }));
}

/**
 * Parses `input` with `schema`, returning the typed value or throwing a ValidationError whose
 * message names each bad field. `what` says what was being read ("the export", "SEGSYNC_PORT").
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  prefix = '',
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw ValidationError.fromIssues(`invalid ${what}`, issuesFromZod(result.error, prefix));
}

function lowerFirst(text: string): string {
  // zod's messages start with a capital ("Invalid input: expected number"); ours continue a line.
  return text.length > 0 ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

// Control characters (line breaks, tabs, terminal escape sequences) in a name would break the
// one-row-per-line listings and could recolour or clear a terminal that prints them; Unicode's
// line and paragraph separators break lines too, and its direction overrides make a name read
// as another (U+202A-U+202E, U+2066-U+2069).
const CONTROL_CHARACTER = /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069]/u;

/**
 * A display name (a connection, an export, a segment, a new list): trimmed, not empty, at most
 * `max` characters, without control characters.
 */
export function displayName(max: number) {
  return z
    .string({ message: 'expected a name' })
    .trim()
    .min(1, { message: 'a name is required' })
    .max(max, { message: `expected a name of at most ${max} characters` })
    .refine((name) => !CONTROL_CHARACTER.test(name), {
      message: 'a name cannot contain line breaks, tabs or other control characters',
    });
}
