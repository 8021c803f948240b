import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { contractCheckedFetch } from '../../../test/helpers/openapi.js';
import { startSandbox, type Sandbox } from '../../sandbox/index.js';
import { DestinationError } from '../../shared/errors.js';
import type { DestinationSession } from '../destination.js';
import { parseErrorBody } from './errors.js';
import { isValidSendGridDate, plainDecimal, sendgridDestination } from './sendgrid.js';

// Every request this client sends, and every answer it gets, is checked against SendGrid's
// official OpenAPI documents.
const checkedFetch = contractCheckedFetch();

describe('SendGrid destination against the sandbox', () => {
  let sandbox: Sandbox;
  let session: DestinationSession;

  beforeAll(async () => {
    sandbox = await startSandbox({
      port: 0,
      jobDelayMs: 0,
      apiKeys: [
        'SG.sandbox',
        { key: 'SG.readonly-key-0000', scopes: ['marketing.read'] },
        {
          key: 'SG.legacy-key-00000',
          scopes: [
            'marketing_campaigns.read',
            'marketing_campaigns.create',
            'marketing_campaigns.update',
            'marketing_campaigns.delete',
          ],
        },
      ],
    });
  });
  afterAll(() => sandbox.stop());
  beforeEach(() => {
    sandbox.reset();
    session = sendgridDestination.open(
      { apiKey: 'SG.sandbox', baseUrl: sandbox.url },
      { fetch: checkedFetch },
    );
  });

  const open = (apiKey: string) =>
    sendgridDestination.open({ apiKey, baseUrl: sandbox.url }, { fetch: checkedFetch });

  it('verifies a key with either scope family and names missing scopes', async () => {
    await expect(session.verify()).resolves.toMatchObject({
      scopes: expect.arrayContaining(['marketing.write']) as unknown,
    });
    await expect(open('SG.legacy-key-00000').verify()).resolves.toBeDefined();
    await expect(open('SG.readonly-key-0000').verify()).rejects.toThrow(
      /lacks the permissions exports need: marketing\.write/,
    );
  });

  it('says a refused key was refused, without the key', async () => {
    const error = await open('SG.wrong-key-123456789')
      .verify()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect(error).toMatchObject({ reason: 'auth_refused', status: 401 });
    expect((error as Error).message).toMatch(/refused the connection's API key/);
    expect((error as Error).message).not.toContain('wrong-key');
  });

  it('creates, finds and lists lists; a missing list is undefined', async () => {
    const list = await session.createList('Newsletter ES');
    expect(list).toMatchObject({ name: 'Newsletter ES', contactCount: 0 });
    expect(await session.getList(list.id)).toMatchObject({ id: list.id });
    expect(await session.getList('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    expect((await session.listLists()).map((l) => l.id)).toContain(list.id);
  });

  it('upserts contacts into a list, polls the job, finds and removes them', async () => {
    const list = await session.createList('Main');
    const contacts = ['ana@example.es', 'bob@example.com'].map((email) =>
      sendgridDestination.encodeContact({
        email,
        fields: { first_name: email.slice(0, 3) },
        customFields: {},
      }),
    );
    const { jobId } = await session.upsert(list.id, Buffer.from(contacts.join(',')), 2);
    let state = await session.job(jobId);
    for (let i = 0; state.status === 'pending' && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      state = await session.job(jobId);
    }
    expect(state).toMatchObject({ status: 'completed', counts: { created: 2 } });
    expect(await session.countContacts()).toBe(2);
    const found = await session.findContacts(['ana@example.es', 'nobody@example.com']);
    expect([...found.keys()]).toEqual(['ana@example.es']);
    expect(found.get('ana@example.es')?.listIds).toEqual([list.id]);
    const removal = await session.removeFromList(
      list.id,
      [...found.values()].map((c) => c.id),
    );
    expect(removal.jobId).toMatch(/.+/);
    sandbox.runPendingJobs();
    expect((await session.getList(list.id))?.contactCount).toBe(1);
    expect((await session.findContacts(['nobody@example.com'])).size).toBe(0);
  });

  it('reports a rejected batch with the field SendGrid named', async () => {
    const list = await session.createList('Main');
    const bad = sendgridDestination.encodeContact({
      email: 'a@x.com',
      fields: { first_name: 'x'.repeat(51) },
      customFields: {},
    });
    const unchecked = sendgridDestination.open(
      { apiKey: 'SG.sandbox', baseUrl: sandbox.url },
      { fetch: contractCheckedFetch({ checkRequests: false }) },
    );
    const error = await unchecked.upsert(list.id, Buffer.from(bad), 1).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'rejected', status: 400 });
    expect((error as DestinationError).details[0]?.field).toMatch(/^contacts\[0\]\.first_name/);
  });

  it("reads a job's errors file, sending the key to SendGrid's own address only", async () => {
    const seen: { url: string; authorization: string | null }[] = [];
    const spying = (answer: (url: URL) => Response | Promise<Response>) =>
      sendgridDestination.open(
        { apiKey: 'SG.sandbox', baseUrl: sandbox.url },
        {
          fetch: (input, init) => {
            const url = new URL(input instanceof Request ? input.url : input);
            seen.push({
              url: url.href,
              authorization: new Headers(init?.headers).get('authorization'),
            });
            return Promise.resolve(answer(url));
          },
        },
      );
    const csv = () => new Response('email,error\nbad@example.com,invalid date\n');
    // A signed link to storage elsewhere: fetched without the key.
    await expect(
      spying(csv).jobProblems('https://files.example.net/errors.csv?signature=abc'),
    ).resolves.toEqual([{ email: 'bad@example.com', message: 'invalid date' }]);
    expect(seen.at(-1)).toEqual({
      url: 'https://files.example.net/errors.csv?signature=abc',
      authorization: null,
    });
    // On SendGrid's own address (as the sandbox serves it), with the key.
    await spying(csv).jobProblems(`${sandbox.url}/__sandbox/imports/x/errors.csv`);
    expect(seen.at(-1)?.authorization).toBe('Bearer SG.sandbox');
    // A link refused (expired) is not the key refused; a link that is not http(s) is not fetched.
    const refused = await spying(() => new Response('AccessDenied', { status: 403 }))
      .jobProblems('https://files.example.net/errors.csv')
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DestinationError);
    expect(refused).toMatchObject({ reason: 'protocol', refusesKey: false, retryable: false });
    const count = seen.length;
    await expect(spying(csv).jobProblems('file:///etc/passwd')).rejects.toMatchObject({
      reason: 'protocol',
    });
    expect(seen).toHaveLength(count);
  });

  it('counts the request envelope exactly', () => {
    const encoded = [
      sendgridDestination.encodeContact({ email: 'a@x.com', fields: {}, customFields: {} }),
    ];
    const listId = '11111111-1111-4111-8111-111111111111';
    const body = `{"list_ids":["${listId}"],"contacts":[${encoded.join(',')}]}`;
    expect(
      sendgridDestination.requestOverheadBytes(listId, 1) + Buffer.byteLength(encoded[0]!),
    ).toBe(Buffer.byteLength(body));
  });
});

