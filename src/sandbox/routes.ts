import { z } from 'zod';
import { isEmail, isUuid, parseUpsertBody } from './contacts.js';
import { errorBody, fieldErrors, type Reply } from './errors.js';
import {
  limits,
  reservedFieldDefinitions,
  type FieldDefinition,
  type Job,
  type SandboxState,
  type StoredContact,
  type StoredList,
} from './state.js';

/** What a handler needs to answer one request. */
export interface RouteContext {
  state: SandboxState;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  /** `http://host:port` as the client addressed the sandbox, for `_metadata` links. */
  baseUrl: string;
  scopes: readonly string[];
  now: number;
  /** Called with each new job so the server can run it after the job delay. */
  onJob(job: Job): void;
}

/** Which scopes satisfy a route: any one of them. */
export type ScopeNeed = 'none' | 'read' | 'create' | 'update' | 'delete';

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path template of the official documents, also the stats key. */
  pattern: string;
  scope: ScopeNeed;
  /** Whether the route reads a JSON body. */
  json: boolean;
  handle(ctx: RouteContext): Reply;
}

/** Whether a key with `scopes` may call a route needing `need`; both scope families count. */
export function hasScope(scopes: readonly string[], need: ScopeNeed): boolean {
  switch (need) {
    case 'none':
      return true;
    case 'read':
      return scopes.includes('marketing.read') || scopes.includes('marketing_campaigns.read');
    case 'create':
    case 'update':
    case 'delete':
      return scopes.includes('marketing.write') || scopes.includes(`marketing_campaigns.${need}`);
  }
}

const listNameSchema = z.object({ name: z.string().min(1).max(100) });
const fieldSchema = z.object({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'use letters, digits and underscores only'),
  field_type: z.enum(['Text', 'Number', 'Date']),
});
const searchSchema = z.object({ emails: z.array(z.string().max(100)).min(1).max(100) });

