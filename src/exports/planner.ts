import type { DestinationType } from '../destinations/destination.js';
import { RequestPacker } from './batches.js';
import { mapContact, type AttributeValue, type ContactMapping } from './contact-mapping.js';
import { EmailSet } from './email-set.js';
import type { SentContact } from './ledger-store.js';
import { hashPayload } from './payload-hash.js';
import { planMembers, type PlannedMember } from './plan.js';
import { RequestBufferPool, type RequestBuffer } from './request-buffer.js';

/** A member profile as a run reads it, with what the export's ledger holds for it. */
export interface MemberProfile {
  profileId: string;
  key: string;
  attributes: Readonly<Record<string, AttributeValue>>;
  /** The profile's version (its updated_at) these attributes are. */
  version: string;
  /**
   * The contact the export's ledger holds for this profile (email, payload hash, whether the list
   * held it before the export first sent it, and the profile's version it was last checked at,
   * null when it is to be checked again), or null.
   */
  delivered: { email: string; hash: string; adopted: boolean; seen: string | null } | null;
}

/** Where a run reads its members from (member-store.ts). */
export interface MemberSource {
  /** How many distinct profiles the union of the segments holds (their last refresh). */
  countMembers(segmentIds: readonly string[]): Promise<number>;
  /**
   * Of the segments, those never refreshed: they have no members until they are, so a run of
   * them would deliver nothing (and a mirror export would remove everything it added).
   */
  unrefreshedSegments(segmentIds: readonly string[]): Promise<{ id: string; name: string }[]>;
  /** Of `segmentIds`, those that do not exist (deleted since a run took its settings, say). */
  missingSegments(segmentIds: readonly string[]): Promise<string[]>;
  /**
   * The members of the union of the segments, in batches. With `onlyDue`, only those the
   * export's ledger does not hold at their current version: new, changed, or never delivered.
   */
  iterateMembers(
    segmentIds: readonly string[],
    options: { batchSize: number; exportId: string; onlyDue: boolean },
  ): AsyncIterable<MemberProfile[]>;
}

/** What planning a run needs to know. */
export interface PlanInput {
  exportId: string;
  listId: string;
  mapping: ContactMapping;
  segmentIds: string[];
  /** Send every member, changed or not (`exports run --full`). */
  full: boolean;
  /** A first run: no email can be held by another member yet. */
  ledgerEmpty: boolean;
  /**
   * The list or mapping changed since the ledger's entries were checked (LedgerStore
   * usesSettings): every member is read again, its hash says whether its contact changed, and no
   * entry holds its email against another member (the entries' emails may come from the old
   * mapping).
   */
  settingsChanged?: boolean;
  /** Members in the segments (sizes the set of planned emails). */
  membersTotal: number;
  /** Members read and planned per step. */
  batchSize: number;
}

/** A member that cannot be sent as it is (skipped) or was adjusted to be sent (warning). */
export interface PlanProblem {
  severity: 'skipped' | 'warning';
  profileKey: string;
  email: string | null;
  code: string;
  reason: string;
}

/** What planning one batch of members found: the run records it, and sends the requests. */
export interface PlanStep {
  /** Members read in this step. */
  read: number;
  problems: PlanProblem[];
  /** Contacts these members no longer map to (ledger-store.ts giveUp). */
  givenUp: { email: string; profileId: string }[];
  /**
   * Delivered contacts still exactly what their profiles give, whose entries were checked at
   * another version (ledger-store.ts markSeen).
   */
  seen: { email: string; profileId: string; seen: string }[];
  /**
   * Delivered contacts their profiles no longer give as they are, whose entries say they were
   * checked at the profiles' current versions: only after the mapping or list changed
   * (ledger-store.ts markUnseen), so they stay due until SendGrid confirms them.
   */
  unseen: { email: string; profileId: string }[];
  /** Unchanged members, but those the run delivered before an interruption. */
  unchanged: number;
  /**
   * Requests this step filled; the last step also carries the one left partly filled. The run
   * releases each once it is checkpointed (or refused), so its buffer serves the next one.
   */
  requests: RequestBuffer[];
}

/** What planning reads: the members, and who holds which email in the ledger. */
export interface PlannerDeps {
  members: MemberSource;
  heldByMembers(
    exportId: string,
    segmentIds: readonly string[],
    emails: readonly string[],
  ): Promise<Map<string, string>>;
  destination: Pick<
    DestinationType,
    | 'isValidEmail'
    | 'isValidDate'
    | 'reservedFields'
    | 'encodeContact'
    | 'requestOverheadBytes'
    | 'limits'
  >;
  /**
   * Of `emails`, those the destination's list holds already. Given when the list held contacts
   * as the run started: a contact new to the export that is in the list already was put there by
   * someone else, and the export (in mirror mode, now or later) must never remove it.
   */
  alreadyInList?: (emails: readonly string[]) => Promise<ReadonlySet<string>>;
}

