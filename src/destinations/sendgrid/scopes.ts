/**
 * The permissions exports need. SendGrid keys carry one of two scope families for contacts and
 * lists: the newer `marketing.read` + `marketing.write`, or the older Marketing Campaigns "Full
 * Access" set. Either family is enough; anything less names what is missing.
 */
const families: readonly (readonly string[])[] = [
  ['marketing.read', 'marketing.write'],
  [
    'marketing_campaigns.read',
    'marketing_campaigns.create',
    'marketing_campaigns.update',
    'marketing_campaigns.delete',
  ],
];

/** The scopes missing from the closest family, or [] when the key can run exports. */
export function missingScopes(granted: readonly string[]): string[] {
  const have = new Set(granted);
  let best: string[] | undefined;
  for (const family of families) {
    const missing = family.filter((scope) => !have.has(scope));
    if (missing.length === 0) return [];
    // Prefer the family the key already partly holds: that is the one its owner meant to grant.
    const held = family.length - missing.length;
    if (!best || held > 0) best = missing;
  }
  return best ?? [];
}
