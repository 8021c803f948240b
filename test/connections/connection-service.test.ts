import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Actor } from '../../src/auth/permissions.js';
import { ConnectionService } from '../../src/connections/connection-service.js';
import { ConnectionStore } from '../../src/connections/connection-store.js';
import { SecretBox } from '../../src/connections/secret-box.js';
import { destinations } from '../../src/destinations/registry.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { describeEachDatabase } from '../helpers/databases.js';
import { contractCheckedFetch } from '../helpers/openapi.js';

const KEY = 'SG.live-key-abcdefghijklmnop.qrstuvwxyz0123456789ABCDEFGHIJ';
const OTHER_KEY = 'SG.second-key-abcdefghijklmno.pqrstuvwxyz0123456789ABCDEFGH';
const admin: Actor = { id: 'usr_admin', name: 'Ada', role: 'admin' };
const contributor: Actor = { id: 'usr_contrib', name: 'Carl', role: 'contributor' };

describeEachDatabase('connection service', (get) => {
  let sandbox: Sandbox;
  let service: ConnectionService;
  let users: { id: string; name: string; runId?: string }[];

  beforeAll(async () => {
    sandbox = await startSandbox({
      port: 0,
      apiKeys: [KEY, OTHER_KEY, { key: 'SG.readonly-key-abcdefgh', scopes: ['marketing.read'] }],
    });
  });
  afterAll(() => sandbox.stop());

  beforeEach(async () => {
    await get().db.deleteFrom('connections').execute();
    users = [];
    service = new ConnectionService({
      store: new ConnectionStore(get().db),
      box: new SecretBox(Buffer.alloc(32, 3)),
      destinations,
      fetch: contractCheckedFetch(),
      clock: new ManualClock('2026-11-29T09:00:00Z'),
      connectionUsers: () => Promise.resolve(users),
    });
  });

  const add = (overrides: Record<string, unknown> = {}) =>
    service.add(admin, {
      name: 'Main account',
      apiKey: KEY,
      baseUrl: sandbox.url,
      acceptPrivacy: true,
      ...overrides,
    } as never);

  it('connects an account after checking its key, recording consent and the export user', async () => {
    const view = await add({ profileLimit: 5000 });
    expect(view).toMatchObject({
      name: 'Main account',
      type: 'sendgrid',
      sharing: 'admins',
      api_key: 'SG.****GHIJ',
      profile_limit: 5000,
      consent: { accepted_by: 'usr_admin', accepted_at: '2026-11-29T09:00:00.000Z' },
      export_user: 'usr_admin',
    });
    expect(view.id).toMatch(/^con_/);
  });

  it('keeps the key secret everywhere: views, lists and the database', async () => {
    const view = await add();
    const everything = JSON.stringify([
      view,
      await service.list(admin),
      await service.get(admin, view.id),
    ]);
    expect(everything).not.toContain(KEY);
    const rows = await get().db.selectFrom('connections').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(KEY);
    expect(JSON.stringify(rows)).not.toContain(KEY.slice(3, 20));
  });

  it('refuses a connection without the privacy consent', async () => {
    await expect(add({ acceptPrivacy: false })).rejects.toThrow(/data-privacy consent is required/);
    expect(await service.list(admin)).toEqual([]);
  });

  it('names a refused key and missing scopes, storing nothing', async () => {
    await expect(add({ apiKey: 'SG.unknown-key-1234567890' })).rejects.toThrow(
      /refused the connection's API key/,
    );
    await expect(add({ apiKey: 'SG.readonly-key-abcdefgh' })).rejects.toThrow(/marketing\.write/);
    expect(await service.list(admin)).toEqual([]);
  });

  it('refuses a duplicate name and contributors connecting accounts', async () => {
    await add();
    await expect(add()).rejects.toMatchObject({ kind: 'conflict', code: 'connection_name_taken' });
    await expect(
      service.add(contributor, { name: 'X', apiKey: KEY, acceptPrivacy: true }),
    ).rejects.toMatchObject({
      kind: 'forbidden',
    });
  });

  it('keeps the stored key when an edit sends the mask back, and checks a new key', async () => {
    const view = await add();
    const edited = await service.update(admin, view.id, { name: 'Renamed', apiKey: view.api_key });
    expect(edited).toMatchObject({ name: 'Renamed', api_key: 'SG.****GHIJ' });
    await expect(service.test(admin, view.id)).resolves.toBeDefined();
    await expect(
      service.update(admin, view.id, { apiKey: 'SG.bad-key-1234567890abc' }),
    ).rejects.toThrow(/refused/);
    const rotated = await service.update(admin, view.id, { apiKey: OTHER_KEY });
    expect(rotated.api_key).toBe('SG.****EFGH');
    await expect(service.test(admin, view.id)).resolves.toBeDefined();
  });

  it("refuses a mask that is not the stored key's, keeping the key", async () => {
    const view = await add();
    await expect(service.update(admin, view.id, { apiKey: 'SG.****ABCD' })).rejects.toThrow(
      /SG\.\*\*\*\*ABCD is not the stored key \(SG\.\*\*\*\*GHIJ\)/,
    );
    expect((await service.get(admin, view.id)).api_key).toBe('SG.****GHIJ');
    await expect(service.test(admin, view.id)).resolves.toBeDefined();
  });

  it('refuses keys with spaces or line breaks, names with control characters, and odd limits, without echoing the key', async () => {
    for (const apiKey of [`${KEY}\n${OTHER_KEY}`, `${KEY} extra`, `SG.ab\tcd`]) {
      const refused = add({ apiKey });
      await expect(refused).rejects.toThrow(/cannot contain spaces or line breaks/);
      await expect(refused).rejects.not.toThrow(/abcdefghijklmnop/);
    }
    for (const name of ['two\nlines', 'x\u001b[2Jcleared', 'tab\there']) {
      await expect(add({ name })).rejects.toThrow(/name: a name cannot contain line breaks/);
    }
    for (const profileLimit of [0, 1.5, 1e20, -3]) {
      await expect(add({ profileLimit })).rejects.toThrow(
        /^invalid connection: profileLimit: expected a whole number of profiles from 1 to 100,000,000$/,
      );
    }
    expect(await service.list(admin)).toEqual([]);
  });

  it('refuses base URLs that would show a password, lose paths or send the key in clear', async () => {
    const refusals: [string, RegExp][] = [
      ['ftp://api.sendgrid.com', /baseUrl: expected an http\(s\) URL/],
      ['https://user:secret@api.sendgrid.com', /baseUrl: the URL cannot carry a user name/],
      ['https://api.sendgrid.com/?key=1', /baseUrl: the URL cannot have a query or a fragment/],
      [
        'http://api.eu.sendgrid.com',
        /baseUrl: the SendGrid API is reached over https only: https:\/\/api\.eu/,
      ],
    ];
    for (const [baseUrl, message] of refusals) {
      const refused = add({ baseUrl });
      await expect(refused).rejects.toThrow(message);
      await expect(refused).rejects.not.toThrow(/secret/);
    }
    expect(await service.list(admin)).toEqual([]);
  });

  it('waits out a rate limit while connecting, instead of failing at once', async () => {
    // One call a second per endpoint: the second check within the window gets a 429 first.
    const strict = await startSandbox({
      port: 0,
      apiKeys: [KEY],
      rateLimit: { limit: 1, windowSeconds: 1 },
    });
    try {
      const first = await add({ name: 'First', baseUrl: strict.url });
      await expect(service.test(admin, first.id)).resolves.toBeDefined();
      const answers = strict.stats().requests.filter((r) => r.path === '/v3/scopes');
      expect(answers.find((r) => r.status === 429)?.count).toBeGreaterThan(0);
    } finally {
      await strict.stop();
    }
  });

  it('shows contributors only the connections shared with them', async () => {
    const hidden = await add();
    const shared = await add({ name: 'Shared', sharing: 'admins_and_contributors' });
    expect((await service.list(contributor)).map((c) => c.id)).toEqual([shared.id]);
    await expect(service.get(contributor, hidden.id)).rejects.toMatchObject({ kind: 'not_found' });
    await expect(service.openSession(contributor, shared.id)).resolves.toBeDefined();
  });

  it('refuses to remove a connection exports use, naming them', async () => {
    const view = await add();
    users = [{ id: 'exp_1', name: 'Newsletter' }];
    await expect(service.remove(admin, view.id)).rejects.toThrow(
      /used by 1 export\(s\): Newsletter \(exp_1\); remove or detach them first$/,
    );
    // A run still going on it, whose export moved to another connection since.
    users = [{ id: 'exp_2', name: 'Moved', runId: 'run_9' }];
    await expect(service.remove(admin, view.id)).rejects.toThrow(
      /runs still going on it \(their exports moved to another connection since\): run_9 of Moved; let them end, or cancel them/,
    );
    users = [];
    await service.remove(admin, view.id);
    await expect(service.get(admin, view.id)).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('a revoked key is reported by test', async () => {
    const view = await add();
    await get()
      .db.updateTable('connections')
      .set({
        secret_sealed: new SecretBox(Buffer.alloc(32, 3)).seal('SG.revoked-abcdefghijk', view.id),
      })
      .execute();
    await expect(service.test(admin, view.id)).rejects.toMatchObject({
      kind: 'destination',
      reason: 'auth_refused',
    });
  });
});