/** A member mapped to a contact, while its batch is planned. */
interface Candidate extends PlannedMember {
  delivered: MemberProfile['delivered'];
  version: string;
  payload: string;
  /** The payload's UTF-8 length. */
  bytes: number;
  /** In the list before the export first sent it (see PlannerDeps.alreadyInList). */
  adopted: boolean;
  /** What mapping adjusted (a text cut to length, say). */
  warnings: readonly string[];
}

/**
 * Plans a run, step by step: reads the members batch after batch, maps and validates each,
 * deduplicates them by normalised email, plans them against the export's ledger, and fills
 * requests of the most contacts the destination allows. It only reads; the run records what it
 * finds (run-execution.ts), and the decisions themselves are pure functions (plan.ts).
 */
export class ExportPlanner {
  /** The emails this run took, so far (all of them once the steps ended). */
  readonly planned: EmailSet;

  constructor(
    private readonly deps: PlannerDeps,
    private readonly input: PlanInput,
    /** The emails this run delivered before an interruption. */
    private readonly sentBefore: EmailSet,
  ) {
    // Sized for every member at once: a first run takes them all, and growing would briefly hold
    // two tables; a delta run touches few of its zero pages, which the system only then provides.
    this.planned = new EmailSet(input.membersTotal);
  }

  async *steps(): AsyncGenerator<PlanStep> {
    const { destination } = this.deps;
    const { exportId, listId, segmentIds, batchSize, full } = this.input;
    const packer = new RequestPacker({
      maxItems: destination.limits.maxContactsPerRequest,
      maxBytes: destination.limits.maxBytesPerRequest,
      overheadBytes: (count) => destination.requestOverheadBytes(listId, count),
    });
    const buffers = new RequestBufferPool();
    let filling = buffers.take();
    const batches = this.deps.members.iterateMembers(segmentIds, {
      batchSize,
      exportId,
      // With an empty ledger every member is due: no need to ask.
      onlyDue: !full && !this.input.ledgerEmpty && !this.input.settingsChanged,
    });
    for await (const profiles of batches) {
      const { step, upsert } = await this.planBatch(profiles);
      for (const c of upsert) {
        const bytes = c.bytes;
        if (packer.add(bytes)) {
          step.requests.push(filling);
          filling = buffers.take();
        }
        const sent: SentContact = [
          c.email,
          c.hash,
          c.profileKey,
          c.profileId,
          c.version,
          c.adopted ? 1 : 0,
        ];
        filling.add(c.payload, bytes, JSON.stringify(sent));
      }
      yield step;
    }
    if (filling.count > 0) yield { ...emptyStep(), requests: [filling] };
  }