/** A zod failure as SendGrid's field errors (`name`, `emails[3]`). */
function zodErrors(error: z.ZodError): Reply {
  return {
    status: 400,
    body: fieldErrors(
      error.issues.map((issue) => ({
        field:
          issue.path
            .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
            .join('.')
            .replace(/\.\[/g, '[') || 'body',
        message: issue.message,
      })),
    ),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A contact as SendGrid's contact responses show it (custom fields by name). */
export function contactView(ctx: Pick<RouteContext, 'state' | 'baseUrl'>, contact: StoredContact) {
  const custom: Record<string, string | number> = {};
  if (contact.custom) {
    for (const [id, value] of Object.entries(contact.custom)) {
      custom[ctx.state.fields.get(id)?.name ?? id] = value;
    }
  }
  const id = ctx.state.idOf(contact);
  return {
    id,
    ...contact.fields,
    alternate_emails: contact.fields.alternate_emails ?? [],
    list_ids: ctx.state.listIdsOf(contact),
    segment_ids: [] as string[],
    custom_fields: custom,
    created_at: iso(ctx.state.timeAt(contact.created)),
    updated_at: iso(ctx.state.timeAt(contact.updated)),
    _metadata: { self: `${ctx.baseUrl}/v3/marketing/contacts/${id}` },
  };
}

/** A custom field as `POST` and `PATCH /v3/marketing/field_definitions` answer with it. */
function fieldView(ctx: RouteContext, field: FieldDefinition) {
  return {
    ...field,
    _metadata: { self: `${ctx.baseUrl}/v3/marketing/field_definitions/${field.id}` },
  };
}

function listView(ctx: RouteContext, list: StoredList) {
  return {
    id: list.id,
    name: list.name,
    contact_count: list.members.size,
    _metadata: { self: `${ctx.baseUrl}/v3/marketing/lists/${list.id}` },
  };
}

/** A job as `GET /v3/marketing/contacts/imports/{id}` shows it. */
export function jobView(baseUrl: string, job: Job) {
  const results: Record<string, number | string> = {
    requested_count: job.requested,
    created_count: job.created,
    updated_count: job.updated,
    deleted_count: job.deleted,
    errored_count: job.errored,
  };
  if (job.errors.length > 0)
    results.errors_url = `${baseUrl}/__sandbox/imports/${job.id}/errors.csv`;
  return {
    id: job.id,
    status: job.status,
    job_type: job.type,
    results,
    started_at: iso(job.startedAt),
    ...(job.finishedAt === undefined ? {} : { finished_at: iso(job.finishedAt) }),
  };
}

/** The rows of a job's errors file, as CSV with a header line. */
export function jobErrorsCsv(job: Job): string {
  const cell = (value: string | number) => `"${String(value).replace(/"/g, '""')}"`;
  const lines = ['"index","identifier","field","message"'];
  for (const e of job.errors)
    lines.push([e.index, e.identifier, e.field, e.message].map(cell).join(','));
  return `${lines.join('\n')}\n`;
}

function pageToken(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

function readPageToken(token: string): number | undefined {
  const match = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** The SendGrid endpoints the sandbox serves, literal paths before templated ones. */
export const routes: readonly Route[] = [
  {
    method: 'GET',
    pattern: '/v3/scopes',
    scope: 'none',
    json: false,
    handle: (ctx) => ({ status: 200, body: { scopes: [...ctx.scopes] } }),
  },
  {
    method: 'GET',
    pattern: '/v3/marketing/lists',
    scope: 'read',
    json: false,
    handle(ctx) {
      const sizeText = ctx.query.get('page_size') ?? '100';
      const size = Number(sizeText);
      if (!/^\d+$/.test(sizeText) || size < 1 || size > 1000) {
        return {
          status: 400,
          body: errorBody('page_size must be a whole number from 1 to 1000', 'page_size'),
        };
      }
      const tokenText = ctx.query.get('page_token') ?? '';
      const offset = tokenText === '' ? 0 : readPageToken(tokenText);
      if (offset === undefined) {
        return { status: 400, body: errorBody('page_token is not valid', 'page_token') };
      }
      const all = [...ctx.state.lists.values()];
      const page = all.slice(offset, offset + size);
      const link = (token: string) =>
        `${ctx.baseUrl}/v3/marketing/lists?page_size=${size}&page_token=${token}`;
      const metadata: Record<string, string | number> = {
        self: link(tokenText),
        count: all.length,
      };
      if (offset + size < all.length) metadata.next = link(pageToken(offset + size));
      if (offset > 0) metadata.prev = link(offset - size > 0 ? pageToken(offset - size) : '');
      return {
        status: 200,
        body: { result: page.map((list) => listView(ctx, list)), _metadata: metadata },
      };
    },
  },
  {
    method: 'POST',
    pattern: '/v3/marketing/lists',
    scope: 'create',
    json: true,
    handle(ctx) {
      const parsed = listNameSchema.safeParse(ctx.body);
      if (!parsed.success) return zodErrors(parsed.error);
      if (ctx.state.findListByName(parsed.data.name)) {
        return { status: 400, body: errorBody('a list with this name already exists', 'name') };
      }
      if (ctx.state.lists.size >= limits.lists) {
        return {
          status: 400,
          body: errorBody(`an account may hold at most ${limits.lists} lists`, 'name'),
        };
      }
      return { status: 201, body: listView(ctx, ctx.state.createList(parsed.data.name, ctx.now)) };
    },
  },
  {
    method: 'GET',
    pattern: '/v3/marketing/lists/{id}',
    scope: 'read',
    json: false,
    handle(ctx) {
      const list = ctx.state.lists.get(ctx.params.id ?? '');
      // The document types this 404 as a bare array of errors, unlike most SendGrid errors.
      if (!list) return { status: 404, body: [{ field: 'id', message: 'list ID does not exist' }] };
      const view: Record<string, unknown> = listView(ctx, list);
      if (ctx.query.get('contact_sample') === 'true') {
        const first = list.members.values().next();
        const contact = first.done ? undefined : ctx.state.contacts[first.value];
        if (contact) view.contact_sample = contactView(ctx, contact);
      }
      return { status: 200, body: view };
    },
  },
  {
    method: 'PATCH',
    pattern: '/v3/marketing/lists/{id}',
    scope: 'update',
    json: true,
    handle(ctx) {
      const list = ctx.state.lists.get(ctx.params.id ?? '');
      if (!list) return { status: 404, body: errorBody('list ID does not exist', 'id') };
      const parsed = listNameSchema.safeParse(ctx.body);
      if (!parsed.success) return zodErrors(parsed.error);
      const holder = ctx.state.findListByName(parsed.data.name);
      if (holder && holder !== list) {
        return { status: 400, body: errorBody('a list with this name already exists', 'name') };
      }
      ctx.state.renameList(list, parsed.data.name);
      return { status: 200, body: listView(ctx, list) };
    },
  },
  {
    method: 'DELETE',
    pattern: '/v3/marketing/lists/{id}',
    scope: 'delete',
    json: false,
    handle(ctx) {
      const deleteContacts = ctx.query.get('delete_contacts') ?? 'false';
      if (deleteContacts !== 'false' && deleteContacts !== 'true') {
        return {
          status: 400,
          body: errorBody('delete_contacts must be true or false', 'delete_contacts'),
        };
      }
      // Checked before the list is touched, so a refused call changes nothing.
      if (deleteContacts === 'true') {
        return {
          status: 400,
          body: errorBody(
            'the sandbox never deletes contacts: delete the list alone (delete_contacts=false), or reset the sandbox',
            'delete_contacts',
          ),
        };
      }
      if (!ctx.state.deleteList(ctx.params.id ?? '')) {
        return { status: 404, body: errorBody('list ID does not exist', 'id') };
      }
      return { status: 204 };
    },
  },
  {
    method: 'DELETE',
    pattern: '/v3/marketing/lists/{id}/contacts',
    scope: 'delete',
    json: false,
    handle(ctx) {
      const listId = ctx.params.id ?? '';
      const list = ctx.state.lists.get(listId);
      if (!list) return { status: 404, body: errorBody('list ID does not exist', 'id') };
      const text = ctx.query.get('contact_ids') ?? '';
      // The document types this 400 as one error object, not the usual envelope.
      if (text === '')
        return { status: 400, body: { field: 'contact_ids', message: 'contact_ids is required' } };
      const ids = text.split(',');
      const bad = ids.find((id) => !isUuid(id));
      if (bad !== undefined) {
        return {
          status: 400,
          body: {
            field: 'contact_ids',
            message: `contact ID ${JSON.stringify(bad)} is not a valid UUID`,
          },
        };
      }
      const unknown = ids.find((id) => !ctx.state.contactsById.has(id));
      if (unknown !== undefined) {
        return {
          status: 404,
          body: errorBody(`contact ID ${unknown} does not exist`, 'contact_ids'),
        };
      }
      const job = ctx.state.submitRemoval(list.id, ids, ctx.now);
      ctx.onJob(job);
      return { status: 202, body: { job_id: job.id } };
    },
  },
  {
    method: 'PUT',
    pattern: '/v3/marketing/contacts',
    scope: 'update',
    json: true,
    handle(ctx) {
      const parsed = parseUpsertBody(ctx.body, new Set(ctx.state.fields.keys()));
      if (!parsed.ok) return { status: 400, body: fieldErrors(parsed.problems) };
      const missing = parsed.value.listIds.filter((id) => !ctx.state.lists.has(id));
      if (missing.length > 0) {
        return {
          status: 404,
          body: errorBody(`list ID(s) ${missing.join(', ')} do not exist`, 'list_ids'),
        };
      }
      const job = ctx.state.submitUpsert(parsed.value, ctx.now);
      ctx.onJob(job);
      return { status: 202, body: { job_id: job.id } };
    },
  },
  {
    method: 'GET',
    pattern: '/v3/marketing/contacts/count',
    scope: 'read',
    json: false,
    handle: (ctx) => {
      const count = ctx.state.contactsById.size;
      return { status: 200, body: { contact_count: count, billable_count: count } };
    },
  },
  {
    method: 'GET',
    pattern: '/v3/marketing/contacts/imports/{id}',
    scope: 'read',
    json: false,
    handle(ctx) {
      const job = ctx.state.jobs.get(ctx.params.id ?? '');
      if (!job) return { status: 404, body: errorBody('job ID does not exist', 'id') };
      return { status: 200, body: jobView(ctx.baseUrl, job) };
    },
  },
  {
    method: 'POST',
    pattern: '/v3/marketing/contacts/search/emails',
    scope: 'read',
    json: true,
    handle(ctx) {
      const parsed = searchSchema.safeParse(ctx.body);
      if (!parsed.success) return zodErrors(parsed.error);
      // As documented: a 400 when any searched address is invalid, empty strings left out, and
      // the results keyed by the addresses in lower case.
      const invalid = parsed.data.emails.findIndex((email) => email !== '' && !isEmail(email));
      if (invalid >= 0) {
        return {
          status: 400,
          body: errorBody(
            `${JSON.stringify(parsed.data.emails[invalid])} is not a valid email address`,
            `emails[${invalid}]`,
          ),
        };
      }
      const result: Record<
        string,
        { contact: ReturnType<typeof contactView> } | { error: string }
      > = {};
      let found = 0;
      for (const email of parsed.data.emails) {
        if (email === '') continue;
        const key = email.toLowerCase();
        const contact = ctx.state.findByEmail(email);
        if (contact) {
          found++;
          result[key] = { contact: contactView(ctx, contact) };
        } else {
          result[key] = { error: 'contact not found' };
        }
      }
      if (found === 0) return { status: 404, body: errorBody('no contacts found', 'emails') };
      return { status: 200, body: { result } };
    },
  },
  {
    method: 'GET',
    pattern: '/v3/marketing/field_definitions',
    scope: 'read',
    json: false,
    handle: (ctx) => ({
      status: 200,
      body: {
        custom_fields: [...ctx.state.fields.values()].map((f) => ({ ...f })),
        reserved_fields: reservedFieldDefinitions.map((f) => ({ ...f })),
        _metadata: { self: `${ctx.baseUrl}/v3/marketing/field_definitions` },
      },
    }),
  },
  {
    method: 'POST',
    pattern: '/v3/marketing/field_definitions',
    scope: 'create',
    json: true,
    handle(ctx) {
      const parsed = fieldSchema.safeParse(ctx.body);
      if (!parsed.success) return zodErrors(parsed.error);
      const { name, field_type } = parsed.data;
      // Names are unique regardless of case, and none may be a reserved field's (the document).
      if (!ctx.state.fieldNameFree(name))
        return { status: 400, body: errorBody(`a field named ${name} already exists`, 'name') };
      if (ctx.state.fields.size >= limits.customFields) {
        return {
          status: 400,
          body: errorBody(
            `an account may hold at most ${limits.customFields} custom fields`,
            'name',
          ),
        };
      }
      const field = ctx.state.createField(name, field_type);
      return { status: 200, body: fieldView(ctx, field) };
    },
  },
  {
    method: 'PATCH',
    pattern: '/v3/marketing/field_definitions/{custom_field_id}',
    scope: 'update',
    json: true,
    handle(ctx) {
      // Reserved fields are not custom fields: they cannot be renamed, and are not found here.
      const field = ctx.state.fields.get(ctx.params.custom_field_id ?? '');
      if (!field)
        return {
          status: 404,
          body: errorBody('custom field ID does not exist', 'custom_field_id'),
        };
      const parsed = fieldSchema.pick({ name: true }).safeParse(ctx.body);
      if (!parsed.success) return zodErrors(parsed.error);
      const { name } = parsed.data;
      if (!ctx.state.fieldNameFree(name, field.id))
        return { status: 400, body: errorBody(`a field named ${name} already exists`, 'name') };
      ctx.state.renameField(field, name);
      return { status: 200, body: fieldView(ctx, field) };
    },
  },
  {
    method: 'DELETE',
    pattern: '/v3/marketing/field_definitions/{custom_field_id}',
    scope: 'delete',
    json: false,
    handle(ctx) {
      if (!ctx.state.deleteField(ctx.params.custom_field_id ?? ''))
        return {
          status: 404,
          body: errorBody('custom field ID does not exist', 'custom_field_id'),
        };
      return { status: 204 };
    },
  },
];

/** A route whose method differs is still a known path: the server answers 405, not 404. */
export function matchRoute(
  method: string,
  pathname: string,
): { route: Route; params: Record<string, string> } | { pathKnown: boolean } {
  let pathKnown = false;
  for (const route of routes) {
    const params = matchPattern(route.pattern, pathname);
    if (!params) continue;
    if (route.method === method) return { route, params };
    pathKnown = true;
  }
  return { pathKnown };
}

const compiled = new Map<string, RegExp>();

/** The named segments of `pathname` when it fits `pattern` (`/lists/{id}`), else undefined. */
export function matchPattern(
  pattern: string,
  pathname: string,
): Record<string, string> | undefined {
  let regex = compiled.get(pattern);
  if (!regex) {
    const source = pattern
      .split('/')
      .map((part) =>
        /^\{(\w+)\}$/.test(part)
          ? `(?<${part.slice(1, -1)}>[^/]+)`
          : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    regex = new RegExp(`^${source}/?$`);
    compiled.set(pattern, regex);
  }
  const match = regex.exec(pathname);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(match.groups ?? {})) {
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      params[name] = value; // a malformed escape names nothing that exists: the handler's 404
    }
  }
  return params;
}
