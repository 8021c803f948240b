import { z } from 'zod';
import { assertCan, can, type Actor } from '../auth/permissions.js';
import type { DestinationSession, DestinationType } from '../destinations/destination.js';
import type { Clock } from '../shared/clock.js';
import { ConflictError, NotFoundError, ValidationError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { retryingBriefly } from '../shared/brief-retry.js';
import { isMasked, maskSecret } from '../shared/secrets.js';
import { displayName, parseInput } from '../shared/validation.js';
import type { ConnectionRow, ConnectionStore } from './connection-store.js';
import type { SecretBox } from './secret-box.js';

export const sharingModes = ['admins', 'admins_and_contributors'] as const;
export type Sharing = (typeof sharingModes)[number];

export const DEFAULT_PROFILE_LIMIT = 100_000;
export const MAX_PROFILE_LIMIT = 100_000_000;

const LIMIT_MESSAGE = 'expected a whole number of profiles from 1 to 100,000,000';
const profileLimitSchema = z
  .number({ message: LIMIT_MESSAGE })
  .refine((n) => Number.isInteger(n) && n >= 1 && n <= MAX_PROFILE_LIMIT, {
    message: LIMIT_MESSAGE,
  });

// A key is one token: whitespace inside means more than the key was pasted (two lines of a
// file, say), and a line break would not even fit in the Authorization header.
const apiKeySchema = z
  .string()
  .trim()
  .min(1, { message: 'the API key is required' })
  .refine((key) => !/[\s\p{Cc}]/u.test(key), {
    message: 'the API key cannot contain spaces or line breaks: give the key alone',
  });

/**
 * Where the destination's API is: an http(s) URL without credentials, query or fragment (a
 * connection shows its base URL to everyone who may use it, and paths are appended to it).
 * SendGrid's own hosts only over https: the key goes in every request's headers.
 */
const baseUrlSchema = z
  .url({ protocol: /^https?$/, message: 'expected an http(s) URL' })
  .superRefine((value, ctx) => {
    const url = new URL(value);
    if (url.username || url.password) {
      ctx.addIssue({
        code: 'custom',
        message: 'the URL cannot carry a user name or password: give the API key instead',
      });
    }
    if (url.search || url.hash) {
      ctx.addIssue({ code: 'custom', message: 'the URL cannot have a query or a fragment' });
    }
    const host = url.hostname.toLowerCase();
    if (url.protocol === 'http:' && (host === 'sendgrid.com' || host.endsWith('.sendgrid.com'))) {
      ctx.addIssue({
        code: 'custom',
        message: `the SendGrid API is reached over https only: https://${url.host}`,
      });
    }
  });

/** What an administrator gives to connect an account. */
export const newConnectionSchema = z.object({
  type: z.string().default('sendgrid'),
  name: displayName(100),
  apiKey: apiKeySchema,
  baseUrl: baseUrlSchema.optional(),
  sharing: z.enum(sharingModes).default('admins'),
  profileLimit: profileLimitSchema.default(DEFAULT_PROFILE_LIMIT),
  acceptPrivacy: z.literal(true, {
    message:
      'the data-privacy consent is required: confirm that sending these profiles to the destination is allowed (--accept-privacy)',
  }),
});
export type NewConnection = z.input<typeof newConnectionSchema>;

/** An edit: any subset; an `apiKey` equal to the mask keeps the stored key. */
export const connectionUpdateSchema = z.object({
  name: displayName(100).optional(),
  apiKey: apiKeySchema.optional(),
  baseUrl: baseUrlSchema.optional(),
  sharing: z.enum(sharingModes).optional(),
  profileLimit: profileLimitSchema.optional(),
});
export type ConnectionUpdate = z.input<typeof connectionUpdateSchema>;

/** A connection as it leaves the service: the key only masked. */
export interface ConnectionView {
  id: string;
  type: string;
  name: string;
  sharing: Sharing;
  base_url: string;
  api_key: string;
  profile_limit: number;
  consent: { accepted_by: string; accepted_at: string };
  export_user: string;
  created_at: string;
  updated_at: string;
}

export interface ConnectionServiceDeps {
  store: ConnectionStore;
  box: SecretBox;
  destinations: Readonly<Record<string, DestinationType<never>>>;
  fetch: typeof fetch;
  clock: Clock;
  /**
   * The exports using a connection, or running on it (removal is refused while there are any).
   */
  connectionUsers: (
    connectionId: string,
  ) => Promise<
    { id: string; name: string; /** A run of it that took the connection. */ runId?: string }[]
  >;
}

/** Connecting, editing, testing and removing destination accounts. */
export class ConnectionService {
  constructor(private readonly deps: ConnectionServiceDeps) {}

  /** Validates the key against the destination, then stores the connection with the key sealed. */
  async add(actor: Actor, input: NewConnection): Promise<ConnectionView> {
    assertCan(actor, 'connections.manage', 'connect accounts');
    const data = parseInput(newConnectionSchema, input, 'connection');
    const destination = this.destinationFor(data.type);
    if (await this.deps.store.findByName(data.name)) {
      throw new ConflictError(
        `a connection named "${data.name}" already exists`,
        'connection_name_taken',
      );
    }
    const settings = this.settings(destination, data.apiKey, data.baseUrl);
    const session = destination.open(settings, { fetch: this.deps.fetch });
    await retryingBriefly(() => session.verify());
    const now = this.deps.clock.now().toISOString();
    const id = newId('con', this.deps.clock);
    const row: ConnectionRow = {
      id,
      type: data.type,
      name: data.name,
      sharing: data.sharing,
      settings: JSON.stringify({ baseUrl: (settings as { baseUrl: string }).baseUrl }),
      secret_sealed: this.deps.box.seal(data.apiKey, id),
      secret_mask: maskSecret(data.apiKey),
      profile_limit: data.profileLimit,
      consent_by: actor.id,
      consent_at: now,
      export_user: actor.id,
      created_at: now,
      updated_at: now,
    };
    await this.deps.store.insert(row);
    return toView(row);
  }

  /** The connections `actor` may see: contributors only those shared with them. */
  async list(actor: Actor): Promise<ConnectionView[]> {
    assertCan(actor, 'connections.read', 'see connections');
    const rows = await this.deps.store.list();
    return rows.filter((row) => this.visibleTo(actor, row)).map(toView);
  }

  async get(actor: Actor, id: string): Promise<ConnectionView> {
    return toView(await this.row(actor, id));
  }

  /** Checks the stored key against the destination again. */
  async test(actor: Actor, id: string): Promise<{ scopes: string[] }> {
    const { session } = await this.openSession(actor, id);
    return retryingBriefly(() => session.verify());
  }

  /** Edits a connection; a changed key or URL is verified before it is stored. */
  async update(actor: Actor, id: string, input: ConnectionUpdate): Promise<ConnectionView> {
    assertCan(actor, 'connections.manage', 'edit connections');
    const data = parseInput(connectionUpdateSchema, input, 'connection');
    const row = await this.row(actor, id);
    const destination = this.destinationFor(row.type);
    if (data.apiKey !== undefined && isMasked(data.apiKey) && data.apiKey !== row.secret_mask) {
      // A mask keeps the stored key only when it is that key's mask: another one means the user
      // thinks of another key, and keeping this one silently would hide that.
      throw ValidationError.fromIssues('invalid connection', [
        {
          path: 'apiKey',
          message: `${data.apiKey} is not the stored key (${row.secret_mask}): send the mask as shown to keep it, or the whole new key`,
        },
      ]);
    }
    const keyChanged = data.apiKey !== undefined && !isMasked(data.apiKey);
    const storedSettings = JSON.parse(row.settings) as { baseUrl?: string };
    const baseUrl = data.baseUrl ?? storedSettings.baseUrl;
    const apiKey =
      keyChanged && data.apiKey ? data.apiKey : this.deps.box.open(row.secret_sealed, row.id);
    if (keyChanged || data.baseUrl !== undefined) {
      const session = destination.open(this.settings(destination, apiKey, baseUrl), {
        fetch: this.deps.fetch,
      });
      await retryingBriefly(() => session.verify());
    }
    if (
      data.name !== undefined &&
      data.name !== row.name &&
      (await this.deps.store.findByName(data.name))
    ) {
      throw new ConflictError(
        `a connection named "${data.name}" already exists`,
        'connection_name_taken',
      );
    }
    const changes: Partial<ConnectionRow> = {
      name: data.name ?? row.name,
      sharing: data.sharing ?? row.sharing,
      profile_limit: data.profileLimit ?? row.profile_limit,
      settings: JSON.stringify({ ...storedSettings, baseUrl }),
      updated_at: this.deps.clock.now().toISOString(),
      ...(keyChanged
        ? { secret_sealed: this.deps.box.seal(apiKey, row.id), secret_mask: maskSecret(apiKey) }
        : {}),
    };
    await this.deps.store.update(id, changes);
    return toView({ ...row, ...changes });
  }

  /** Removes a connection; refused while exports use it, naming them. */
  async remove(actor: Actor, id: string): Promise<void> {
    assertCan(actor, 'connections.manage', 'remove connections');
    await this.row(actor, id);
    const users = await this.deps.connectionUsers(id);
    const exports = users.filter((u) => u.runId === undefined);
    const runs = users.filter((u) => u.runId !== undefined);
    const reasons: string[] = [];
    if (exports.length > 0) {
      reasons.push(
        `it is used by ${exports.length} export(s): ${exports.map((u) => `${u.name} (${u.id})`).join(', ')}; remove or detach them first`,
      );
    }
    if (runs.length > 0) {
      reasons.push(
        `runs still going on it (their exports moved to another connection since): ${runs.map((u) => `${u.runId} of ${u.name}`).join(', ')}; let them end, or cancel them (\`segsync runs cancel RUN\`)`,
      );
    }
    if (reasons.length > 0) {
      throw new ConflictError(
        `connection ${id} cannot be removed: ${reasons.join('; ')}`,
        'connection_in_use',
      );
    }
    await this.deps.store.remove(id);
  }

  /** A destination session on the connection's account, for exports; the key stays inside. */
  async openSession(
    actor: Actor,
    id: string,
  ): Promise<{
    connection: ConnectionView;
    destination: DestinationType<never>;
    session: DestinationSession;
  }> {
    const row = await this.row(actor, id);
    if (!can(actor, 'connections.use')) throw new NotFoundError('connection', id);
    const destination = this.destinationFor(row.type);
    const { baseUrl } = JSON.parse(row.settings) as { baseUrl?: string };
    const apiKey = this.deps.box.open(row.secret_sealed, row.id);
    const session = destination.open(this.settings(destination, apiKey, baseUrl), {
      fetch: this.deps.fetch,
    });
    return { connection: toView(row), destination, session };
  }

  private async row(actor: Actor, id: string): Promise<ConnectionRow> {
    const row = await this.deps.store.find(id);
    // A connection the actor may not use is reported as absent, not as forbidden: its existence
    // is none of their business.
    if (!row || !this.visibleTo(actor, row)) throw new NotFoundError('connection', id);
    return row;
  }

  private visibleTo(actor: Actor, row: ConnectionRow): boolean {
    return actor.role === 'admin' || row.sharing === 'admins_and_contributors';
  }

  private destinationFor(type: string): DestinationType<never> {
    const destination = this.deps.destinations[type];
    if (!destination) {
      throw new ValidationError(`unknown destination type "${type}"`, [
        {
          path: 'type',
          message: `expected one of ${Object.keys(this.deps.destinations).join(', ')}`,
        },
      ]);
    }
    return destination;
  }

  private settings(
    destination: DestinationType<never>,
    apiKey: string,
    baseUrl: string | undefined,
  ): never {
    const settings = destination.settingsSchema.safeParse({
      apiKey,
      ...(baseUrl ? { baseUrl } : {}),
    });
    if (!settings.success) throw new ValidationError('invalid connection settings');
    return settings.data;
  }
}

function toView(row: ConnectionRow): ConnectionView {
  const settings = JSON.parse(row.settings) as { baseUrl?: string };
  return {
    id: row.id,
    type: row.type,
    name: row.name,
    sharing: row.sharing as Sharing,
    base_url: settings.baseUrl ?? '',
    api_key: row.secret_mask,
    profile_limit: row.profile_limit,
    consent: { accepted_by: row.consent_by, accepted_at: row.consent_at },
    export_user: row.export_user,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
