import { z } from 'zod';
import { systemClock, type Clock } from '../shared/clock.js';
import { parseInput } from '../shared/validation.js';

/** The key the sandbox accepts when none is configured, so a demo works with no setup. */
export const DEFAULT_API_KEY = 'SG.sandbox';
/** What a key may do when `scopes` is not given: everything segsync needs. */
export const DEFAULT_SCOPES: readonly string[] = ['marketing.read', 'marketing.write'];

const rate = z.number().min(0).max(1);
const whole = z.number().int().min(0);

/** One API key the sandbox accepts, with the scopes `GET /v3/scopes` reports for it. */
export const apiKeySchema = z.object({
  key: z.string().min(1),
  scopes: z.array(z.string().min(1)).optional(),
});
export type SandboxApiKey = z.infer<typeof apiKeySchema>;

export const rateLimitSchema = z.object({
  limit: z.number().int().min(1),
  windowSeconds: z.number().positive(),
});
export type RateLimit = z.infer<typeof rateLimitSchema>;

/** How the sandbox behaves; every field is optional and defaults to a well-behaved account. */
export const sandboxOptionsSchema = z.object({
  /** Port to listen on; 0 picks a free one. Default 3900. */
  port: z.number().int().min(0).max(65535).default(3900),
  host: z.string().min(1).default('127.0.0.1'),
  /** Keys accepted (strings get `scopes`); default `SG.sandbox`. */
  apiKeys: z
    .array(z.union([z.string().min(1), apiKeySchema]))
    .min(1)
    .optional(),
  /** Scopes of keys given without their own; default marketing.read + marketing.write. */
  scopes: z.array(z.string().min(1)).optional(),
  /** How long an import job stays `pending` before it runs. */
  jobDelayMs: whole.default(500),
  /** Added to every SendGrid-path response. */
  latencyMs: whole.default(0),
  /** Share of requests answered with a random 429 (0..1). */
  fault429: rate.default(0),
  /** Share of requests answered with a 500 or 503. */
  fault5xx: rate.default(0),
  /** Share of requests whose connection is dropped without an answer. */
  faultReset: rate.default(0),
  /** Seed of the fault generator: the same seed and requests give the same faults. */
  seed: z.number().int().default(1),
  /** Requests allowed per key and endpoint per window; default 1000 per second. */
  rateLimit: rateLimitSchema.default({ limit: 1000, windowSeconds: 1 }),
  /** Most contacts the account may hold; an import past it ends `failed`. */
  contactCap: whole.optional(),
  /** File the account is saved to and restored from. */
  statePath: z.string().min(1).optional(),
});

export type SandboxOptions = z.input<typeof sandboxOptionsSchema> & {
  /** Source of times for timestamps and rate-limit windows. */
  clock?: Clock;
};
export type ResolvedSandboxOptions = z.output<typeof sandboxOptionsSchema> & {
  clock: Clock;
  keys: Map<string, readonly string[]>;
};

/** Validates options (throwing a ValidationError naming the bad one) and fills in defaults. */
export function resolveSandboxOptions(options: SandboxOptions = {}): ResolvedSandboxOptions {
  const { clock, ...rest } = options;
  const parsed = parseInput(sandboxOptionsSchema, rest, 'sandbox options');
  const scopes = parsed.scopes ?? DEFAULT_SCOPES;
  const keys = new Map<string, readonly string[]>();
  for (const entry of parsed.apiKeys ?? [DEFAULT_API_KEY]) {
    if (typeof entry === 'string') keys.set(entry, scopes);
    else keys.set(entry.key, entry.scopes ?? scopes);
  }
  return { ...parsed, clock: clock ?? systemClock, keys };
}

/** Parses `--rate-limit N/SECONDS` (`100/1`, `600/60`); undefined when the text is malformed. */
export function parseRateLimit(text: string): RateLimit | undefined {
  const match = /^(\d+)\/(\d+(?:\.\d+)?)$/.exec(text.trim());
  if (!match?.[1] || !match[2]) return undefined;
  const limit = Number(match[1]);
  const windowSeconds = Number(match[2]);
  if (limit < 1 || windowSeconds <= 0) return undefined;
  return { limit, windowSeconds };
}
