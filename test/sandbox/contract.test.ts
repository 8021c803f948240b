import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import {
  createList,
  inspect,
  sendGridClient,
  start,
  upsert,
  waitForJob,
  type JobBody,
} from './support.js';

type Errors = { errors: { field?: string | null; message: string }[] };

describe('SendGrid sandbox: endpoints against the official documents', () => {
  let sandbox: Sandbox;
  let client: ReturnType<typeof sendGridClient>;

  beforeAll(async () => {
    sandbox = await start({
      apiKeys: [
        'SG.sandbox',
        { key: 'SG.readonly', scopes: ['marketing.read'] },
        { key: 'SG.legacy', scopes: ['marketing_campaigns.read', 'marketing_campaigns.update'] },
      ],
    });
    client = sendGridClient(sandbox);
  });
  afterAll(() => sandbox.stop());
  beforeEach(() => sandbox.reset());

  it('reports the scopes of the calling key', async () => {
    const own = await client.call('GET', '/v3/scopes');
    expect(own.body).toEqual({ scopes: ['marketing.read', 'marketing.write'] });
    const readonly = await client.call('GET', '/v3/scopes', undefined, { key: 'SG.readonly' });
    expect(readonly.body).toEqual({ scopes: ['marketing.read'] });
  });

  it('refuses a missing or unknown key with 401 and a key without the scope with 403', async () => {
    const missing = await client.call<Errors>('GET', '/v3/marketing/lists', undefined, {
      key: null,
    });
    expect(missing.status).toBe(401);
    expect(missing.body.errors[0]?.message).toBe('authorization required');
    const unknown = await client.call<Errors>('GET', '/v3/scopes', undefined, { key: 'SG.nope' });
    expect(unknown.status).toBe(401);
    const forbidden = await client.call<Errors>(
      'POST',
      '/v3/marketing/lists',
      { name: 'x' },
      {
        key: 'SG.readonly',
      },
    );
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.errors[0]?.message).toBe('access forbidden');
    // The older "Marketing Campaigns" scope family counts too.
    const legacy = await client.call(
      'PUT',
      '/v3/marketing/contacts',
      {
        contacts: [{ email: 'l@example.com' }],
      },
      { key: 'SG.legacy' },
    );
    expect(legacy.status).toBe(202);
    const legacyCreate = await client.call(
      'POST',
      '/v3/marketing/lists',
      { name: 'y' },
      {
        key: 'SG.legacy',
      },
    );
    expect(legacyCreate.status).toBe(403);
  });

  it('creates lists and pages through them with page_size, page_token and _metadata.next', async () => {
    for (let i = 0; i < 5; i++) await createList(client, `list ${i}`);
    const names: string[] = [];
    let path: string | undefined = '/v3/marketing/lists?page_size=2';
    let pages = 0;
    while (path) {
      const page: {
        body: { result: { name: string }[]; _metadata: { next?: string; count: number } };
      } = await client.call('GET', path);
      names.push(...page.body.result.map((l) => l.name));
      expect(page.body._metadata.count).toBe(5);
      path = page.body._metadata.next?.slice(sandbox.url.length);
      pages++;
    }
    expect(pages).toBe(3);
    expect(names).toEqual(['list 0', 'list 1', 'list 2', 'list 3', 'list 4']);
    const bad = await client.call('GET', '/v3/marketing/lists?page_size=5000');
    expect(bad.status).toBe(400);
    const duplicate = await client.call<Errors>('POST', '/v3/marketing/lists', { name: 'list 0' });
    expect(duplicate.status).toBe(400);
    const empty = await client.call<Errors>('POST', '/v3/marketing/lists', { name: '' });
    expect(empty.status).toBe(400);
    expect(empty.body.errors[0]?.field).toBe('name');
  });

  it('shows one list with contact_count and contact_sample, and 404s an unknown one', async () => {
    const listId = await createList(client, 'customers');
    await upsert(client, { list_ids: [listId], contacts: [{ email: 'Ann@Example.com' }] });
    const list = await client.call<{ contact_count: number; contact_sample: { email: string } }>(
      'GET',
      `/v3/marketing/lists/${listId}?contact_sample=true`,
    );
    expect(list.status).toBe(200);
    expect(list.body.contact_count).toBe(1);
    expect(list.body.contact_sample.email).toBe('ann@example.com');
    const missing = await client.call(
      'GET',
      '/v3/marketing/lists/7c1e5b3a-0000-4000-8000-000000000000',
    );
    expect(missing.status).toBe(404);
  });

  it('upserts by lower-cased email, leaving omitted fields unchanged', async () => {
    const listId = await createList(client, 'a');
    const first = await upsert(client, {
      list_ids: [listId],
      contacts: [{ email: 'Bea@Example.com', first_name: 'Bea', city: 'Oslo' }],
    });
    expect(first).toMatchObject({
      status: 'completed',
      results: { requested_count: 1, created_count: 1 },
    });
    const second = await upsert(client, {
      contacts: [{ email: 'bea@example.com', last_name: 'Berg' }, { email: 'cy@example.com' }],
    });
    expect(second.results).toMatchObject({
      requested_count: 2,
      created_count: 1,
      updated_count: 1,
    });
    const stored = await inspect<{ contacts: Record<string, unknown>[] }>(
      sandbox,
      `/__sandbox/lists/${listId}/contacts`,
    );
    expect(stored.body.contacts).toHaveLength(1);
    expect(stored.body.contacts[0]).toMatchObject({
      email: 'bea@example.com',
      first_name: 'Bea',
      last_name: 'Berg',
      city: 'Oslo',
      list_ids: [listId],
    });
    const count = await client.call('GET', '/v3/marketing/contacts/count');
    expect(count.body).toEqual({ contact_count: 2, billable_count: 2 });
  });

  it('keeps contacts out of sight until the job has run (a 202 is not delivery)', async () => {
    await sandbox.stop();
    sandbox = await start({ jobDelayMs: 300 });
    client = sendGridClient(sandbox);
    const listId = await createList(client, 'slow');
    const put = await client.call<{ job_id: string }>('PUT', '/v3/marketing/contacts', {
      list_ids: [listId],
      contacts: [{ email: 'd@example.com' }],
    });
    const pending = await client.call<JobBody>(
      'GET',
      `/v3/marketing/contacts/imports/${put.body.job_id}`,
    );
    expect(pending.body.status).toBe('pending');
    expect((await client.call('GET', '/v3/marketing/contacts/count')).body).toMatchObject({
      contact_count: 0,
    });
    expect((await waitForJob(client, put.body.job_id)).status).toBe('completed');
    expect((await client.call('GET', '/v3/marketing/contacts/count')).body).toMatchObject({
      contact_count: 1,
    });
  });

  it('takes custom fields by id, refuses them by name, and errors rows with bad values', async () => {
    const created = await client.call<{ id: string }>('POST', '/v3/marketing/field_definitions', {
      name: 'loyalty_points',
      field_type: 'Number',
    });
    expect(created.status).toBe(200);
    const fieldId = created.body.id;
    expect(fieldId).toMatch(/^e\d+_N$/);
    const definitions = await client.call<{ custom_fields: { id: string; name: string }[] }>(
      'GET',
      '/v3/marketing/field_definitions',
    );
    expect(definitions.body.custom_fields).toEqual([
      { id: fieldId, name: 'loyalty_points', field_type: 'Number' },
    ]);
    // Names are unique regardless of case, and never a reserved field's.
    for (const name of ['Loyalty_Points', 'First_Name']) {
      const clash = await client.call('POST', '/v3/marketing/field_definitions', {
        name,
        field_type: 'Text',
      });
      expect(clash.status).toBe(400);
    }

    const byName = await client.call<Errors>('PUT', '/v3/marketing/contacts', {
      contacts: [{ email: 'e@example.com', custom_fields: { loyalty_points: 3 } }],
    });
    expect(byName.status).toBe(400);
    expect(byName.body.errors[0]?.field).toBe('contacts[0].custom_fields.loyalty_points');

    const job = await upsert(client, {
      contacts: [
        { email: 'f@example.com', custom_fields: { [fieldId]: 12 } },
        { email: 'g@example.com', custom_fields: { [fieldId]: 'lots' } },
      ],
    });
    expect(job.status).toBe('errored');
    expect(job.results).toMatchObject({ created_count: 1, errored_count: 1 });
    const errorsUrl = job.results.errors_url ?? '';
    expect(errorsUrl.startsWith(sandbox.url)).toBe(true);
    const csv = await (await fetch(errorsUrl)).text();
    expect(csv).toMatch(/^"index","identifier","field","message"\n"1","g@example.com"/);
    // A job whose every row errored failed ("finished with all errors"), as SendGrid documents.
    const allBad = await upsert(client, {
      contacts: [{ email: 'k@example.com', custom_fields: { [fieldId]: 'none' } }],
    });
    expect(allBad.status).toBe('failed');
    expect(allBad.results).toMatchObject({ created_count: 0, errored_count: 1 });

    const found = await client.call<{
      result: Record<string, { contact?: { custom_fields: object } }>;
    }>('POST', '/v3/marketing/contacts/search/emails', { emails: ['f@example.com'] });
    expect(found.body.result['f@example.com']?.contact?.custom_fields).toEqual({
      loyalty_points: 12,
    });
  });

  it('searches by email: 200 with per-email misses, 404 when none match, 100 at most', async () => {
    await upsert(client, {
      contacts: [{ email: 'h@example.com', alternate_emails: ['h.alt@example.com'] }],
    });
    const some = await client.call<{
      result: Record<string, { contact?: { id: string; list_ids: string[] }; error?: string }>;
    }>('POST', '/v3/marketing/contacts/search/emails', {
      emails: ['H@example.com', 'nobody@example.com', 'h.alt@example.com', ''],
    });
    expect(some.status).toBe(200);
    // Keyed in lower case, empty strings left out, as documented.
    expect(Object.keys(some.body.result).sort()).toEqual([
      'h.alt@example.com',
      'h@example.com',
      'nobody@example.com',
    ]);
    expect(some.body.result['h@example.com']?.contact?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(some.body.result['h.alt@example.com']?.contact?.id).toBe(
      some.body.result['h@example.com']?.contact?.id,
    );
    expect(some.body.result['nobody@example.com']).toEqual({ error: 'contact not found' });
    // "A 400 status code is returned if any searched addresses are invalid."
    const invalid = await client.call<Errors>('POST', '/v3/marketing/contacts/search/emails', {
      emails: ['h@example.com', 'not-an-email'],
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors[0]?.field).toBe('emails[1]');
    const none = await client.call('POST', '/v3/marketing/contacts/search/emails', {
      emails: ['nobody@example.com'],
    });
    expect(none.status).toBe(404);
    const tooMany = await client.call('POST', '/v3/marketing/contacts/search/emails', {
      emails: Array.from({ length: 101 }, (_, i) => `p${i}@example.com`),
    });
    expect(tooMany.status).toBe(400);
  });

  it('removes contacts from a list by comma-joined ids without deleting them', async () => {
    const listId = await createList(client, 'members');
    await upsert(client, {
      list_ids: [listId],
      contacts: ['i', 'j', 'k'].map((n) => ({ email: `${n}@example.com` })),
    });
    const search = await client.call<{ result: Record<string, { contact: { id: string } }> }>(
      'POST',
      '/v3/marketing/contacts/search/emails',
      { emails: ['i@example.com', 'j@example.com'] },
    );
    const ids = Object.values(search.body.result).map((r) => r.contact.id);
    const removal = await client.call<{ job_id: string }>(
      'DELETE',
      `/v3/marketing/lists/${listId}/contacts?contact_ids=${ids.join(',')}`,
    );
    expect(removal.status).toBe(202);
    const job = await waitForJob(client, removal.body.job_id);
    expect(job).toMatchObject({
      status: 'completed',
      job_type: 'delete',
      results: { deleted_count: 2 },
    });
    const left = await inspect<{ contacts: { email: string }[] }>(
      sandbox,
      `/__sandbox/lists/${listId}/contacts`,
    );
    expect(left.body.contacts.map((c) => c.email)).toEqual(['k@example.com']);
    expect((await client.call('GET', '/v3/marketing/contacts/count')).body).toMatchObject({
      contact_count: 3,
    });
    expect(
      (await client.call('DELETE', `/v3/marketing/lists/${listId}/contacts?contact_ids=nope`))
        .status,
    ).toBe(400);
    expect((await client.call('DELETE', `/v3/marketing/lists/${listId}/contacts`)).status).toBe(
      400,
    );
  });

  it('renames and deletes lists, keeping their contacts in the account', async () => {
    const listId = await createList(client, 'spring');
    await createList(client, 'summer');
    await upsert(client, { list_ids: [listId], contacts: [{ email: 'l@example.com' }] });
    const renamed = await client.call<{ name: string; contact_count: number }>(
      'PATCH',
      `/v3/marketing/lists/${listId}`,
      { name: 'spring 2027' },
    );
    expect(renamed).toMatchObject({ status: 200, body: { name: 'spring 2027', contact_count: 1 } });
    const clash = await client.call<Errors>('PATCH', `/v3/marketing/lists/${listId}`, {
      name: 'summer',
    });
    expect(clash.status).toBe(400);
    expect(clash.body.errors[0]?.field).toBe('name');
    const unknown = '7c1e5b3a-0000-4000-8000-000000000000';
    expect(
      (await client.call('PATCH', `/v3/marketing/lists/${unknown}`, { name: 'x' })).status,
    ).toBe(404);

    // Deleting the contacts too is the one thing the sandbox does not do: refused, nothing changed.
    const withContacts = await client.call<Errors>(
      'DELETE',
      `/v3/marketing/lists/${listId}?delete_contacts=true`,
    );
    expect(withContacts.status).toBe(400);
    expect(withContacts.body.errors[0]?.message).toMatch(/never deletes contacts/);
    expect((await client.call('GET', `/v3/marketing/lists/${listId}`)).status).toBe(200);

    const deleted = await client.call('DELETE', `/v3/marketing/lists/${listId}`);
    expect(deleted.status).toBe(204);
    expect((await client.call('GET', `/v3/marketing/lists/${listId}`)).status).toBe(404);
    expect((await client.call('DELETE', `/v3/marketing/lists/${listId}`)).status).toBe(404);
    const lists = await client.call<{ result: { name: string }[] }>('GET', '/v3/marketing/lists');
    expect(lists.body.result.map((l) => l.name)).toEqual(['summer']);
    expect((await client.call('GET', '/v3/marketing/contacts/count')).body).toMatchObject({
      contact_count: 1,
    });
    // An upsert into the deleted list is refused, as into any list that does not exist.
    const into = await client.call('PUT', '/v3/marketing/contacts', {
      list_ids: [listId],
      contacts: [{ email: 'm@example.com' }],
    });
    expect(into.status).toBe(404);
  });

  it('renames custom fields (same id) and deletes them with their values', async () => {
    const created = await client.call<{ id: string }>('POST', '/v3/marketing/field_definitions', {
      name: 'points',
      field_type: 'Number',
    });
    const fieldId = created.body.id;
    await upsert(client, {
      contacts: [{ email: 'p@example.com', custom_fields: { [fieldId]: 5 } }],
    });
    const customOf = async (email: string) =>
      (
        await client.call<{ result: Record<string, { contact: { custom_fields: object } }> }>(
          'POST',
          '/v3/marketing/contacts/search/emails',
          { emails: [email] },
        )
      ).body.result[email]?.contact.custom_fields;

    const renamed = await client.call<{ id: string; name: string }>(
      'PATCH',
      `/v3/marketing/field_definitions/${fieldId}`,
      { name: 'loyalty_points' },
    );
    expect(renamed).toMatchObject({ status: 200, body: { id: fieldId, name: 'loyalty_points' } });
    expect(await customOf('p@example.com')).toEqual({ loyalty_points: 5 });
    // A name is still unique regardless of case, never a reserved field's, and well formed.
    for (const name of ['First_Name', 'bad name']) {
      const refused = await client.call('PATCH', `/v3/marketing/field_definitions/${fieldId}`, {
        name,
      });
      expect(refused.status).toBe(400);
    }
    // Renaming a field to its own name in another case is no clash.
    const recased = await client.call('PATCH', `/v3/marketing/field_definitions/${fieldId}`, {
      name: 'Loyalty_Points',
    });
    expect(recased.status).toBe(200);

    expect((await client.call('DELETE', `/v3/marketing/field_definitions/${fieldId}`)).status).toBe(
      204,
    );
    expect(await customOf('p@example.com')).toEqual({});
    expect((await client.call('DELETE', `/v3/marketing/field_definitions/${fieldId}`)).status).toBe(
      404,
    );
    // Reserved fields are not custom fields: nothing to delete.
    expect((await client.call('DELETE', '/v3/marketing/field_definitions/_rf0_T')).status).toBe(
      404,
    );
    const byOldId = await client.call<Errors>('PUT', '/v3/marketing/contacts', {
      contacts: [{ email: 'q@example.com', custom_fields: { [fieldId]: 1 } }],
    });
    expect(byOldId.status).toBe(400);
    // Made again under the same name, a field gets a new id.
    const again = await client.call<{ id: string }>('POST', '/v3/marketing/field_definitions', {
      name: 'loyalty_points',
      field_type: 'Number',
    });
    expect(again.status).toBe(200);
    expect(again.body.id).not.toBe(fieldId);
    expect(await customOf('p@example.com')).toEqual({});
  });

  describe('requests the documents forbid get the errors SendGrid gives', () => {
    const put = (body: unknown) => client.call<Errors>('PUT', '/v3/marketing/contacts', body);

    it('missing contacts', async () => {
      const response = await put({ list_ids: [] });
      expect(response.status).toBe(400);
      expect(response.body.errors[0]).toMatchObject({ field: 'contacts' });
    });

    it('30,001 contacts (30,000 pass)', async () => {
      const contacts = Array.from({ length: 30_001 }, (_, i) => ({ email: `c${i}@example.com` }));
      const tooMany = await put({ contacts });
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.errors[0]?.message).toMatch(/at most 30000/);
      const justRight = await put({ contacts: contacts.slice(0, 30_000) });
      expect(justRight.status).toBe(202);
    });

    it('a 7 MB body gets 413, and the server keeps serving', async () => {
      const contacts = Array.from({ length: 20_000 }, (_, i) => ({
        email: `c${i}@example.com`,
        address_line_1: 'x'.repeat(99),
        address_line_2: 'y'.repeat(99),
        city: 'z'.repeat(59),
        first_name: 'f'.repeat(50),
        last_name: 'l'.repeat(50),
      }));
      const body = JSON.stringify({ contacts });
      expect(body.length).toBeGreaterThan(7_000_000);
      const response = await client.call<Errors>('PUT', '/v3/marketing/contacts', undefined, {
        rawBody: body,
      });
      expect(response.status).toBe(413);
      expect((await client.call('GET', '/v3/scopes')).status).toBe(200);
    });

    it('list_ids that are not UUIDs, and lists that do not exist', async () => {
      const response = await put({ list_ids: ['my-list'], contacts: [{ email: 'a@example.com' }] });
      expect(response.status).toBe(400);
      expect(response.body.errors[0]?.field).toBe('list_ids[0]');
      const missing = await put({
        list_ids: ['7c1e5b3a-0000-4000-8000-000000000000'],
        contacts: [{ email: 'a@example.com' }],
      });
      expect(missing.status).toBe(404);
    });

    it('a first_name of 51 characters, naming the contact', async () => {
      const response = await put({
        contacts: [
          { email: 'ok@example.com' },
          { email: 'b@example.com', first_name: 'n'.repeat(51) },
        ],
      });
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([
        {
          field: 'contacts[1].first_name',
          message: 'first_name must be at most 50 characters long',
        },
      ]);
    });

    it('an invalid email, a contact without identifier, more than 5 alternate emails', async () => {
      const response = await put({
        contacts: [
          { email: 'not an email' },
          { first_name: 'nobody' },
          {
            email: 'm@example.com',
            alternate_emails: ['a@x.io', 'b@x.io', 'c@x.io', 'd@x.io', 'e@x.io', 'f@x.io'],
          },
        ],
      });
      expect(response.status).toBe(400);
      expect(response.body.errors.map((e) => e.field)).toEqual([
        'contacts[0].email',
        'contacts[1]',
        'contacts[2].alternate_emails',
      ]);
    });

    it('malformed JSON and the wrong content type', async () => {
      const malformed = await client.call('PUT', '/v3/marketing/contacts', undefined, {
        rawBody: '{"contacts": [',
      });
      expect(malformed.status).toBe(400);
      const wrongType = await client.call<Errors>('PUT', '/v3/marketing/contacts', undefined, {
        rawBody: JSON.stringify({ contacts: [{ email: 'a@example.com' }] }),
        headers: { 'content-type': 'text/plain' },
      });
      expect(wrongType.status).toBe(400);
      expect(wrongType.body.errors[0]?.message).toMatch(/Content-Type/);
    });

    it('ignores misspelt keys as SendGrid does (listIds changes no list)', async () => {
      const listId = await createList(client, 'target');
      const job = await upsert(client, {
        listIds: [listId],
        contacts: [{ email: 'q@example.com' }],
      });
      expect(job.status).toBe('completed');
      const list = await client.call<{ contact_count: number }>(
        'GET',
        `/v3/marketing/lists/${listId}`,
      );
      expect(list.body.contact_count).toBe(0);
    });
  });

  it('answers huge headers with a SendGrid-shaped 431 and keeps serving', async () => {
    const response = await fetch(`${sandbox.url}/v3/scopes`, {
      headers: { authorization: 'Bearer SG.sandbox', 'x-padding': 'p'.repeat(40_000) },
    });
    expect(response.status).toBe(431);
    expect(await response.json()).toEqual({
      errors: [{ field: null, message: 'request headers are too large' }],
    });
    expect((await client.call('GET', '/v3/scopes')).status).toBe(200);
  });

  it('puts X-RateLimit headers on every SendGrid response', async () => {
    for (const response of [
      await client.call('GET', '/v3/scopes'),
      await client.call('GET', '/v3/scopes', undefined, { key: null }),
      await client.call('PUT', '/v3/marketing/contacts', { contacts: [] }),
    ]) {
      expect(Number(response.headers.get('x-ratelimit-limit'))).toBeGreaterThan(0);
      expect(response.headers.get('x-ratelimit-remaining')).toMatch(/^\d+$/);
      expect(Number(response.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(
        Math.floor(Date.now() / 1000),
      );
    }
  });

  it('counts requests by method, path template and status in /__sandbox/stats; reset clears', async () => {
    const listId = await createList(client, 'stats');
    await client.call('GET', `/v3/marketing/lists/${listId}`);
    await client.call('GET', `/v3/marketing/lists/${listId}`);
    // Not a documented path, so not contract-checked: the sandbox still answers SendGrid-style.
    const unknown = await fetch(`${sandbox.url}/v3/nothing-here`);
    expect(await unknown.json()).toEqual({
      errors: [{ field: null, message: 'resource not found' }],
    });
    const stats = await inspect<{
      requests: { method: string; path: string; status: number; count: number }[];
      bytes_received: number;
      lists: number;
    }>(sandbox, '/__sandbox/stats');
    expect(stats.body.requests).toEqual(
      expect.arrayContaining([
        { method: 'POST', path: '/v3/marketing/lists', status: 201, count: 1 },
        { method: 'GET', path: '/v3/marketing/lists/{id}', status: 200, count: 2 },
        { method: 'GET', path: 'unknown', status: 404, count: 1 },
      ]),
    );
    expect(stats.body.bytes_received).toBe(JSON.stringify({ name: 'stats' }).length);
    expect(stats.body.lists).toBe(1);
    expect((await inspect(sandbox, '/__sandbox/reset', 'POST')).status).toBe(200);
    const after = await inspect<{ requests: unknown[]; lists: number }>(
      sandbox,
      '/__sandbox/stats',
    );
    expect(after.body).toMatchObject({ requests: [], lists: 0 });
  });
});