  private async planBatch(
    profiles: readonly MemberProfile[],
  ): Promise<{ step: PlanStep; upsert: Candidate[] }> {
    const { destination } = this.deps;
    const { exportId, listId, segmentIds, mapping, full } = this.input;
    const result: PlanStep = { ...emptyStep(), read: profiles.length };
    const candidates: Candidate[] = [];
    for (const profile of profiles) {
      // Empty fields are cleared only in a contact the export put in the list itself: what
      // someone else's contact holds there is theirs.
      const own = profile.delivered && !profile.delivered.adopted ? profile.delivered : undefined;
      const mapped = mapContact(profile.attributes, mapping, destination, own?.email);
      if (!mapped.ok) {
        result.problems.push({
          severity: 'skipped',
          profileKey: profile.key,
          email: null,
          code: mapped.code,
          reason: mapped.reason,
        });
        // Its contact, if it had one, is no longer what this profile gives.
        if (profile.delivered) {
          result.givenUp.push({ email: profile.delivered.email, profileId: profile.profileId });
        }
        continue;
      }
      const payload = destination.encodeContact(mapped.contact);
      const bytes = Buffer.byteLength(payload);
      // A contact no request can carry (a huge custom text) would only be refused: skipped. Its
      // profile still maps to the contact the list holds, if any, so that is not given up.
      const alone = bytes + destination.requestOverheadBytes(listId, 1);
      if (alone > destination.limits.maxBytesPerRequest) {
        result.problems.push({
          severity: 'skipped',
          profileKey: profile.key,
          email: mapped.contact.email,
          code: 'too_large',
          reason: `the contact takes ${bytes} bytes (${alone} in a request of its own), more than one SendGrid request carries (${destination.limits.maxBytesPerRequest})`,
        });
        // Its contact stays as delivered, but no longer stands checked at this version.
        if (checkedAt(profile.delivered, profile.version)) {
          result.unseen.push({ email: profile.delivered.email, profileId: profile.profileId });
        }
        continue;
      }
      candidates.push({
        warnings: mapped.warnings,
        email: mapped.contact.email,
        profileKey: profile.key,
        profileId: profile.profileId,
        version: profile.version,
        delivered: profile.delivered,
        hash: hashPayload(payload, listId),
        payload,
        bytes,
        adopted: false,
      });
    }
    // Emails the ledger holds for another current member stay theirs (none in a first run).
    const heldBy =
      this.input.ledgerEmpty || this.input.settingsChanged
        ? new Map<string, string>()
        : await this.deps.heldByMembers(
            exportId,
            segmentIds,
            candidates.filter((c) => c.delivered?.email !== c.email).map((c) => c.email),
          );
    const plan = planMembers(candidates, heldBy, this.planned, {
      full,
      sentBefore: this.sentBefore,
    });
    // A contact sent changed, or skipped for another member's, is checked again until SendGrid
    // confirms it: its entry must not stand checked at this version meanwhile. (One sent
    // unchanged, by --full, still stands; one whose email the member no longer gives was given
    // up already.)
    const changed = plan.upsert.filter((c) => c.delivered?.hash !== c.hash);
    for (const c of [...changed, ...plan.duplicates]) {
      if (c.delivered?.email === c.email && checkedAt(c.delivered, c.version)) {
        result.unseen.push({ email: c.email, profileId: c.profileId });
      }
    }
    for (const duplicate of plan.duplicates) {
      result.problems.push({
        severity: 'skipped',
        profileKey: duplicate.profileKey,
        email: duplicate.email,
        code: 'duplicate_email',
        reason: 'another profile with the same email is sent instead',
      });
    }
    result.givenUp.push(...plan.givenUp);
    // A duplicate is skipped, so what its mapping adjusted is not worth a warning.
    for (const c of [...plan.upsert, ...plan.unchanged]) {
      for (const warning of c.warnings) {
        result.problems.push({
          severity: 'warning',
          profileKey: c.profileKey,
          email: c.email,
          code: 'field_adjusted',
          reason: warning,
        });
      }
    }
    await this.markAdopted(plan.upsert, result.problems);
    for (const c of plan.unchanged) {
      if (!checkedAt(c.delivered, c.version)) {
        result.seen.push({ email: c.email, profileId: c.profileId, seen: c.version });
      }
      // Contacts this run delivered before it was interrupted are counted as sent, not again.
      if (!this.sentBefore.has(c.email)) result.unchanged += 1;
    }
    return { step: result, upsert: plan.upsert };
  }

  /**
   * Marks the contacts the list holds already, of those new to the export (the ledger holds
   * none of them for their member): someone else put them there. A contact the export delivered
   * before keeps what its ledger entry says. An email too long for the destination to look up is
   * taken as held already, with a warning: the export must never remove a contact it cannot tell
   * it added.
   */
  private async markAdopted(upsert: Candidate[], problems: PlanProblem[]): Promise<void> {
    const { alreadyInList, destination } = this.deps;
    if (!alreadyInList) return;
    const fresh = upsert.filter((c) => c.delivered?.email !== c.email);
    const lookable: Candidate[] = [];
    for (const c of fresh) {
      if (c.email.length <= destination.limits.maxLookupEmailLength) {
        lookable.push(c);
        continue;
      }
      c.adopted = true;
      problems.push({
        severity: 'warning',
        profileKey: c.profileKey,
        email: c.email,
        code: 'not_looked_up',
        reason: `SendGrid looks emails up only up to ${destination.limits.maxLookupEmailLength} characters, so whether the list held this contact before cannot be told: a mirror export leaves it in the list`,
      });
    }
    if (lookable.length === 0) return;
    const inList = await alreadyInList(lookable.map((c) => c.email));
    for (const c of lookable) c.adopted = inList.has(c.email);
  }
}

function emptyStep(): PlanStep {
  return { read: 0, problems: [], givenUp: [], seen: [], unseen: [], unchanged: 0, requests: [] };
}

/** Whether the ledger's entry stands checked at the profile's `version` (see PlanStep.unseen). */
function checkedAt(
  entry: MemberProfile['delivered'],
  version: string,
): entry is NonNullable<MemberProfile['delivered']> {
  return entry !== null && entry.seen === version;
}
