import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { errorBody, failure, type Reply } from './errors.js';
import { resolveSandboxOptions, type SandboxOptions } from './options.js';
import { loadState, saveState } from './persistence.js';
import { seededRandom, type Random } from './random.js';
import { RateLimiter } from './rate-limit.js';
import { contactView, hasScope, jobErrorsCsv, matchPattern, matchRoute } from './routes.js';
import { SandboxState, type Job } from './state.js';

/**
 * SendGrid's request size limit for contact upserts ("6MB"), applied to every request body: as
 * 6,000,000 bytes, the stricter reading, so a client that fits it fits SendGrid's either way.
 */
export const MAX_BODY_BYTES = 6_000_000;
// Past this, an oversized body is no longer read to the end before the 413: the connection is
// closed instead, so a client streaming forever cannot keep the sandbox busy.
const DRAIN_LIMIT = 64 * 1024 * 1024;
const SAVE_DEBOUNCE_MS = 200;

/** Request counts and totals served by `GET /__sandbox/stats`. */
export interface SandboxStats {
  total_requests: number;
  bytes_received: number;
  /** One row per method, path template and status; status 0 is a dropped connection. */
  requests: { method: string; path: string; status: number; count: number }[];
  faults: { injected_429: number; injected_5xx: number; dropped: number; rate_limited: number };
  contacts: number;
  lists: number;
  jobs: { pending: number; completed: number; errored: number; failed: number };
}

/** A running sandbox. */
export interface Sandbox {
  /** `http://HOST:PORT`, the base URL to give a SendGrid client. */
  readonly url: string;
  readonly port: number;
  /** The account, for tests that need to look past the HTTP surface. */
  readonly state: SandboxState;
  stats(): SandboxStats;
  /** Forgets every contact, list, field, job and statistic, and restarts the fault sequence. */
  reset(): void;
  /** Runs every pending import job now, whatever the job delay. */
  runPendingJobs(): void;
  /** Writes the state file now (no-op without `statePath`). */
  save(): void;
  /** Stops listening, runs pending jobs, saves the state file and closes open connections. */
  stop(): Promise<void>;
}

