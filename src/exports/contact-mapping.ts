import type { DestinationContact, DestinationType } from '../destinations/destination.js';
import { parseDecimal } from '../profiles/attributes.js';

/** A profile attribute value as the profile store returns it. */
export type AttributeValue = string | number | boolean | null;

/** How an export fills a contact: the email attribute, reserved fields and custom fields. */
export interface ContactMapping {
  /** The profile attribute holding the email address. */
  email: string;
  /** Reserved destination field name -> profile attribute (`first_name` -> `given_name`). */
  fields: Readonly<Record<string, string>>;
  /** Custom fields, resolved to the destination's field ids when the export was saved. */
  customFields: readonly {
    name: string;
    id: string;
    type: 'text' | 'number' | 'date';
    attribute: string;
  }[];
}

export type MappedContact =
  | { ok: true; contact: DestinationContact; warnings: readonly string[] }
  | { ok: false; code: 'missing_email' | 'invalid_email'; reason: string };

/** Trims and lower-cases an address: destinations treat `A@x.com` and `a@x.com` as one contact. */
export function normaliseEmail(value: string): string {
  return value.trim().toLowerCase();
}

/**
 * Turns a profile's attributes into the contact the destination will receive, or says why the
 * profile cannot be sent. Nothing invalid is ever sent: a missing or invalid email skips the
 * profile; an optional text field longer than the destination allows is truncated with a warning;
 * a custom field value of the wrong type is left out with a warning.
 *
 * A field whose attribute is empty is left out, and the destination keeps what the contact holds
 * there; but in a contact the export put in the list itself and delivered before (`ownEmail`), its
 * text fields are sent empty, so that a value the profile lost is cleared in the list too.
 * (Numbers and dates cannot be sent empty: those keep their last value.)
 */
export function mapContact(
  attributes: Readonly<Record<string, AttributeValue | undefined>>,
  mapping: ContactMapping,
  destination: Pick<DestinationType, 'isValidEmail' | 'isValidDate' | 'reservedFields'>,
  ownEmail?: string,
): MappedContact {
  const rawEmail = attributes[mapping.email];
  if (rawEmail === undefined || rawEmail === null || String(rawEmail).trim() === '') {
    return {
      ok: false,
      code: 'missing_email',
      reason: `no email: attribute "${mapping.email}" is empty`,
    };
  }
  const email = normaliseEmail(String(rawEmail));
  if (!destination.isValidEmail(email)) {
    return {
      ok: false,
      code: 'invalid_email',
      reason: `invalid email address ${JSON.stringify(String(rawEmail))}`,
    };
  }
  const clearsEmpty = ownEmail === email;
  let warnings: string[] | undefined;
  const fields: Record<string, string> = {};
  for (const { field, attribute, maxLength } of reservedFieldsOf(mapping, destination)) {
    const value = attributes[attribute];
    if (value === undefined || value === null || value === '') {
      if (clearsEmpty) fields[field] = '';
      continue;
    }
    let text = String(value).trim();
    // Lengths are counted in UTF-16 units, as JavaScript (and the sandbox) counts them: an emoji
    // counts two. That is never less than the count of code points, so the value fits whichever
    // way SendGrid counts.
    if (maxLength !== undefined && text.length > maxLength) {
      // Trimmed again: the cut may leave spaces or a line break at the end.
      text = truncateText(text, maxLength).trimEnd();
      (warnings ??= []).push(`${field} truncated to ${maxLength} characters`);
    }
    if (text !== '' || clearsEmpty) fields[field] = text;
  }
  const customFields: Record<string, string | number> = {};
  for (const custom of mapping.customFields) {
    const value = attributes[custom.attribute];
    if (value === undefined || value === null || value === '') {
      if (clearsEmpty && custom.type === 'text') customFields[custom.id] = '';
      continue;
    }
    if (custom.type === 'number') {
      const number =
        typeof value === 'number'
          ? value
          : typeof value === 'string'
            ? parseDecimal(value.trim())
            : undefined;
      if (number === undefined || !Number.isFinite(number)) {
        (warnings ??= []).push(
          `custom field ${custom.name} left out: ${JSON.stringify(value)} is not a number`,
        );
        continue;
      }
      customFields[custom.id] = number;
    } else if (custom.type === 'date') {
      const text = String(value).trim();
      if (typeof value !== 'string' || !destination.isValidDate(text)) {
        (warnings ??= []).push(
          `custom field ${custom.name} left out: ${JSON.stringify(value)} is not a date`,
        );
        continue;
      }
      customFields[custom.id] = text;
    } else {
      customFields[custom.id] = String(value);
    }
  }
  return { ok: true, contact: { email, fields, customFields }, warnings: warnings ?? NO_WARNINGS };
}

const NO_WARNINGS: readonly string[] = Object.freeze([]);

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * `text` cut to at most `maxLength` UTF-16 units at the end of a whole character as people see
 * it: never between the halves of an emoji, nor between a letter and its accent, nor inside a
 * joined emoji (👨‍👩‍👧). Runs only for the rare value that is too long.
 */
export function truncateText(text: string, maxLength: number): string {
  let end = 0;
  for (const { segment } of graphemes.segment(text)) {
    if (end + segment.length > maxLength) break;
    end += segment.length;
  }
  return text.slice(0, end);
}

interface ReservedField {
  field: string;
  attribute: string;
  maxLength: number | undefined;
}

// A run maps every member with one mapping: its reserved fields and their limits are worked out
// once per mapping, not once per contact.
const reservedFieldPlans = new WeakMap<
  ContactMapping,
  { destination: object; fields: ReservedField[] }
>();

function reservedFieldsOf(
  mapping: ContactMapping,
  destination: Pick<DestinationType, 'reservedFields'>,
): ReservedField[] {
  const known = reservedFieldPlans.get(mapping);
  if (known?.destination === destination) return known.fields;
  const fields = Object.entries(mapping.fields).map(([field, attribute]) => ({
    field,
    attribute,
    maxLength: destination.reservedFields.find((f) => f.name === field)?.maxLength,
  }));
  reservedFieldPlans.set(mapping, { destination, fields });
  return fields;
}