describe('SendGrid contact encoding', () => {
  it('writes the same JSON as JSON.stringify, hostile strings included', () => {
    const contact = {
      email: 'a"b\\c@example.com',
      fields: { first_name: 'Ana "la" \u2028 Nuñez', city: '</script>\n\t' },
      customFields: { e1_T: 'gold', w2: 12.5 },
    };
    expect(sendgridDestination.encodeContact(contact)).toBe(
      JSON.stringify({
        email: contact.email,
        ...contact.fields,
        custom_fields: contact.customFields,
      }),
    );
    expect(
      sendgridDestination.encodeContact({ email: 'x@y.co', fields: {}, customFields: {} }),
    ).toBe('{"email":"x@y.co"}');
  });

  it('writes numbers in plain digits, never in exponent form', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [12.5, '12.5'],
      [-3, '-3'],
      [1e-7, '0.0000001'],
      [-1.5e-7, '-0.00000015'],
      [1e21, '1000000000000000000000'],
      [-2.5e25, '-25000000000000000000000000'],
      [1.2345e22, '12345000000000000000000'],
    ];
    for (const [value, text] of cases) {
      expect(plainDecimal(value)).toBe(text);
      expect(Number(text)).toBe(value);
    }
    expect(
      sendgridDestination.encodeContact({
        email: 'x@y.co',
        fields: {},
        customFields: { w1: 1e-7, w2: 1e21 },
      }),
    ).toBe('{"email":"x@y.co","custom_fields":{"w1":0.0000001,"w2":1000000000000000000000}}');
  });

  it('takes dates in the forms SendGrid knows, and only days that exist', () => {
    for (const date of ['2024-02-29', '2024-02-29T10:30:00Z', '02/29/2024', '12/31/1999']) {
      expect(isValidSendGridDate(date)).toBe(true);
    }
    for (const date of [
      '2023-02-29',
      '2024-02-30',
      '02/30/2024',
      '13/01/2024',
      '2024-13-01',
      '29.02.2024',
      '2024-02-29T24:00:00Z',
      '2024-02-29T10:60:00Z',
    ]) {
      expect(isValidSendGridDate(date)).toBe(false);
    }
  });
});

describe('SendGrid error bodies', () => {
  it('reads every shape the documents give them', () => {
    const one = { field: 'contact_ids', message: 'contact ID does not exist' };
    for (const body of [{ errors: [one] }, [one], one, { errors: one }]) {
      expect(parseErrorBody(body)).toEqual([one]);
    }
    expect(parseErrorBody({ error: 'too many requests' })).toEqual([
      { field: null, message: 'too many requests' },
    ]);
    expect(parseErrorBody('<html>')).toEqual([]);
  });
});
