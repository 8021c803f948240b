/**
 * Validation of `PUT /v3/marketing/contacts` bodies, written by hand rather than with zod because
 * it runs on up to 30,000 contacts per request and must stay a small part of the sandbox's CPU
 * budget, and because its messages must name fields the way SendGrid does (`contacts[12].email`).
 */

/** The most contacts one upsert may carry (the documents' `maxItems`). */
export const MAX_CONTACTS_PER_REQUEST = 30_000;

/** Reserved string fields a contact may set, with their maximum lengths (undefined = no limit). */
export const reservedFieldLimits: Readonly<Record<string, number | undefined>> = {
  email: 254,
  phone_number_id: undefined,
  external_id: 254,
  anonymous_id: 254,
  first_name: 50,
  last_name: 50,
  address_line_1: 100,
  address_line_2: 100,
  city: 60,
  state_province_region: 50,
  postal_code: undefined,
  country: 50,
};

/** Identifiers in the order the sandbox uses to find an existing contact. */
export const identifierFields = [
  'email',
  'phone_number_id',
  'external_id',
  'anonymous_id',
] as const;

const MAX_ALTERNATE_EMAILS = 5;

// The same rule ajv-formats applies to `format: email`, so every accepted address also passes the
// documents' response schemas when it is read back.
const EMAIL =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` is a 36-character UUID, the form of SendGrid's list, contact and job ids. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** Whether `value` is an email address SendGrid would accept. */
export function isEmail(value: string): boolean {
  return value.length <= 254 && EMAIL.test(value);
}

/**
 * The key a contact is found by: its lower-cased email itself (no copy, no prefix: most contacts
 * have one), else the first other identifier, prefixed so it can never collide with an email.
 */
export function identityKey(identifier: (typeof identifierFields)[number], value: string): string {
  return identifier === 'email' ? value : `\u0000${identifier}:${value}`;
}

/** Fields as a contact stores them: reserved fields by name (email lower-cased). */
export type ContactFields = Record<string, string | string[]>;
/** Custom field values by custom field id. */
export type CustomValues = Record<string, string | number>;

/**
 * An upsert as accepted from a request, held as parallel arrays rather than an object per contact
 * (30,000 contacts a request: every per-contact object is garbage the job must later collect).
 * `keys[i]` is the identity contact `i` is upserted by (see identityKey), `fields[i]` its reserved
 * fields and `custom`, when any contact names custom fields, their values by position.
 */
export interface UpsertRequest {
  listIds: string[];
  keys: string[];
  fields: ContactFields[];
  custom: Map<number, CustomValues> | undefined;
}

export interface FieldProblem {
  field: string;
  message: string;
}

// Report at most this many problems: a 30,000-contact request with a bad field in each would
// otherwise produce a multi-megabyte error body.
const MAX_PROBLEMS = 100;

// The reserved string fields by name with their maximum lengths (-1 = no limit), for one lookup
// per field of a contact.
const fieldLimits = new Map<string, number>(
  Object.entries(reservedFieldLimits).map(([name, limit]) => [name, limit ?? -1]),
);

type Add = (field: string, message: string) => void;

/**
 * Checks an upsert body against the documents' rules and SendGrid's observed behaviour, returning
 * the accepted request or the list of bad fields. Unknown keys are ignored, as SendGrid ignores
 * them (`listIds` for `list_ids` silently does nothing). `customFieldIds` holds the ids of the
 * custom fields that exist: a custom field named by anything else is an error.
 */
export function parseUpsertBody(
  body: unknown,
  customFieldIds: ReadonlySet<string>,
): { ok: true; value: UpsertRequest } | { ok: false; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const add: Add = (field, message) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ field, message });
  };
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, problems: [{ field: 'body', message: 'the body must be a JSON object' }] };
  }
  const record = body as Record<string, unknown>;

  const listIds: string[] = [];
  if (record.list_ids !== undefined) {
    if (!Array.isArray(record.list_ids)) add('list_ids', 'list_ids must be an array of list IDs');
    else {
      record.list_ids.forEach((id: unknown, index) => {
        if (isUuid(id)) listIds.push(id.toLowerCase());
        else add(`list_ids[${index}]`, `list ID ${JSON.stringify(id)} is not a valid UUID`);
      });
    }
  }

  const rawContacts = record.contacts;
  const request: UpsertRequest = { listIds, keys: [], fields: [], custom: undefined };
  if (rawContacts === undefined) add('contacts', 'contacts is required');
  else if (!Array.isArray(rawContacts)) add('contacts', 'contacts must be an array');
  else if (rawContacts.length === 0) add('contacts', 'contacts must contain at least 1 contact');
  else if (rawContacts.length > MAX_CONTACTS_PER_REQUEST) {
    add('contacts', `contacts must contain at most ${MAX_CONTACTS_PER_REQUEST} contacts`);
  } else {
    for (let index = 0; index < rawContacts.length; index++) {
      parseContact(rawContacts[index], index, customFieldIds, add, request);
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: request };
}

/** The key of a contact's first non-empty identifier, or undefined. */
function keyOf(fields: Record<string, unknown>): string | undefined {
  for (const identifier of identifierFields) {
    const value = fields[identifier];
    if (typeof value === 'string' && value !== '') return identityKey(identifier, value);
  }
  return undefined;
}

/**
 * Validates contact `index` and, when it is good, appends it to `out`. The common contact holds
 * only valid reserved string fields: it is checked in one pass that allocates nothing and kept as
 * parsed (email lower-cased in place) instead of copied, which halves what a million stored
 * contacts cost. Any other contact (alternate emails, custom fields, unknown keys, a bad value)
 * takes the full path, which copies what it accepts and reports problems in field order.
 */
function parseContact(
  raw: unknown,
  index: number,
  customFieldIds: ReadonlySet<string>,
  add: Add,
  out: UpsertRequest,
): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    add(`contacts[${index}]`, 'each contact must be an object');
    return;
  }
  const record = raw as Record<string, unknown>;
  let plain = true;
  let email: string | undefined;
  for (const name in record) {
    const limit = fieldLimits.get(name);
    const value = record[name];
    if (limit === undefined || typeof value !== 'string' || (limit >= 0 && value.length > limit)) {
      plain = false;
      break;
    }
    if (name === 'email') {
      if (!isEmail(value)) {
        plain = false;
        break;
      }
      email = value.toLowerCase();
    }
  }
  if (plain) {
    const key = email ?? keyOf(record);
    if (key !== undefined) {
      if (email !== undefined) record.email = email;
      out.keys.push(key);
      out.fields.push(record as ContactFields);
      return;
    }
  }
  parseContactFully(record, index, customFieldIds, add, out);
}

function parseContactFully(
  raw: Record<string, unknown>,
  index: number,
  customFieldIds: ReadonlySet<string>,
  add: Add,
  out: UpsertRequest,
): void {
  const at = `contacts[${index}]`;
  let bad = false;
  const fields: ContactFields = {};
  let customFields: CustomValues | undefined;
  for (const name in raw) {
    const value = raw[name];
    if (name === 'custom_fields') {
      customFields = parseCustomFields(value, `${at}.custom_fields`, customFieldIds, add);
      if (!customFields) bad = true;
      continue;
    }
    if (name === 'alternate_emails') {
      const emails = parseAlternateEmails(value, `${at}.alternate_emails`, add);
      if (emails) fields.alternate_emails = emails;
      else bad = true;
      continue;
    }
    const limit = fieldLimits.get(name);
    if (limit === undefined) continue;
    if (typeof value !== 'string') {
      add(`${at}.${name}`, `${name} must be a string`);
      bad = true;
      continue;
    }
    if (limit >= 0 && value.length > limit) {
      add(`${at}.${name}`, `${name} must be at most ${limit} characters long`);
      bad = true;
      continue;
    }
    if (name === 'email') {
      if (!isEmail(value)) {
        add(`${at}.email`, `email ${JSON.stringify(value)} is not a valid email address`);
        bad = true;
        continue;
      }
      fields.email = value.toLowerCase();
      continue;
    }
    fields[name] = value;
  }
  const key = keyOf(fields);
  if (key === undefined && !bad) {
    add(at, 'a contact needs one of email, phone_number_id, external_id or anonymous_id');
    return;
  }
  if (bad || key === undefined) return;
  if (customFields) (out.custom ??= new Map()).set(out.keys.length, customFields);
  out.keys.push(key);
  out.fields.push(fields);
}

function parseAlternateEmails(value: unknown, at: string, add: Add): string[] | undefined {
  if (!Array.isArray(value)) {
    add(at, 'alternate_emails must be an array of email addresses');
    return undefined;
  }
  if (value.length > MAX_ALTERNATE_EMAILS) {
    add(at, `alternate_emails may hold at most ${MAX_ALTERNATE_EMAILS} addresses`);
    return undefined;
  }
  const out: string[] = [];
  for (let i = 0; i < value.length; i++) {
    const email: unknown = value[i];
    if (typeof email !== 'string' || !isEmail(email)) {
      add(`${at}[${i}]`, `${JSON.stringify(email)} is not a valid email address`);
      return undefined;
    }
    out.push(email.toLowerCase());
  }
  return out;
}

function parseCustomFields(
  value: unknown,
  at: string,
  customFieldIds: ReadonlySet<string>,
  add: Add,
): CustomValues | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    add(at, 'custom_fields must be an object keyed by custom field ID');
    return undefined;
  }
  const out: CustomValues = {};
  let bad = false;
  for (const id in value) {
    const item = (value as Record<string, unknown>)[id];
    if (!customFieldIds.has(id)) {
      // SendGrid keys custom fields by id (`e1_T`); a field's name here is the classic mistake.
      add(`${at}.${id}`, `custom field ID ${JSON.stringify(id)} does not exist`);
      bad = true;
    } else if (typeof item !== 'string' && typeof item !== 'number') {
      add(`${at}.${id}`, `custom field ${id} must be a string or a number`);
      bad = true;
    } else {
      out[id] = item;
    }
  }
  return bad ? undefined : out;
}
