import type { DestinationList, DestinationSession } from '../destinations/destination.js';
import { retryingBriefly, type BriefRetryOptions } from '../shared/brief-retry.js';
import { ConflictError, DestinationError } from '../shared/errors.js';

/**
 * Creates the list `name` for an export being saved (`--create-list`), as a person waits.
 *
 * Creating is not safe to repeat as it is: when SendGrid's answer is lost (a 5xx after the list
 * was made, a dropped connection), the list may exist, and a second request would be refused on
 * its name. So the lists are read first: a name already taken is refused at once (its id is the
 * one to give instead); and after a lost answer, a list of that name that was not there before
 * is the one this call made, and is taken. A rate limit (429) means nothing was done: it is waited
 * out and the request made again. Each read and each attempt to create has retries of its own.
 */
export async function createListOnce(
  session: DestinationSession,
  name: string,
  options: BriefRetryOptions = {},
): Promise<DestinationList> {
  const named = async () =>
    (await retryingBriefly(() => session.listLists(), options)).find((l) => l.name === name);
  const existing = await named();
  if (existing) {
    throw new ConflictError(
      `SendGrid already has a list named "${name}" (${existing.id}): give --list-id ${existing.id} to export into it, or another name`,
      'list_name_taken',
    );
  }
  let answerLost = false;
  try {
    return await retryingBriefly(async () => {
      if (answerLost) {
        const made = await named();
        if (made) return made;
      }
      try {
        return await session.createList(name);
      } catch (error) {
        // Anything retried but a rate limit may have struck after the list was made.
        answerLost ||=
          error instanceof DestinationError && error.retryable && error.reason !== 'rate_limited';
        throw error;
      }
    }, options);
  } catch (error) {
    if (!answerLost || !(error instanceof DestinationError)) throw error;
    throw new DestinationError(
      `${error.message}; SendGrid may have made the list "${name}" before an answer was lost: if it has it, give --list-id with its id (\`segsync exports add\` names it when asked to create it again)`,
      { reason: error.reason, status: error.status, details: error.details, cause: error },
    );
  }
}
