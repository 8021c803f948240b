import { DestinationError } from '../../shared/errors.js';

/** SendGrid's per-field complaint, from any of the body shapes its documents show. */
export interface SendGridFieldError {
  field: string | null;
  message: string;
}

/**
 * Reads the errors out of a SendGrid error body. The documents disagree with each other
 * (`{errors:[...]}`, a bare array, `{message}`, `{error}`), so every shape is accepted.
 */
export function parseErrorBody(body: unknown): SendGridFieldError[] {
  const items: unknown[] = Array.isArray(body)
    ? body
    : isObject(body) && Array.isArray(body.errors)
      ? body.errors
      : // Some documents type `errors` as one object, not a list.
        isObject(body) && isObject(body.errors)
        ? [body.errors]
        : isObject(body) && (typeof body.message === 'string' || typeof body.error === 'string')
          ? [body]
          : [];
  const out: SendGridFieldError[] = [];
  for (const item of items) {
    if (!isObject(item)) continue;
    const message =
      typeof item.message === 'string'
        ? item.message
        : typeof item.error === 'string'
          ? item.error
          : '';
    if (!message) continue;
    out.push({ field: typeof item.field === 'string' ? item.field : null, message });
  }
  return out;
}

/**
 * The DestinationError a SendGrid HTTP failure means. `resetAt` is X-RateLimit-Reset in epoch
 * milliseconds, when the response carried it.
 */
export function errorForStatus(
  status: number,
  body: unknown,
  context: { what: string; resetAt: number | undefined },
): DestinationError {
  const details = parseErrorBody(body);
  const said = details.length > 0 ? details.map(describe).join('; ') : `HTTP ${status}`;
  const what = context.what;
  if (status === 401) {
    return new DestinationError(
      `SendGrid refused the connection's API key (${what}: ${said}); the key is wrong, revoked or expired`,
      { reason: 'auth_refused', status, details },
    );
  }
  if (status === 403) {
    return new DestinationError(
      `SendGrid refused the connection's API key for ${what} (${said}); the key lacks a permission this needs, or SendGrid has blocked it for a while after too many bad requests`,
      { reason: 'scope_missing', status, details },
    );
  }
  if (status === 404) {
    return new DestinationError(`SendGrid found nothing for ${what} (${said})`, {
      reason: 'not_found',
      status,
      details,
    });
  }
  if (status === 413) {
    return new DestinationError(`SendGrid refused ${what} as too large (${said})`, {
      reason: 'payload_too_large',
      status,
      details,
    });
  }
  if (status === 429) {
    return new DestinationError(`SendGrid rate-limited ${what} (${said})`, {
      reason: 'rate_limited',
      status,
      details,
      retryAt: context.resetAt,
    });
  }
  if (status >= 500) {
    return new DestinationError(`SendGrid failed ${what} with HTTP ${status} (${said})`, {
      reason: 'unavailable',
      status,
      details,
    });
  }
  return new DestinationError(`SendGrid rejected ${what} (${said})`, {
    reason: 'rejected',
    status,
    details,
  });
}

/** A network failure (refused, reset, timed out) as a retryable DestinationError. */
export function errorForNetwork(error: unknown, what: string): DestinationError {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  const timedOut =
    error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
  return new DestinationError(
    `could not reach SendGrid for ${what} (${timedOut ? 'timed out' : text})`,
    { reason: 'unavailable', cause: error },
  );
}

function describe(error: SendGridFieldError): string {
  return error.field ? `${error.field}: ${error.message}` : error.message;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
