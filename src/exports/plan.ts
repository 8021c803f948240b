/** A member after mapping: its normalised email and the hash of the payload it would send. */
export interface PlannedMember {
  email: string;
  profileKey: string;
  hash: string;
}

/** What the planner needs of the set of emails a run already took. */
export interface EmailMembership {
  has(email: string): boolean;
  add(email: string): unknown;
}

export interface MemberPlan<M extends PlannedMember> {
  /** New to the destination, or changed since the ledger's last confirmed delivery. */
  upsert: M[];
  /** Delivered before with exactly this payload: nothing to send. */
  unchanged: M[];
  /** A second profile with an email already planned: one contact per email, first one wins. */
  duplicates: M[];
}

/**
 * Decides, purely, what to do with a batch of members: `delivered` is the ledger (email -> hash
 * of the payload the destination confirmed) for at least these emails, `planned` the emails this
 * run already took, updated in place. With `full`, everything is sent.
 */
export function planMembers<M extends PlannedMember>(
  members: readonly M[],
  delivered: ReadonlyMap<string, string>,
  planned: EmailMembership,
  options: { full: boolean },
): MemberPlan<M> {
  const plan: MemberPlan<M> = { upsert: [], unchanged: [], duplicates: [] };
  for (const member of members) {
    if (planned.has(member.email)) {
      plan.duplicates.push(member);
      continue;
    }
    planned.add(member.email);
    if (!options.full && delivered.get(member.email) === member.hash) plan.unchanged.push(member);
    else plan.upsert.push(member);
  }
  return plan;
}

/**
 * The emails a mirror export removes: those it delivered (the ledger) that are no longer members.
 * An upsert export never removes; neither mode touches contacts it did not add.
 */
export function planRemovals(
  mode: 'upsert' | 'mirror',
  deliveredEmails: Iterable<string>,
  isMember: (email: string) => boolean,
): string[] {
  if (mode === 'upsert') return [];
  const leavers: string[] = [];
  for (const email of deliveredEmails) if (!isMember(email)) leavers.push(email);
  return leavers;
}
