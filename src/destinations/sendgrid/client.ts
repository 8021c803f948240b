import { DestinationError } from '../../shared/errors.js';
import { errorForNetwork, errorForStatus } from './errors.js';

/** One SendGrid account as a connection knows it. */
export interface SendGridSettings {
  apiKey: string;
  baseUrl: string;
}

export interface SendGridResponse {
  status: number;
  body: unknown;
}

/**
 * A thin SendGrid HTTP client: one call is one request. It adds auth and JSON, reads the
 * rate-limit headers and turns every failure into a DestinationError; it never retries (the
 * export engine's retry policy decides that), so a call's cost is always visible.
 */
export class SendGridClient {
  private readonly baseUrl: string;

  constructor(
    private readonly settings: SendGridSettings,
    private readonly fetchImpl: typeof fetch,
    private readonly timeoutMs = 60_000,
  ) {
    this.baseUrl = settings.baseUrl.replace(/\/+$/, '');
  }

  /**
   * Sends `method path` with an optional JSON body (an object, or a JSON text already encoded)
   * and returns the parsed response when its status is one of `expected`; throws otherwise.
   */
  async request(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH',
    path: string,
    options: {
      body?: unknown;
      /** A body already serialised (JSON text, or its UTF-8 bytes). */
      rawBody?: string | Uint8Array;
      expected: readonly number[];
      what: string;
    },
  ): Promise<SendGridResponse> {
    const payload =
      options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.settings.apiKey}`,
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: payload,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw errorForNetwork(error, options.what);
    }
    let raw: string;
    try {
      raw = await response.text();
    } catch (error) {
      throw errorForNetwork(error, options.what);
    }
    const body = parseJson(raw);
    if (!options.expected.includes(response.status)) {
      throw errorForStatus(response.status, body, {
        what: options.what,
        resetAt: resetTime(response.headers),
      });
    }
    if (raw.length > 0 && body === undefined) {
      throw new DestinationError(`SendGrid answered ${options.what} with a body that is not JSON`, {
        reason: 'protocol',
        status: response.status,
        retryable: true,
      });
    }
    return { status: response.status, body };
  }

  /**
   * Fetches an absolute URL SendGrid handed out (an errors file). The key goes along only to the
   * API's own origin: such files are usually served from storage elsewhere through a signed link,
   * which must not receive the key (and refuses a request carrying a second credential). A
   * refusal there is the link's (expired, say), not the key's: it is not read as one.
   */
  async download(url: string, what: string): Promise<string> {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new DestinationError(`SendGrid gave an address for ${what} that is not a URL`, {
        reason: 'protocol',
      });
    }
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
      throw new DestinationError(`SendGrid gave a ${target.protocol} address for ${what}`, {
        reason: 'protocol',
      });
    }
    const ownOrigin = target.origin === new URL(this.baseUrl).origin;
    let response: Response;
    try {
      response = await this.fetchImpl(target, {
        headers: ownOrigin ? { authorization: `Bearer ${this.settings.apiKey}` } : {},
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw errorForNetwork(error, what);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw errorForNetwork(error, what);
    }
    if (response.ok) return text;
    const failure = errorForStatus(response.status, parseJson(text), {
      what,
      resetAt: resetTime(response.headers),
    });
    if (!failure.refusesKey) throw failure;
    throw new DestinationError(
      `${what} failed: the link was refused with HTTP ${response.status}`,
      {
        reason: 'protocol',
        status: response.status,
      },
    );
  }
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** X-RateLimit-Reset (Unix seconds) as epoch milliseconds. */
function resetTime(headers: Headers): number | undefined {
  const value = Number(headers.get('x-ratelimit-reset'));
  return Number.isFinite(value) && value > 0 ? value * 1000 : undefined;
}
