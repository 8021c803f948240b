import { hash } from 'node:crypto';

/**
 * The hash the ledger keeps for a delivered contact: of what was sent and where to, so a changed
 * field or a new list makes the contact due again, and an unchanged one is not sent twice.
 * (One-shot `crypto.hash`: no hasher object per contact, which counts at a million contacts.)
 */
export function hashPayload(payload: string, listId: string): string {
  return hash('sha1', `${listId}\n${payload}`, 'base64url');
}

/**
 * The settings the ledger's payloads were built with (LedgerStore.recordSettings): with another
 * list or mapping, every entry is checked again.
 */
export function ledgerFingerprint(mapping: unknown, listId: string): string {
  return hashPayload(JSON.stringify(mapping), listId);
}
