import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { assertNever, type SegsyncError } from '../shared/errors.js';

/** The one place that turns an error kind into an HTTP status. */
export function statusForError(error: SegsyncError): ContentfulStatusCode {
  switch (error.kind) {
    case 'validation':
      return 400;
    case 'unauthenticated':
      return 401;
    case 'forbidden':
      return 403;
    case 'not_found':
      return 404;
    case 'conflict':
      return 409;
    case 'destination':
      return 502;
    case 'internal':
      return 500;
    default:
      return assertNever(error.kind, 'error kind');
  }
}
