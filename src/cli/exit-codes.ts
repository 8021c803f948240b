import { assertNever, type SegsyncError } from '../shared/errors.js';

/**
 * segsync's exit codes, a contract for scripts. 0 success; 1 failure (a failed run, an internal
 * error); 2 usage or validation (unknown command, bad flag, bad input); 3 partial success (some
 * contacts failed); 4 not found; 5 conflict; 6 not allowed; 7 the destination refused or failed.
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  partial: 3,
  notFound: 4,
  conflict: 5,
  denied: 6,
  destination: 7,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The one mapping from an error kind to an exit code. */
export function exitCodeForError(error: SegsyncError): ExitCode {
  switch (error.kind) {
    case 'validation':
      return ExitCode.usage;
    case 'not_found':
      return ExitCode.notFound;
    case 'conflict':
      return ExitCode.conflict;
    case 'unauthenticated':
    case 'forbidden':
      return ExitCode.denied;
    case 'destination':
      return ExitCode.destination;
    case 'internal':
      return ExitCode.failure;
    default:
      return assertNever(error.kind, 'error kind');
  }
}
