import { z } from 'zod';
import { DestinationError } from '../../shared/errors.js';
import type {
  ContactProblem,
  DestinationContact,
  DestinationField,
  DestinationList,
  DestinationSession,
  DestinationType,
  FoundContact,
  JobState,
} from '../destination.js';
import { SendGridClient, type SendGridSettings } from './client.js';
import { missingScopes } from './scopes.js';
import { isCalendarDateText } from '../../shared/calendar.js';

export const SENDGRID_BASE_URL = 'https://api.sendgrid.com';

const settingsSchema = z.object({
  apiKey: z.string().min(1, { message: 'the API key is required' }),
  baseUrl: z
    .url({ protocol: /^https?$/, message: 'expected an http(s) URL' })
    .default(SENDGRID_BASE_URL),
});

// Lenient views of SendGrid's responses: only the fields segsync reads, so additions never break.
const listSchema = z.object({
  id: z.string(),
  name: z.string(),
  contact_count: z.number().optional(),
});
const listPageSchema = z.object({
  result: z.array(listSchema),
  _metadata: z.object({ next: z.string().optional() }).optional(),
});
const jobSchema = z.object({ job_id: z.string() });
const importSchema = z.object({
  status: z.string(),
  results: z
    .object({
      requested_count: z.number().optional(),
      created_count: z.number().optional(),
      updated_count: z.number().optional(),
      deleted_count: z.number().optional(),
      errored_count: z.number().optional(),
      errors_url: z.string().optional(),
    })
    .optional(),
  message: z.string().optional(),
  errors: z.array(z.object({ message: z.string() })).optional(),
});
const fieldsSchema = z.object({
  custom_fields: z
    .array(z.object({ id: z.string(), name: z.string(), field_type: z.string() }))
    .optional(),
});
const searchSchema = z.object({
  result: z.record(
    z.string(),
    z.object({
      contact: z.object({ id: z.string(), list_ids: z.array(z.string()).default([]) }).optional(),
    }),
  ),
});

// Reserved fields and the longest values SendGrid accepts (SENDGRID.md, "Contact fields").
const reservedFields = [
  { name: 'first_name', maxLength: 50 },
  { name: 'last_name', maxLength: 50 },
  { name: 'address_line_1', maxLength: 100 },
  { name: 'address_line_2', maxLength: 100 },
  { name: 'city', maxLength: 60 },
  { name: 'state_province_region', maxLength: 50 },
  { name: 'postal_code', maxLength: undefined },
  { name: 'country', maxLength: 50 },
] as const;

// The top-level domain: letters, or an internationalised one in its ASCII form (`xn--p1ai`).
const EMAIL =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9-]{0,58}[A-Za-z0-9])$/;

/** Whether SendGrid accepts `email` as a contact's address (at most 254 characters, 64 local). */
export function isValidSendGridEmail(email: string): boolean {
  if (email.length > 254) return false;
  const at = email.lastIndexOf('@');
  return at > 0 && at <= 64 && EMAIL.test(email);
}

