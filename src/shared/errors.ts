/**
 * The error hierarchy of segsync. Every error the domain raises carries a `kind` (what sort of
 * failure it is) and a stable `code` (what exactly failed) that scripts and the UI can rely on.
 * Errors never carry an HTTP status or an exit code: `api/` and `cli/` map kinds to those.
 */

export const errorKinds = [
  'validation',
  'not_found',
  'conflict',
  'unauthenticated',
  'forbidden',
  'destination',
  'internal',
] as const;
export type ErrorKind = (typeof errorKinds)[number];

/** One problem with the user's input, pointing at the bad field (`rule.all[1].value`). */
export interface Issue {
  path: string;
  message: string;
}

export abstract class SegsyncError extends Error {
  abstract readonly kind: ErrorKind;
  readonly code: string;

  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** A plain, serialisable view for API bodies, `--json` outputs and logs. */
  toJSON(): { kind: ErrorKind; code: string; message: string } & Record<string, unknown> {
    return { kind: this.kind, code: this.code, message: this.message };
  }
}

/** The user's input is wrong; `issues` name each bad field. */
export class ValidationError extends SegsyncError {
  readonly kind = 'validation';
  readonly issues: readonly Issue[];
  /** What was being read, before the issues (`invalid export`); the message when none. */
  readonly summary: string;

  constructor(
    message: string,
    issues: readonly Issue[] = [],
    code = 'validation_failed',
    summary = message,
  ) {
    super(message, code);
    this.issues = issues;
    this.summary = summary;
  }

  /** Builds the error from issues, its message listing them one per line after a summary. */
  static fromIssues(summary: string, issues: readonly Issue[], code?: string): ValidationError {
    const lines = issues.map((issue) =>
      issue.path ? `${issue.path}: ${issue.message}` : issue.message,
    );
    const message = lines.length > 0 ? `${summary}: ${lines.join('; ')}` : summary;
    return new ValidationError(message, issues, code, summary);
  }

  override toJSON() {
    return { ...super.toJSON(), issues: this.issues };
  }
}

/** A configuration value (an environment variable) is wrong; the message names the variable. */
export class ConfigError extends ValidationError {
  constructor(message: string, issues: readonly Issue[] = []) {
    super(message, issues, 'invalid_config');
  }
}

export class NotFoundError extends SegsyncError {
  readonly kind = 'not_found';
  readonly resource: string;
  readonly id: string;

  constructor(resource: string, id: string, message = `${resource} ${id} was not found`) {
    super(message, `${resource.replace(/\s+/g, '_')}_not_found`);
    this.resource = resource;
    this.id = id;
  }
}

/** The request is valid but clashes with the current state (a duplicate, an object in use). */
export class ConflictError extends SegsyncError {
  readonly kind = 'conflict';
  constructor(message: string, code = 'conflict') {
    super(message, code);
  }
}

export class UnauthenticatedError extends SegsyncError {
  readonly kind = 'unauthenticated';
  constructor(message = 'authentication required', code = 'unauthenticated') {
    super(message, code);
  }
}

export class ForbiddenError extends SegsyncError {
  readonly kind = 'forbidden';
  constructor(message = 'you are not allowed to do this', code = 'forbidden') {
    super(message, code);
  }
}

/** Why a destination (SendGrid) refused or failed a call. */
export const destinationReasons = [
  'auth_refused', // 401: the key is missing, wrong or revoked
  'scope_missing', // 403: the key lacks a permission the call needs
  'rate_limited', // 429
  'unavailable', // 5xx, timeouts, dropped connections
  'rejected', // 400: the payload was refused
  'payload_too_large', // 413
  'not_found', // 404: a list or job that does not exist
  'job_failed', // an asynchronous job ended `failed`
  'protocol', // a response that does not match the documented contract
] as const;
export type DestinationReason = (typeof destinationReasons)[number];

/** A destination call failed. `retryable` says whether trying again later may succeed. */
export class DestinationError extends SegsyncError {
  readonly kind = 'destination';
  readonly reason: DestinationReason;
  readonly status: number | undefined;
  readonly retryable: boolean;
  /** When the destination said it will accept calls again (epoch ms), for rate limits. */
  readonly retryAt: number | undefined;
  /** The destination's own per-field complaints (`contacts[12].email: invalid email`). */
  readonly details: readonly { field: string | null; message: string }[];

  constructor(
    message: string,
    options: {
      reason: DestinationReason;
      status?: number;
      retryable?: boolean;
      retryAt?: number;
      details?: readonly { field: string | null; message: string }[];
      cause?: unknown;
    },
  ) {
    super(message, `destination_${options.reason}`, { cause: options.cause });
    this.reason = options.reason;
    this.status = options.status;
    this.retryable = options.retryable ?? ['rate_limited', 'unavailable'].includes(options.reason);
    this.retryAt = options.retryAt;
    this.details = options.details ?? [];
  }

  /** The destination refused the key itself (wrong, revoked, or without a needed permission). */
  get refusesKey(): boolean {
    return this.reason === 'auth_refused' || this.reason === 'scope_missing';
  }

  override toJSON() {
    return { ...super.toJSON(), reason: this.reason, status: this.status };
  }
}

/** A bug or an unexpected state: never the user's fault. */
export class InternalError extends SegsyncError {
  readonly kind = 'internal';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'internal_error', options);
  }
}

/** Wraps anything thrown into a SegsyncError, keeping SegsyncErrors as they are. */
export function toSegsyncError(error: unknown): SegsyncError {
  if (error instanceof SegsyncError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new InternalError(message, { cause: error });
}

/** For exhaustive `switch` statements: a compile error when a case is missing. */
export function assertNever(value: never, what = 'value'): never {
  throw new InternalError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
