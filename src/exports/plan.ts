/** A member after mapping: its contact's email and payload hash, and what the ledger holds. */
export interface PlannedMember {
  email: string;
  profileKey: string;
  profileId: string;
  hash: string;
  /** The contact the ledger holds for this profile (email and payload hash), or null. */
  delivered: { email: string; hash: string } | null;
}

/** What the planner needs of the set of emails a run already took (email-set.ts). */
export interface EmailMembership {
  /** Adds `email`; false when it was there already. */
  add(email: string): boolean;
}

export interface MemberPlan<M extends PlannedMember> {
  /** New to the destination, or changed since the ledger's last confirmed delivery. */
  upsert: M[];
  /** Delivered before with exactly this payload: nothing to send. */
  unchanged: M[];
  /**
   * A second profile with an email another member holds: one contact per email. The member the
   * ledger holds it for keeps it, while that member is unchanged; otherwise the first one this
   * run planned.
   */
  duplicates: M[];
  /** Contacts these profiles delivered under another email: they no longer map to them. */
  givenUp: { email: string; profileId: string }[];
}

/**
 * Decides, purely, what to do with a batch of members. `heldBy` maps the emails of this batch
 * that the ledger holds for a current member to that member's profile id; `planned` is the set of
 * emails this run already took, updated in place. With `full`, everything is sent but what this
 * very run delivered before an interruption (`sentBefore`): a resumed run never sends it again.
 */
export function planMembers<M extends PlannedMember>(
  members: readonly M[],
  heldBy: ReadonlyMap<string, string>,
  planned: EmailMembership,
  options: { full: boolean; sentBefore?: { has(email: string): boolean } },
): MemberPlan<M> {
  const plan: MemberPlan<M> = { upsert: [], unchanged: [], duplicates: [], givenUp: [] };
  for (const member of members) {
    const { delivered } = member;
    if (delivered && delivered.email !== member.email) {
      plan.givenUp.push({ email: delivered.email, profileId: member.profileId });
    }
    const holder = heldBy.get(member.email);
    if ((holder !== undefined && holder !== member.profileId) || !planned.add(member.email)) {
      plan.duplicates.push(member);
      continue;
    }
    const same = delivered?.email === member.email && delivered.hash === member.hash;
    if (same && (!options.full || options.sentBefore?.has(member.email))) {
      plan.unchanged.push(member);
    } else {
      plan.upsert.push(member);
    }
  }
  return plan;
}

/**
 * The emails a mirror export removes, of the ledger's leavers (contacts no member maps to any
 * more): all but those this run planned. An upsert export never removes; neither mode touches
 * contacts it did not add.
 */
export function planRemovals(
  mode: 'upsert' | 'mirror',
  leavers: Iterable<string>,
  isPlanned: (email: string) => boolean,
): string[] {
  if (mode === 'upsert') return [];
  const removals: string[] = [];
  for (const email of leavers) if (!isPlanned(email)) removals.push(email);
  return removals;
}