// The date forms SendGrid's date fields take: an ISO 8601 date, with or without a time, or
// MM/DD/YYYY.
const DATE_FORM =
  /^(\d{4}-\d{2}-\d{2}([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?|\d{1,2}\/\d{1,2}\/\d{4})$/;

/** Whether SendGrid's date fields take `text` (a form it knows, and a real date). */
export function isValidSendGridDate(text: string): boolean {
  return DATE_FORM.test(text) && !Number.isNaN(Date.parse(text)) && isCalendarDateText(text);
}

/**
 * A number as plain decimal digits, never in exponent form (`1e-7`, `1e+21`, as JavaScript
 * writes very small and very large numbers): valid JSON either way, but the plain form is the
 * one every parser of a number field reads alike.
 */
export function plainDecimal(value: number): string {
  const text = String(value);
  const e = text.indexOf('e');
  if (e < 0) return text;
  const sign = text.startsWith('-') ? '-' : '';
  const [whole = '', fraction = ''] = text.slice(sign.length, e).split('.');
  const digits = whole + fraction;
  // Where the decimal point falls within `digits`.
  const point = whole.length + Number(text.slice(e + 1));
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** A contact's wire form, written out directly: this runs once per contact, a million times. */
function encodeContact(contact: DestinationContact): string {
  let json = `{"email":${JSON.stringify(contact.email)}`;
  for (const field in contact.fields) {
    json += `,${JSON.stringify(field)}:${JSON.stringify(contact.fields[field])}`;
  }
  let custom = '';
  for (const id in contact.customFields) {
    const value = contact.customFields[id];
    const encoded = typeof value === 'number' ? plainDecimal(value) : JSON.stringify(value);
    custom += `${custom ? ',' : ''}${JSON.stringify(id)}:${encoded}`;
  }
  return custom ? `${json},"custom_fields":{${custom}}}` : `${json}}`;
}

let envelopeBytes: { listId: string; bytes: number } | undefined;

/** Bytes an upsert adds around `contactCount` encoded contacts: the envelope and the commas. */
function requestOverheadBytes(listId: string, contactCount: number): number {
  if (envelopeBytes?.listId !== listId) {
    const [open, close] = upsertEnvelope(listId);
    envelopeBytes = { listId, bytes: Buffer.byteLength(open) + Buffer.byteLength(close) };
  }
  return envelopeBytes.bytes + Math.max(0, contactCount - 1);
}

/** SendGrid Marketing Campaigns as a destination. */
export const sendgridDestination: DestinationType<z.output<typeof settingsSchema>> = {
  type: 'sendgrid',
  displayName: 'SendGrid Marketing Campaigns',
  settingsSchema,
  limits: {
    maxContactsPerRequest: 30_000,
    // "6 MB": read as 6,000,000 bytes, the smaller of its two meanings, so that no request
    // SendGrid would refuse with a 413 is ever built.
    maxBytesPerRequest: 6_000_000,
    maxEmailsPerLookup: 100,
    // search/emails refuses longer emails (its schema's maxLength), though upserts take 254.
    maxLookupEmailLength: 100,
    maxIdsPerRemoval: 100,
  },
  reservedFields,
  isValidEmail: isValidSendGridEmail,
  isValidDate: isValidSendGridDate,
  encodeContact,
  requestOverheadBytes,
  open: (settings, io) => new SendGridSession(new SendGridClient(settings, io.fetch)),
};

/** The envelope of an upsert: `{"list_ids":["<id>"],"contacts":[` ... `]}`. */
function upsertEnvelope(listId: string): [string, string] {
  return [`{"list_ids":${JSON.stringify([listId])},"contacts":[`, ']}'];
}

class SendGridSession implements DestinationSession {
  constructor(private readonly client: SendGridClient) {}

  async verify(): Promise<{ scopes: string[] }> {
    const response = await this.client.request('GET', '/v3/scopes', {
      expected: [200],
      what: 'checking the API key (GET /v3/scopes)',
    });
    const scopes = z.object({ scopes: z.array(z.string()) }).safeParse(response.body);
    if (!scopes.success) throw protocolError('GET /v3/scopes');
    const missing = missingScopes(scopes.data.scopes);
    if (missing.length > 0) {
      throw new DestinationError(
        `the SendGrid API key lacks the permissions exports need: ${missing.join(', ')} (grant "Marketing" full access to the key)`,
        {
          reason: 'scope_missing',
          status: 200,
          details: missing.map((m) => ({ field: 'scopes', message: `missing ${m}` })),
        },
      );
    }
    return { scopes: scopes.data.scopes };
  }

  async getList(listId: string): Promise<DestinationList | undefined> {
    try {
      const response = await this.client.request(
        'GET',
        `/v3/marketing/lists/${encodeURIComponent(listId)}`,
        {
          expected: [200],
          what: `reading list ${listId}`,
        },
      );
      return toList(parseOr(listSchema, response.body, 'GET /v3/marketing/lists/{id}'));
    } catch (error) {
      // SendGrid answers 404 for a missing list, and 400 for an id that is not even a UUID.
      if (
        error instanceof DestinationError &&
        (error.reason === 'not_found' || error.status === 400)
      ) {
        return undefined;
      }
      throw error;
    }
  }

  async createList(name: string): Promise<DestinationList> {
    const response = await this.client.request('POST', '/v3/marketing/lists', {
      body: { name },
      expected: [200, 201],
      what: `creating list "${name}"`,
    });
    return toList(parseOr(listSchema, response.body, 'POST /v3/marketing/lists'));
  }

  async listLists(): Promise<DestinationList[]> {
    const lists: DestinationList[] = [];
    let path: string | undefined = '/v3/marketing/lists?page_size=1000';
    for (let page = 0; path && page < 100; page++) {
      const response = await this.client.request('GET', path, {
        expected: [200],
        what: 'listing lists',
      });
      const parsed = parseOr(listPageSchema, response.body, 'GET /v3/marketing/lists');
      lists.push(...parsed.result.map(toList));
      path = nextPath(parsed._metadata?.next);
    }
    return lists;
  }

  async listFields(): Promise<DestinationField[]> {
    const response = await this.client.request('GET', '/v3/marketing/field_definitions', {
      expected: [200],
      what: 'reading custom field definitions',
    });
    const parsed = parseOr(fieldsSchema, response.body, 'GET /v3/marketing/field_definitions');
    return (parsed.custom_fields ?? []).map((field) => ({
      id: field.id,
      name: field.name,
      type:
        field.field_type === 'Number' ? 'number' : field.field_type === 'Date' ? 'date' : 'text',
    }));
  }

  async countContacts(): Promise<number> {
    const response = await this.client.request('GET', '/v3/marketing/contacts/count', {
      expected: [200],
      what: 'counting contacts',
    });
    return parseOr(
      z.object({ contact_count: z.number() }),
      response.body,
      'GET /v3/marketing/contacts/count',
    ).contact_count;
  }

  async upsert(listId: string, contacts: Uint8Array, count: number): Promise<{ jobId: string }> {
    const [open, close] = upsertEnvelope(listId);
    const response = await this.client.request('PUT', '/v3/marketing/contacts', {
      rawBody: Buffer.concat([Buffer.from(open), contacts, Buffer.from(close)]),
      expected: [202],
      what: `sending ${count} contacts (PUT /v3/marketing/contacts)`,
    });
    return { jobId: parseOr(jobSchema, response.body, 'PUT /v3/marketing/contacts').job_id };
  }

  async job(jobId: string): Promise<JobState> {
    const response = await this.client.request(
      'GET',
      `/v3/marketing/contacts/imports/${encodeURIComponent(jobId)}`,
      { expected: [200], what: `checking job ${jobId}` },
    );
    const parsed = parseOr(importSchema, response.body, 'GET /v3/marketing/contacts/imports/{id}');
    if (parsed.status === 'pending') return { status: 'pending' };
    if (
      parsed.status !== 'completed' &&
      parsed.status !== 'errored' &&
      parsed.status !== 'failed'
    ) {
      throw protocolError(`job ${jobId} status "${parsed.status}"`);
    }
    const results = parsed.results ?? {};
    return {
      status: parsed.status,
      counts: {
        requested: results.requested_count ?? 0,
        created: results.created_count ?? 0,
        updated: results.updated_count ?? 0,
        deleted: results.deleted_count ?? 0,
        errored: results.errored_count ?? 0,
      },
      errorsUrl: results.errors_url,
      message: parsed.message ?? parsed.errors?.map((e) => e.message).join('; '),
    };
  }

  async jobProblems(errorsUrl: string): Promise<ContactProblem[]> {
    return parseProblems(await this.client.download(errorsUrl, 'reading the job errors file'));
  }

  async findContacts(emails: readonly string[]): Promise<Map<string, FoundContact>> {
    const found = new Map<string, FoundContact>();
    if (emails.length === 0) return found;
    try {
      const response = await this.client.request('POST', '/v3/marketing/contacts/search/emails', {
        body: { emails },
        expected: [200],
        what: `looking up ${emails.length} contacts by email`,
      });
      const parsed = parseOr(
        searchSchema,
        response.body,
        'POST /v3/marketing/contacts/search/emails',
      );
      for (const [email, match] of Object.entries(parsed.result)) {
        if (match.contact) {
          found.set(email.toLowerCase(), {
            id: match.contact.id,
            listIds: match.contact.list_ids,
          });
        }
      }
    } catch (error) {
      // 404 means none of the emails is a contact: an empty answer, not a failure.
      if (!(error instanceof DestinationError && error.reason === 'not_found')) throw error;
    }
    return found;
  }

  async removeFromList(listId: string, contactIds: readonly string[]): Promise<{ jobId: string }> {
    const query = new URLSearchParams({ contact_ids: contactIds.join(',') });
    const response = await this.client.request(
      'DELETE',
      `/v3/marketing/lists/${encodeURIComponent(listId)}/contacts?${query.toString()}`,
      { expected: [202], what: `removing ${contactIds.length} contacts from list ${listId}` },
    );
    return {
      jobId: parseOr(jobSchema, response.body, 'DELETE /v3/marketing/lists/{id}/contacts').job_id,
    };
  }
}

/**
 * Reads a job's errors file. SendGrid documents only that it is a download; it is read as JSON
 * (`{errors:[{email,message}]}` or an array) or as CSV with an email column and an error column.
 * A row without an email concerns the whole job (its email is empty).
 */
export function parseProblems(text: string): ContactProblem[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    const parsed = JSON.parse(trimmed) as unknown;
    const items = Array.isArray(parsed)
      ? parsed
      : typeof parsed === 'object' &&
          parsed !== null &&
          Array.isArray((parsed as { errors?: unknown }).errors)
        ? (parsed as { errors: unknown[] }).errors
        : [];
    return items.flatMap((item) => {
      if (typeof item !== 'object' || item === null) return [];
      const record = item as Record<string, unknown>;
      const email = typeof record.email === 'string' ? record.email.toLowerCase() : '';
      const message =
        typeof record.message === 'string'
          ? record.message
          : typeof record.error === 'string'
            ? record.error
            : 'rejected';
      return [{ email, message }];
    });
  }
  const lines = trimmed.split(/\r?\n/).filter((line) => line.length > 0);
  const header = splitCsvLine(lines[0] ?? '').map((h) => h.toLowerCase());
  const emailAt = header.findIndex((h) => h === 'email' || h === 'identifier');
  const messageAt = header.findIndex((h) => h.includes('error') || h === 'message');
  if (emailAt < 0) return [];
  return lines.slice(1).map((line) => {
    const cells = splitCsvLine(line);
    const email = (cells[emailAt] ?? '').trim().toLowerCase();
    return { email, message: (messageAt >= 0 ? cells[messageAt] : undefined) || 'rejected' };
  });
}

function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line.charAt(i);
    if (quoted) {
      if (char === '"' && line.charAt(i + 1) === '"') {
        cell += '"';
        i++;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      cells.push(cell);
      cell = '';
    } else cell += char;
  }
  cells.push(cell);
  return cells;
}

function toList(list: z.output<typeof listSchema>): DestinationList {
  return { id: list.id, name: list.name, contactCount: list.contact_count ?? 0 };
}

/** The path and query of a `_metadata.next` link (absolute in SendGrid's answers). */
function nextPath(next: string | undefined): string | undefined {
  if (!next) return undefined;
  const url = new URL(next, 'http://placeholder');
  return `${url.pathname}${url.search}`;
}

function parseOr<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw protocolError(what);
  return parsed.data;
}

function protocolError(what: string): DestinationError {
  return new DestinationError(`SendGrid's answer to ${what} does not have the documented shape`, {
    reason: 'protocol',
    retryable: false,
  });
}

export type { SendGridSettings };
