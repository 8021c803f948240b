import type { DestinationList, DestinationSession } from '../destinations/destination.js';
import type { ContactMapping } from './contact-mapping.js';
import type { MemberSource } from './planner.js';

/**
 * What a run checks before it sends anything, as the run, a preview and saving the export all
 * say it: how many members the segments hold, and why a run would send none of them.
 * - Segments deleted (since a run took its settings) or never refreshed: they hold no one, and a
 *   mirror export would take everyone it added away.
 * - More members than the connection's limit.
 */
export async function checkBeforeSending(
  source: MemberSource,
  segmentIds: readonly string[],
  profileLimit: number,
): Promise<{ members: number; refusals: string[] }> {
  const refusals = await checkSegments(source, segmentIds);
  const members = await source.countMembers(segmentIds);
  if (members > profileLimit) {
    refusals.push(
      `the export's segments hold ${members} profiles, over the connection's limit of ${profileLimit} profiles per export (raise the limit or narrow the segments)`,
    );
  }
  return { members, refusals };
}

/** Why the segments hold no membership to go by: deleted, or never refreshed. */
export async function checkSegments(
  source: MemberSource,
  segmentIds: readonly string[],
): Promise<string[]> {
  const refusals: string[] = [];
  const missing = await source.missingSegments(segmentIds);
  if (missing.length > 0) {
    refusals.push(
      `${missing.length === 1 ? 'segment' : 'segments'} ${missing.join(', ')} no longer ${missing.length === 1 ? 'exists' : 'exist'} (deleted since the run took the export's settings)`,
    );
  }
  const unrefreshed = await source.unrefreshedSegments(segmentIds);
  if (unrefreshed.length > 0) {
    const names = unrefreshed.map((s) => `"${s.name}" (${s.id})`).join(', ');
    const commands = unrefreshed.map((s) => `\`segsync segments refresh ${s.id}\``).join(', ');
    refusals.push(
      unrefreshed.length === 1
        ? `segment ${names} has never been refreshed, so it has no members yet: run ${commands}`
        : `segments ${names} have never been refreshed, so they have no members yet: run ${commands}`,
    );
  }
  return refusals;
}

/**
 * What in SendGrid would make a run fail before it sends anything, as the run and a preview both
 * say it: the export's list gone, or custom fields it fills gone (a field deleted, or deleted and
 * made again: sends go by field id). Reads the list (a run uses its contact count for the
 * adoption check) and, when the mapping has custom fields, the field definitions, each through
 * `call` (the caller's retries).
 */
export async function checkDestination(
  session: DestinationSession,
  listId: string,
  mapping: ContactMapping,
  call: <T>(what: string, request: () => Promise<T>) => Promise<T>,
): Promise<{ list: DestinationList | undefined; refusals: string[] }> {
  const refusals: string[] = [];
  const list = await call('reading the list', () => session.getList(listId));
  if (!list) refusals.push(`SendGrid has no list ${listId} in this account any more`);
  if (mapping.customFields.length > 0) {
    const fields = await call('reading the custom fields', () => session.listFields());
    const ids = new Set(fields.map((f) => f.id));
    // SendGrid's field names are unique regardless of case.
    const names = new Set(fields.map((f) => f.name.toLowerCase()));
    const lost = mapping.customFields.filter((c) => !ids.has(c.id));
    const remadeOf = (c: { name: string }) => names.has(c.name.toLowerCase());
    const gone = lost.filter((c) => !remadeOf(c)).map((c) => `"${c.name}"`);
    const remade = lost.filter(remadeOf).map((c) => `"${c.name}"`);
    const fix = (count: number) =>
      `map ${count > 1 ? 'them' : 'it'} again with \`segsync exports edit --map\``;
    if (gone.length > 0) {
      refusals.push(
        `SendGrid no longer has the custom field${gone.length > 1 ? 's' : ''} ${gone.join(', ')} the export fills: ${fix(gone.length)}`,
      );
    }
    if (remade.length > 0) {
      refusals.push(
        `the custom field${remade.length > 1 ? 's' : ''} ${remade.join(', ')} the export fills ${remade.length > 1 ? 'were' : 'was'} deleted and made again in SendGrid since it was saved (a new field id): ${fix(remade.length)}`,
      );
    }
  }
  return { list, refusals };
}
