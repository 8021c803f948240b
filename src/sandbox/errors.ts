/**
 * SendGrid's error bodies. The documents describe `{"errors":[{"field","message"}]}` for most
 * responses, and a few odd shapes (a bare array, a single object) that the sandbox reproduces
 * where the document for that path says so, because clients must cope with them.
 */

export interface SendGridErrorItem {
  field?: string | null;
  message: string;
}

export interface SendGridErrorBody {
  errors: SendGridErrorItem[];
}

/**
 * One error in SendGrid's usual envelope. `field` is omitted when no field is at fault and
 * `nullField` is false: some documented 400 schemas type `field` as a plain string, so `null`
 * there would break the contract, while 401/403/429 responses carry `"field": null` as SendGrid
 * sends it.
 */
export function errorBody(
  message: string,
  field?: string | null,
  options: { nullField?: boolean } = {},
): SendGridErrorBody {
  if (field !== undefined && field !== null) return { errors: [{ field, message }] };
  return { errors: [options.nullField ? { field: null, message } : { message }] };
}

/** Several field errors in one envelope, as SendGrid reports every bad field of a request. */
export function fieldErrors(items: readonly { field: string; message: string }[]) {
  return { errors: items.map(({ field, message }) => ({ field, message })) };
}

/** An HTTP answer the server writes: status, JSON body (or none), extra headers. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** A body already serialised (CSV for errors_url); sent as is with `headers['content-type']`. */
  raw?: string;
}

/** A reply for a failure that has no field, shaped like SendGrid's generic errors. */
export function failure(status: number, message: string): Reply {
  return { status, body: errorBody(message, null, { nullField: status !== 400 }) };
}
