import { expect } from 'vitest';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/index.js';
import { contractCheckedFetch } from '../helpers/openapi.js';

export const KEY = 'SG.sandbox';

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * A client for the sandbox's SendGrid paths that validates every response against the official
 * documents (a response that breaks them fails the test). Requests are not validated: the tests
 * send forbidden ones on purpose.
 */
export function sendGridClient(sandbox: Sandbox, key: string | undefined = KEY) {
  const checked = contractCheckedFetch({ checkRequests: false });
  async function call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    options: { rawBody?: string; headers?: Record<string, string>; key?: string | null } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    const useKey = options.key === null ? undefined : (options.key ?? key);
    if (useKey !== undefined) headers.authorization = `Bearer ${useKey}`;
    let payload: string | undefined = options.rawBody;
    if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    const response = await checked(`${sandbox.url}${path}`, { method, headers, body: payload });
    const text = await response.text();
    return {
      status: response.status,
      body: (text === '' ? undefined : JSON.parse(text)) as T,
      headers: response.headers,
    };
  }
  return { call };
}

/** The sandbox's inspection endpoints (outside SendGrid's paths, so not contract-checked). */
export async function inspect<T = Record<string, unknown>>(
  sandbox: Sandbox,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${sandbox.url}${path}`, { method });
  return { status: response.status, body: (await response.json()) as T };
}

/** Starts a sandbox with a short job delay, on a free port. */
export function start(options: SandboxOptions = {}): Promise<Sandbox> {
  return startSandbox({ port: 0, jobDelayMs: 5, ...options });
}

export interface JobBody {
  id: string;
  status: string;
  job_type: string;
  message?: string;
  results: {
    requested_count: number;
    created_count: number;
    updated_count: number;
    deleted_count: number;
    errored_count: number;
    errors_url?: string;
  };
}

/** Polls an import job until it leaves `pending` (generous timeout: CI machines are slow). */
export async function waitForJob(
  client: ReturnType<typeof sendGridClient>,
  jobId: string,
  timeoutMs = 10_000,
): Promise<JobBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await client.call<JobBody>('GET', `/v3/marketing/contacts/imports/${jobId}`);
    expect(response.status).toBe(200);
    if (response.body.status !== 'pending') return response.body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still pending after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Creates a list and returns its id. */
export async function createList(client: ReturnType<typeof sendGridClient>, name: string) {
  const response = await client.call<{ id: string }>('POST', '/v3/marketing/lists', { name });
  expect(response.status).toBe(201);
  return response.body.id;
}

/** Upserts contacts and waits for the job; returns the finished job. */
export async function upsert(
  client: ReturnType<typeof sendGridClient>,
  body: unknown,
): Promise<JobBody> {
  const response = await client.call<{ job_id: string }>('PUT', '/v3/marketing/contacts', body);
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return waitForJob(client, response.body.job_id);
}