/**
 * Starts a SendGrid-compatible server (the subset segsync uses, shaped by the official OpenAPI
 * documents) and resolves once it listens. Options are validated; a bad one throws a
 * ValidationError naming it. With `statePath`, the account is restored from that file first.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const config = resolveSandboxOptions(options);
  const { clock } = config;
  const state = new SandboxState({ contactCap: config.contactCap });
  if (config.statePath) {
    const snapshot = loadState(config.statePath);
    if (snapshot) state.load(snapshot);
  }
  let random: Random = seededRandom(config.seed);
  const limiter = new RateLimiter(config.rateLimit.limit, config.rateLimit.windowSeconds * 1000);
  const counts = new Map<string, number>();
  const totals = { requests: 0, bytes: 0, injected429: 0, injected5xx: 0, dropped: 0, limited: 0 };
  const jobTimers = new Set<NodeJS.Timeout>();
  let saveTimer: NodeJS.Timeout | undefined;
  let savedRevision = state.revision;

  const save = () => {
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = undefined;
    if (!config.statePath || state.revision === savedRevision) return;
    saveState(state, config.statePath);
    savedRevision = state.revision;
  };
  const saveSoon = () => {
    if (!config.statePath || saveTimer || state.revision === savedRevision) return;
    saveTimer = setTimeout(save, SAVE_DEBOUNCE_MS);
  };
  const onJob = (job: Job) => {
    const timer = setTimeout(() => {
      jobTimers.delete(timer);
      state.runThrough(clock.now().getTime(), job.id);
      saveSoon();
    }, config.jobDelayMs);
    jobTimers.add(timer);
  };
  const record = (method: string, path: string, status: number) => {
    const key = `${method} ${path} ${status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    totals.requests++;
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A bug must cost one request, never the server.
      if (!res.headersSent && !res.destroyed) {
        send(res, failure(500, 'internal server error'), {});
      }
      process.emitWarning(`sandbox: ${error instanceof Error ? error.message : String(error)}`);
    });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    answerClientError(error, socket);
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const body = await readBody(req);
    totals.bytes += body.size;
    if (body.aborted) return;
    const closeAfter = body.hardCapped;
    const host = req.headers.host;
    const baseUrl = host && /^[\w.\-:[\]]+$/.test(host) ? `http://${host}` : sandbox.url;

    if (url.pathname.startsWith('/__sandbox/')) {
      send(res, inspect(method, url.pathname, baseUrl), {}, closeAfter);
      return;
    }

    const matched = matchRoute(method, url.pathname);
    const pattern = 'route' in matched ? matched.route.pattern : 'unknown';
    const key = bearerToken(req.headers.authorization);
    const scopes = key === undefined ? undefined : config.keys.get(key);
    const now = clock.now().getTime();
    const window = limiter.hit(`${scopes ? key : ''} ${pattern}`, now);
    const rateHeaders = {
      'x-ratelimit-limit': String(window.limit),
      'x-ratelimit-remaining': String(window.remaining),
      'x-ratelimit-reset': String(Math.ceil(window.resetAt / 1000)),
    };
    const reply = async (answer: Reply) => {
      if (config.latencyMs > 0) await sleep(config.latencyMs);
      record(method, pattern, answer.status);
      send(res, answer, rateHeaders, closeAfter);
    };

    if (!('route' in matched)) {
      await reply(
        matched.pathKnown ? failure(405, 'method not allowed') : failure(404, 'resource not found'),
      );
      return;
    }
    const { route, params } = matched;
    if (scopes === undefined) return reply(failure(401, 'authorization required'));
    if (!hasScope(scopes, route.scope)) return reply(failure(403, 'access forbidden'));
    if (window.limited) {
      totals.limited++;
      return reply(failure(429, 'too many requests'));
    }

    // Four draws per request whatever happens, so one seed always yields one fault sequence.
    const draw429 = random.next();
    const draw5xx = random.next();
    const drawReset = random.next();
    const variant = random.next();
    // Half the 5xx and dropped-connection faults strike after the request took effect, as
    // real outages do: a client must cope with a retried upsert that had already landed.
    const afterEffect = variant >= 0.5;
    const status5xx = variant % 0.5 < 0.25 ? 500 : 503;
    if (draw429 < config.fault429) {
      totals.injected429++;
      rateHeaders['x-ratelimit-remaining'] = '0';
      return reply(failure(429, 'too many requests'));
    }
    const dropping = drawReset < config.faultReset;
    const failing = !dropping && draw5xx < config.fault5xx;
    const drop = async () => {
      if (config.latencyMs > 0) await sleep(config.latencyMs);
      totals.dropped++;
      record(method, pattern, 0);
      req.socket.destroy();
    };
    const fail = () => {
      totals.injected5xx++;
      return reply(
        failure(status5xx, status5xx === 500 ? 'internal server error' : 'service unavailable'),
      );
    };
    if (dropping && !afterEffect) return drop();
    if (failing && !afterEffect) return fail();

    if (body.tooLarge) {
      return reply(
        failure(413, `request body is too large: at most ${MAX_BODY_BYTES} bytes are accepted`),
      );
    }
    let parsed: unknown;
    if (route.json) {
      const type = req.headers['content-type'] ?? '';
      if (!/^application\/json\b/i.test(type)) {
        return reply({ status: 400, body: errorBody('Content-Type should be application/json') });
      }
      try {
        parsed = JSON.parse(body.data.toString('utf8'));
      } catch {
        return reply({ status: 400, body: errorBody('the request body is not valid JSON') });
      }
    }
    const answer = route.handle({
      state,
      params,
      query: url.searchParams,
      body: parsed,
      baseUrl,
      scopes,
      now,
      onJob,
    });
    saveSoon();
    if (dropping) return drop();
    if (failing) return fail();
    return reply(answer);
  }

  function inspect(method: string, pathname: string, baseUrl: string): Reply {
    const listParams = matchPattern('/__sandbox/lists/{id}/contacts', pathname);
    if (listParams && method === 'GET') {
      const list = state.lists.get(listParams.id ?? '');
      if (!list) return { status: 404, body: errorBody('list ID does not exist', 'id') };
      const contacts = [];
      for (const index of list.members) {
        const contact = state.contacts[index];
        if (contact)
          contacts.push({
            ...contactView({ state, baseUrl }, contact),
            custom_field_values_by_id: contact.custom ?? {},
          });
      }
      return { status: 200, body: { contacts } };
    }
    const errorsParams = matchPattern('/__sandbox/imports/{id}/errors.csv', pathname);
    if (errorsParams && method === 'GET') {
      const job = state.jobs.get(errorsParams.id ?? '');
      if (!job) return { status: 404, body: errorBody('job ID does not exist', 'id') };
      return {
        status: 200,
        raw: jobErrorsCsv(job),
        headers: { 'content-type': 'text/csv; charset=utf-8' },
      };
    }
    if (pathname === '/__sandbox/stats' && method === 'GET') return { status: 200, body: stats() };
    if (pathname === '/__sandbox/reset' && method === 'POST') {
      reset();
      return { status: 200, body: { reset: true } };
    }
    return failure(404, 'resource not found');
  }

  function stats(): SandboxStats {
    const jobs = { pending: 0, completed: 0, errored: 0, failed: 0 };
    for (const job of state.jobs.values()) jobs[job.status]++;
    return {
      total_requests: totals.requests,
      bytes_received: totals.bytes,
      requests: [...counts].map(([key, count]) => {
        const [method = '', path = '', status = '0'] = key.split(' ');
        return { method, path, status: Number(status), count };
      }),
      faults: {
        injected_429: totals.injected429,
        injected_5xx: totals.injected5xx,
        dropped: totals.dropped,
        rate_limited: totals.limited,
      },
      contacts: state.contactsById.size,
      lists: state.lists.size,
      jobs,
    };
  }

  function reset(): void {
    for (const timer of jobTimers) clearTimeout(timer);
    jobTimers.clear();
    state.clear();
    counts.clear();
    Object.assign(totals, {
      requests: 0,
      bytes: 0,
      injected429: 0,
      injected5xx: 0,
      dropped: 0,
      limited: 0,
    });
    limiter.clear();
    random = seededRandom(config.seed);
    saveSoon();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostPart = config.host.includes(':') ? `[${config.host}]` : config.host;
  let stopped = false;
  const sandbox: Sandbox = {
    url: `http://${hostPart}:${address.port}`,
    port: address.port,
    state,
    stats,
    reset,
    runPendingJobs: () => {
      state.runThrough(clock.now().getTime());
      saveSoon();
    },
    save,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const timer of jobTimers) clearTimeout(timer);
      jobTimers.clear();
      // An accepted job is never lost to a restart: it runs now and is saved with the rest.
      state.runThrough(clock.now().getTime());
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      save();
    },
  };
  return sandbox;
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

interface ReadBody {
  data: Buffer;
  size: number;
  tooLarge: boolean;
  hardCapped: boolean;
  aborted: boolean;
}

// Reads a request body into memory up to MAX_BODY_BYTES. A larger body is read on and thrown
// away (bounded memory) so the client, still writing, gets its 413 rather than a reset socket.
function readBody(req: http.IncomingMessage): Promise<ReadBody> {
  const declared = Number(req.headers['content-length'] ?? 0);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = declared > MAX_BODY_BYTES;
    let done = false;
    const finish = (extra: Partial<ReadBody> = {}) => {
      if (done) return;
      done = true;
      resolve({
        data: tooLarge ? Buffer.alloc(0) : Buffer.concat(chunks, size),
        size,
        tooLarge,
        hardCapped: false,
        aborted: false,
        ...extra,
      });
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (!tooLarge && size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
      }
      if (!tooLarge) chunks.push(chunk);
      else if (size > DRAIN_LIMIT) {
        req.pause();
        finish({ hardCapped: true });
      }
    });
    req.on('end', () => finish());
    req.on('error', () => finish({ aborted: true }));
    req.on('close', () => {
      if (!req.complete) finish({ aborted: true });
    });
  });
}

function send(
  res: http.ServerResponse,
  reply: Reply,
  headers: Record<string, string>,
  close = false,
): void {
  if (res.headersSent || res.destroyed) return;
  const text = reply.raw ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
  const all: Record<string, string | number> = {
    'content-type': 'application/json',
    ...headers,
    ...reply.headers,
    'content-length': Buffer.byteLength(text),
  };
  if (close) all.connection = 'close';
  res.writeHead(reply.status, all);
  res.end(text, () => {
    if (close) res.socket?.destroy();
  });
}

// Requests Node cannot even parse (headers past 16 KB, garbage) still get a SendGrid-shaped body.
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, reason, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request headers are too large']
      : error.code === 'HPE_REQUEST_TIMEOUT' || error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request timed out']
        : [400, 'Bad Request', 'the request could not be parsed'];
  const body = JSON.stringify(errorBody(message, null, { nullField: true }));
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
