import type { DestinationSession, DestinationType, JobState } from '../destinations/destination.js';
import type { Clock } from '../shared/clock.js';
import { DestinationError, NotFoundError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { chunks } from '../shared/chunks.js';
import { decideRetry, type RetryPolicy } from '../shared/retry-policy.js';
import { Serial } from '../shared/serial.js';
import type { ContactMapping } from './contact-mapping.js';
import { EmailSet } from './email-set.js';
import { drain, HandoffQueue } from './handoff-queue.js';
import type { LedgerStore, SentContact } from './ledger-store.js';
import { ledgerFingerprint } from './payload-hash.js';
import { planRemovals } from './plan.js';
import { ExportPlanner, type MemberSource, type PlannerDeps, type PlanStep } from './planner.js';
import type { RequestBuffer } from './request-buffer.js';
import { checkBeforeSending, checkDestination, checkSegments } from './run-checks.js';
import { RunEta } from './run-eta.js';
import type { RunStatus } from './run-states.js';
import type { BatchRow, BatchSummary, ProblemRow, RunRow, RunStore } from './run-store.js';

/** The export's configuration as a run saw it when it started; a resumed run reuses it. */
export interface RunSettings {
  exportId: string;
  connectionId: string;
  listId: string;
  mapping: ContactMapping;
  mode: 'upsert' | 'mirror';
  segmentIds: string[];
  profileLimit: number;
  /**
   * Whether the list held no contacts when the run first read it. A resumed run goes by this, as
   * the run would have had it not been interrupted (and asks SendGrid nothing more).
   */
  listWasEmpty?: boolean;
}

/** A destination session opened on the run's connection, acting as its export user. */
export interface OpenedDestination {
  destination: DestinationType<never>;
  session: DestinationSession;
}

/** What a run reports while it works (for progress bars and the UI). */
export interface RunProgress {
  runId: string;
  status: RunStatus;
  /**
   * `checking earlier requests`: a resumed run settles what it sent before its interruption,
   * before it counts the members (`members` and `planned` are 0 until then).
   */
  stage:
    'checking earlier requests' | 'sending' | 'waiting for SendGrid' | 'removing leavers' | 'done';
  /** Members in the export's segments, and how many of them were planned so far. */
  members: number;
  planned: number;
  sent: number;
  batchesSent: number;
  jobsDone: number;
  jobsTotal: number;
  ratePerSecond: number;
  etaSeconds: number | undefined;
}

export interface RunnerDeps {
  runs: RunStore;
  ledger: LedgerStore;
  members: MemberSource;
  /** Reads the export's current configuration for a run about to start. */
  loadSettings(run: RunRow): Promise<RunSettings>;
  openDestination(settings: RunSettings): Promise<OpenedDestination>;
  clock: Clock;
  logger: Logger;
  sleep(ms: number): Promise<void>;
  random(): number;
  workerId: string;
  retryPolicy?: RetryPolicy;
  /** Job polling: the first wait, and the longest one it grows to. */
  pollIntervalMs?: { initial: number; max: number };
  /** How long a job may stay pending before its contacts are taken as not delivered. */
  jobDeadlineMs?: number;
  /** Members read and planned per step. */
  planningBatchSize?: number;
  /** How many of an export's latest ended runs keep their problems (PROBLEM_RUNS_KEPT). */
  problemRunsKept?: number;
}

type FinalJob = Exclude<JobState, { status: 'pending' }>;
type Problem = Omit<ProblemRow, 'seq'>;

/** Thrown inside a run to end it as failed with a message for the user. */
export class RunFailure extends Error {}
/** Thrown inside a run when a cancel was requested; the run ends canceled. */
export class RunCanceled extends Error {}
/**
 * Thrown inside a run whose worker was taken for dead and the run given to another: this one
 * stops at once and leaves the run, its checkpoints and its ledger to the new worker.
 */
export class RunTakenOver extends Error {}
/**
 * Thrown inside a run whose worker is shutting down: it stops after the request in flight, and
 * the run goes back to the queue for the next worker, which settles what this one left open.
 */
export class RunInterrupted extends Error {}

const BATCH_INDEX = /^contacts\[(\d+)\]/;
// Waits longer than this are cut into steps with a heartbeat between them, so a run waiting out
// a long rate limit is not taken for dead.
const HEARTBEAT_STEP_MS = 10_000;
// A leaver SendGrid does not find is taken as deleted there, unless it was delivered within this
// time: SendGrid takes minutes to make new contacts searchable (SENDGRID.md).
const RECENT_DELIVERY_MS = 24 * 60 * 60 * 1000;
// How long a job may stay pending (RunnerDeps.jobDeadlineMs): hours, as big imports take minutes.
const JOB_DEADLINE_MS = 6 * 60 * 60 * 1000;

/**
 * One execution of one run, between ExportRunner claiming it and ending it: settles what an
 * earlier execution left acknowledged, checks the segments and the destination, plans and sends
 * the members while their jobs are settled, and removes leavers in mirror mode. It holds what
 * the run needs between those phases; what it throws says how the run ends.
 */
export class RunExecution {
  private settings!: RunSettings;
  private opened!: OpenedDestination;
  private destinationOpen = false;
  /**
   * Contacts of unanswered requests not found in the list (yet): they were not in it when those
   * requests were planned, so if the list holds them now, the export put them there.
   */
  private readonly sentUnanswered = new Set<string>();
  private readonly startedMs: number;
  private sentHere = 0;
  private batchesSent = 0;
  /** The run's jobs (requests acknowledged), and those settled: by batch seq, counted once. */
  private jobsTotal = 0;
  private readonly jobsSettled = new Set<number>();
  private eta = new RunEta(undefined);
  private membersTotal = 0;
  private plannedSoFar = 0;
  /** Members the run read because the ledger did not hold them at their current version. */
  private dueSeen = 0;
  /** When the export's ledger is empty (a first run), no email can be held by another member. */
  private ledgerEmpty = false;
  private nextSeq = 0;
  /** While members are delivered: acknowledged jobs waiting to be settled, in order. */
  private settling: HandoffQueue<BatchSummary> | undefined;
  private lastProgress = 0;
  /**
   * The run's ledger writes, one at a time: planning (giving contacts up, marking them seen) and
   * settling jobs go on side by side, and on PostgreSQL two such statements over the same rows
   * in different orders could deadlock.
   */
  private readonly ledgerWrites = new Serial();
  /** Settling what SendGrid acknowledged after the run stopped (settleAfterStop). */
  private stopping = false;
  /** The stage last reported (a job settled meanwhile reports in the same stage). */
  private stage: RunProgress['stage'] = 'sending';

  constructor(
    private readonly deps: RunnerDeps,
    private readonly policy: RetryPolicy,
    private readonly poll: { initial: number; max: number },
    private run: RunRow,
    private readonly onProgress: ((progress: RunProgress) => void) | undefined,
    /** Aborted when the worker is shutting down (RunInterrupted). */
    private readonly shutdown?: AbortSignal,
  ) {
    this.startedMs = deps.clock.now().getTime();
  }

  private get runs(): RunStore {
    return this.deps.runs;
  }

  private get runId(): string {
    return this.run.id;
  }

  async execute(): Promise<void> {
    if (this.run.settings) {
      this.settings = JSON.parse(this.run.settings) as RunSettings;
    } else {
      this.settings = await this.deps.loadSettings(this.run);
      await this.runs.update(this.runId, { settings: JSON.stringify(this.settings) });
    }
    this.opened = await this.deps.openDestination(this.settings).catch((error: unknown) => {
      // The connection the run took was removed since (an interrupted run, resumed later).
      if (error instanceof NotFoundError) {
        throw new RunFailure(
          `the run's connection ${this.settings.connectionId} no longer exists, so the requests SendGrid acknowledged before cannot be checked; the next run sends their contacts again`,
        );
      }
      throw error;
    });
    this.destinationOpen = true;
    // Before the batches are counted: an unanswered request is settled, or forgotten.
    await this.settleUnanswered();
    await this.settleEarlierJobs();
    this.eta = new RunEta(await this.runs.recentJobMs(this.settings.exportId));
    const batches = await this.runs.batches(this.runId);
    this.nextSeq = batches.reduce((max, b) => Math.max(max, b.seq), 0);
    // A resumed run reports the requests and jobs of its earlier executions too.
    this.batchesSent = batches.filter((b) => b.kind === 'upsert').length;
    this.jobsTotal = batches.length;
    for (const b of batches) {
      if (b.status === 'submitted') this.eta.acknowledged(b.seq, this.startedMs);
      else this.jobsSettled.add(b.seq);
    }
    // A resumed run: what SendGrid acknowledged before the crash is settled, never sent again.
    await this.settleSubmitted('checking earlier requests');
    await this.runs.clearPlanProblems(this.runId);
    const { members, refusals } = await checkBeforeSending(
      this.deps.members,
      this.settings.segmentIds,
      this.settings.profileLimit,
    );
    this.membersTotal = members;
    await this.runs.update(this.runId, { members, skipped: 0, unchanged: 0 });
    // A resumed run may have sent requests before it was interrupted: nothing more is sent.
    const nothingSent = `nothing ${this.batchesSent > 0 ? 'more ' : ''}was sent`;
    if (refusals.length > 0) throw new RunFailure(`${refusals.join('; ')}; ${nothingSent}`);
    const { exportId, listId, mapping } = this.settings;
    const { list, refusals: destination } = await checkDestination(
      this.opened.session,
      listId,
      mapping,
      (what, request) => this.withRetries(what, request),
    );
    if (destination.length > 0) {
      throw new RunFailure(`${destination.join('; ')}; ${nothingSent}`);
    }
    // A payload depends on the list and the mapping: with others, every member is checked again,
    // until a run has planned them all with these (deliverMembers).
    const fingerprint = ledgerFingerprint(mapping, listId);
    const settingsChanged = !(await this.deps.ledger.usesSettings(exportId, fingerprint));
    this.ledgerEmpty = await this.deps.ledger.isEmpty(exportId);
    const sentBefore = await this.sentBefore();
    let { listWasEmpty } = this.settings;
    if (listWasEmpty === undefined) {
      listWasEmpty = (list?.contactCount ?? 0) === 0;
      this.settings = { ...this.settings, listWasEmpty };
      await this.runs.update(this.runId, { settings: JSON.stringify(this.settings) });
    }
    const planned = await this.deliverMembers(sentBefore, listWasEmpty, {
      fingerprint,
      changed: settingsChanged,
    });
    // Members the ledger held at their current version were not even read: all unchanged (but
    // those this run delivered itself before an interruption, counted as sent).
    const notRead = this.membersTotal - this.dueSeen - sentBefore.size;
    if (notRead > 0) await this.runs.addCounters(this.runId, { unchanged: notRead }, this.now());
    await this.settleSubmitted();
    if (this.settings.mode === 'mirror') {
      await this.removeLeavers(planned);
      await this.settleSubmitted();
    }
  }

  /** The emails this run delivered before an interruption (empty for a run's first execution). */
  private async sentBefore(): Promise<EmailSet> {
    const sent = new EmailSet();
    for (const batch of await this.runs.batches(this.runId)) {
      if (batch.kind !== 'upsert' || batch.status === 'submitted') continue;
      const contacts = await this.runs.batchContacts(this.runId, batch.seq);
      for (const [email] of JSON.parse(contacts) as [string][]) sent.add(email);
    }
    return sent;
  }

  // --- planning and sending, side by side ---------------------------------------------------

  /**
   * Plans the members step after step (planner.ts) and hands full requests to a sender that
   * sends them one at a time (never fanning out to one endpoint) while planning goes on; a
   * settler polls and settles their jobs meanwhile. Returns the emails the run planned.
   */
  private async deliverMembers(
    sentBefore: EmailSet,
    listWasEmpty: boolean,
    settings: { fingerprint: string; changed: boolean },
  ): Promise<EmailSet> {
    this.emit('sending', true);
    // One full request waits while another is in flight and a third fills: enough to keep the
    // sender busy, and each holds up to 6 MB, so no more.
    const queue = new HandoffQueue<RequestBuffer>(1);
    // Either side failing stops planning, which feeds `queue`.
    const stopPlanning = (error: unknown) => queue.fail(error);
    const sender = drain(queue, (request) => this.sendGroup(request), stopPlanning);
    // Acknowledged jobs are polled and settled in order while planning and sending go on, so the
    // ledger is written meanwhile, not all after the last request.
    const settling = new HandoffQueue<BatchSummary>(Number.POSITIVE_INFINITY);
    this.settling = settling;
    const settler = drain(settling, (batch) => this.settleJob(batch), stopPlanning);
    const { exportId, listId, mapping, segmentIds } = this.settings;
    const alreadyInList = this.adoptionCheck(listWasEmpty);
    const planner = new ExportPlanner(
      {
        members: this.deps.members,
        heldByMembers: (...args) => this.deps.ledger.heldByMembers(...args),
        destination: this.opened.destination,
        ...(alreadyInList ? { alreadyInList } : {}),
      },
      {
        exportId,
        listId,
        mapping,
        segmentIds,
        full: this.run.full === 1,
        ledgerEmpty: this.ledgerEmpty,
        settingsChanged: settings.changed,
        membersTotal: this.membersTotal,
        batchSize: this.deps.planningBatchSize ?? 2_000,
      },
      sentBefore,
    );
    try {
      for await (const step of planner.steps()) {
        await this.recordStep(step);
        for (const full of step.requests) await queue.push(full);
        queue.check();
        await this.throwIfCanceled();
        // SQLite answers synchronously, so planning never yields by itself: let the sender's
        // request and response move between steps, or sending would wait for planning.
        await new Promise((resolve) => setImmediate(resolve));
      }
      // Every member is planned now: those not read were unchanged (see execute).
      this.plannedSoFar = Math.max(this.plannedSoFar, this.membersTotal);
      if (settings.changed) await this.holdLedgerTo(settings.fingerprint, planner.planned);
      queue.close();
      await sender;
    } catch (error) {
      queue.fail(error);
      settling.fail(error);
      await Promise.all([sender.catch(() => undefined), settler.catch(() => undefined)]);
      throw error;
    } finally {
      this.settling = undefined;
    }
    settling.close();
    // Waiting on SendGrid only while some of its jobs are still open (none, when nothing was sent).
    if (this.jobsSettled.size < this.jobsTotal) {
      await this.setStatus('waiting_on_destination');
      this.emit('waiting for SendGrid', true);
      await settler;
      await this.setStatus('running');
    } else await settler;
    return planner.planned;
  }

  /**
   * Once every member was planned with settings the ledger's entries were not checked against
   * (a changed mapping or list): the entries each member's plan found changed were marked to be
   * checked again (PlanStep.unseen); so are now those of contacts the run did not plan (their
   * profiles left the segments, say), should they come back. Then the ledger holds to the
   * settings, and later runs read only the members due.
   */
  private async holdLedgerTo(fingerprint: string, planned: EmailSet): Promise<void> {
    // In a first run, every entry is one this run planned: nothing to look for.
    if (!this.ledgerEmpty) await this.uncheckUnplanned(planned);
    const { exportId } = this.settings;
    await this.ledgerWrites.run(() => this.deps.ledger.recordSettings(exportId, fingerprint));
  }

  /** Marks the entries of contacts this run did not plan to be checked again (holdLedgerTo). */
  private async uncheckUnplanned(planned: EmailSet): Promise<void> {
    const { exportId } = this.settings;
    const pageSize = 5_000;
    for (let after = ''; ;) {
      const page = await this.deps.ledger.checkedPage(exportId, after, pageSize);
      const unplanned = page.filter((entry) => !planned.has(entry.email));
      await this.ledgerWrites.run(() => this.deps.ledger.markUnseen(exportId, unplanned));
      const last = page.at(-1);
      if (last === undefined || page.length < pageSize) return;
      after = last.email;
    }
  }

  /**
   * How to tell which contacts new to the export its list holds already: someone else put those
   * there, and a mirror export must never remove them. Asked in upsert mode too, since an export
   * can be switched to mirror later, and by then nobody can tell. Asked only when the list held
   * contacts as the run first started: into an empty list, every new contact is the export's own.
   * (The contacts of a request the run sent just before it was killed are found in the list on
   * resuming: settleUnanswered has put them in the ledger by then, or, not found yet, marked
   * them as the export's.)
   */
  private adoptionCheck(listWasEmpty: boolean): PlannerDeps['alreadyInList'] {
    if (listWasEmpty) return undefined;
    return async (emails) => {
      const held = await this.listHolds(emails, (n) => `looking up ${n} contacts`);
      // One an unanswered request of the export carried, landed since, is the export's own.
      for (const email of this.sentUnanswered) held.delete(email);
      return held;
    };
  }

  /** Of `emails`, those the export's list holds now: looked up by email, 100 at a time. */
  private async listHolds(
    emails: readonly string[],
    what: (count: number) => string,
  ): Promise<Set<string>> {
    const { listId } = this.settings;
    const { session, destination } = this.opened;
    const held = new Set<string>();
    for (const chunk of chunks(emails, destination.limits.maxEmailsPerLookup)) {
      const found = await this.withRetries(what(chunk.length), () => session.findContacts(chunk));
      for (const [email, contact] of found) if (contact.listIds.includes(listId)) held.add(email);
    }
    return held;
  }

  /** Records what planning a batch found: problems, counters, and the ledger's bookkeeping. */
  private async recordStep(step: PlanStep): Promise<void> {
    const { exportId } = this.settings;
    await this.ledgerWrites.run(async () => {
      await this.deps.ledger.giveUp(exportId, step.givenUp);
      await this.deps.ledger.markSeen(exportId, step.seen);
      await this.deps.ledger.markUnseen(exportId, step.unseen);
    });
    await this.runs.addProblems(
      this.runId,
      step.problems.map((p) => this.problem(p.severity, p.profileKey, p.email, p.code, p.reason)),
    );
    const skipped = step.problems.filter((p) => p.severity === 'skipped').length;
    if (skipped > 0 || step.unchanged > 0) {
      await this.runs.addCounters(this.runId, { skipped, unchanged: step.unchanged }, this.now());
    }
    this.dueSeen += step.read;
    this.plannedSoFar += step.read;
    this.emit('sending');
  }

  /**
   * Sends one request. A 400 that names contacts (`contacts[12].email`) fails just those and
   * sends the rest again; one that does not is split in halves until the bad contacts are
   * isolated, so the valid ones are still delivered.
   */
  private async sendGroup(group: RequestBuffer): Promise<void> {
    const count = group.count;
    if (count === 0) return;
    await this.throwIfCanceled();
    // Recorded before it is sent: a process killed before SendGrid answers leaves a request that
    // may have landed, and what it carried says which contacts were the run's (settleUnanswered).
    const { contacts: carried, ...intent } = this.batchRow(
      'upsert',
      null,
      count,
      group.checkpoint(),
    );
    await this.runs.insertBatch({ ...intent, contacts: carried, status: 'sending' });
    let jobId: string;
    try {
      ({ jobId } = await this.withRetries(`sending ${count} contacts`, () =>
        this.opened.session.upsert(this.settings.listId, group.contacts(), count),
      ));
    } catch (error) {
      if (
        !(error instanceof DestinationError) ||
        (error.reason !== 'rejected' && error.reason !== 'payload_too_large')
      ) {
        throw error;
      }
      // Refused whole: nothing of it landed. Its parts are recorded as they are sent.
      await this.runs.deleteBatch(this.runId, intent.seq);
      const named = namedContacts(error, count);
      if (count === 1 || named.size === count) return this.reject(group, error, named);
      const parts =
        named.size > 0
          ? [group.pick((index) => named.has(index)), group.pick((index) => !named.has(index))]
          : [
              group.pick((index) => index < Math.ceil(count / 2)),
              group.pick((index) => index >= Math.ceil(count / 2)),
            ];
      group.release();
      const [first, second] = parts as [RequestBuffer, RequestBuffer];
      if (named.size > 0) {
        // Picking keeps the request's order: the k-th rejected contact is the k-th named index.
        const indexes = [...named.keys()].sort((a, b) => a - b);
        await this.reject(first, error, new Map(indexes.map((at, k) => [k, named.get(at) ?? []])));
      } else await this.sendGroup(first);
      return this.sendGroup(second);
    }
    // A worker taken for dead while its request was in flight leaves the run to its successor.
    await this.throwIfTakenOver();
    // The checkpoint: from here on this request is never sent again, whatever happens.
    const acknowledged = { job_id: jobId, acknowledged_at: this.now(), updated_at: this.now() };
    await this.runs.acknowledgeBatch(this.runId, intent.seq, acknowledged);
    const batch: BatchSummary = { ...intent, ...acknowledged, status: 'submitted' };
    this.eta.acknowledged(batch.seq, this.nowMs());
    group.release();
    this.sentHere += count;
    this.batchesSent += 1;
    await this.runs.addCounters(this.runId, { sent: count }, this.now());
    this.jobsTotal += 1;
    if (this.settling) await this.settling.push(batch);
    this.emit('sending', true);
  }

  /**
   * Fails the contacts of a refused request, each with SendGrid's complaints about it (`own`, by
   * index in `contacts`), or with the whole answer when SendGrid named none of them (a request of
   * one, say).
   */
  private async reject(
    contacts: RequestBuffer,
    error: DestinationError,
    own: ReadonlyMap<number, readonly string[]>,
  ): Promise<void> {
    const whole = error.details
      .map((d) => (d.field ? `${d.field}: ${d.message}` : d.message))
      .join('; ');
    const problems: Problem[] = [];
    for (let index = 0; index < contacts.count; index++) {
      const [email, , profileKey] = contacts.sentContact(index);
      const detail = own.get(index)?.join('; ') || whole;
      problems.push(
        this.problem(
          'failed',
          profileKey,
          email,
          'rejected',
          `SendGrid rejected the contact${detail ? ` (${detail})` : ''}`,
        ),
      );
    }
    contacts.release();
    await this.runs.addProblems(this.runId, problems);
  }

  // --- settling the destination's jobs -------------------------------------------------------

  /**
   * After the run failed or was canceled: settles the jobs SendGrid had acknowledged, so that the
   * run's counts and the ledger say what did reach SendGrid (removals included). Best effort, and
   * not stopped by the cancel that may have stopped the run: a job that cannot be polled now stays
   * unsettled, and the export's next run settles it (settleEarlierJobs).
   */
  async settleAfterStop(): Promise<void> {
    // Stopped before its destination was open: nothing can be asked of SendGrid.
    if (!this.destinationOpen) return;
    this.stopping = true;
    // Each on its own: SendGrid's searches failing (unanswered requests are looked up) must not
    // keep the acknowledged jobs from being polled, nor the other way round.
    await this.bestEffort(() => this.settleUnanswered());
    await this.bestEffort(() => this.settleSubmitted());
  }

  private async bestEffort(settle: () => Promise<void>): Promise<void> {
    try {
      await settle();
    } catch (error) {
      // SendGrid failing to answer is expected here (it may be why the run stopped): its message
      // says enough. Anything else is a bug, and its stack is logged.
      const expected = error instanceof DestinationError || error instanceof RunFailure;
      this.deps.logger.warn(
        expected ? { runId: this.runId, reason: error.message } : { err: error, runId: this.runId },
        'could not settle the requests of a stopped run',
      );
    }
  }

  /**
   * Settles the requests the run sent without an answer (its process was killed, or SendGrid
   * could not be reached): they may have landed. Of their contacts, those new to the list when
   * planned and to the export's ledger that the list holds now were put there by this run: they
   * enter the ledger, as the run's own (so a mirror export removes them when they leave), and
   * count as sent. The others are sent again, by this run or the next.
   */
  private async settleUnanswered(): Promise<void> {
    // Those of earlier runs of the export too: one that ended while SendGrid could not be reached
    // kept them for this one.
    for (const batch of await this.runs.unansweredBatches(this.settings.exportId)) {
      await this.settleUnansweredBatch(batch);
    }
  }

  private async settleUnansweredBatch(batch: BatchSummary): Promise<void> {
    const { exportId } = this.settings;
    const { destination } = this.opened;
    const runId = batch.run_id;
    const carried = JSON.parse(await this.runs.batchContacts(runId, batch.seq)) as SentContact[];
    const held = await this.deps.ledger.held(
      exportId,
      carried.map(([email]) => email),
    );
    const askable = carried
      .filter(([email, , , , , adopted]) => adopted !== 1 && !held.has(email))
      .map(([email]) => email)
      .filter((email) => email.length <= destination.limits.maxLookupEmailLength);
    const landed = await this.listHolds(
      askable,
      () => 'checking a request SendGrid did not answer',
    );
    // Not there (yet: its job may still be pending): still never someone else's.
    for (const email of askable) if (!landed.has(email)) this.sentUnanswered.add(email);
    const delivered = carried.filter(([email]) => landed.has(email));
    if (delivered.length === 0) {
      await this.runs.deleteBatch(runId, batch.seq);
      return;
    }
    const at = this.now();
    await this.ledgerWrites.run(() =>
      this.runs.settleBatch(
        runId,
        batch.seq,
        {
          status: 'completed',
          contact_count: delivered.length,
          created: delivered.length,
          updated_at: at,
        },
        async ({ runs, ledger }) => {
          await runs.replaceBatchContacts(runId, batch.seq, JSON.stringify(delivered));
          await ledger.confirmDelivered(exportId, { runId, seq: batch.seq }, [], at);
          // Counted by the run that sent them, though it may have ended.
          await runs.addCounters(runId, { sent: delivered.length, created: delivered.length }, at);
        },
        'sending',
      ),
    );
    // A run that ended kept what its request carried only for this.
    if (runId !== this.runId) await this.runs.dropContactsOf(runId, batch.seq);
  }

  /** Polls every acknowledged, unsettled job of the run to its end and records what it did. */
  private async settleSubmitted(
    stage: RunProgress['stage'] = 'waiting for SendGrid',
  ): Promise<void> {
    const pending = (await this.runs.batches(this.runId)).filter((b) => b.status === 'submitted');
    if (pending.length === 0) return;
    await this.throwIfCanceled();
    await this.setStatus('waiting_on_destination');
    this.emit(stage, true);
    for (const batch of pending) await this.settleJob(batch);
    await this.setStatus('running');
  }

  /** Polls one acknowledged job to its end, records what it did, and reports progress. */
  private async settleJob(batch: BatchSummary): Promise<void> {
    let state: FinalJob;
    let stillListed: ReadonlySet<string> = new Set();
    try {
      state = await this.pollJob(batch);
    } catch (error) {
      // SendGrid documents the job endpoint for imports, upserts and deletions, not for removals
      // from a list: if it does not know a removal's job, the contacts themselves say.
      const unknownJob = error instanceof DestinationError && error.reason === 'not_found';
      if (batch.kind !== 'remove' || !unknownJob) throw error;
      ({ state, stillListed } = await this.checkRemoval(batch));
    }
    await this.settle(batch, state, stillListed);
    if (batch.run_id !== this.runId) return;
    this.eta.settled(batch.seq, this.nowMs());
    this.jobsSettled.add(batch.seq);
    this.emit(this.stage, true);
  }

  /**
   * Settles the jobs earlier runs of the export left unsettled (they ended while SendGrid could
   * not be reached): each counts for the run that sent it, so that run's counts come to say what
   * reached SendGrid, and the contacts its job took enter the ledger instead of being sent again.
   * A job SendGrid no longer knows is taken as not delivered: this run sends its contacts. Jobs
   * into another list (the export moved since, and its ledger started anew) are left alone.
   */
  private async settleEarlierJobs(): Promise<void> {
    const { exportId, listId } = this.settings;
    const earlier = await this.runs.unsettledJobsOfEndedRuns(exportId);
    if (earlier.length === 0) return;
    await this.setStatus('waiting_on_destination');
    this.emit('checking earlier requests', true);
    for (const { run_settings: sentWith, ...batch } of earlier) {
      await this.throwIfCanceled();
      const sentTo = sentWith === null ? undefined : (JSON.parse(sentWith) as RunSettings).listId;
      if (sentTo !== listId) {
        await this.runs.dropContactsOf(batch.run_id, batch.seq);
        continue;
      }
      try {
        await this.settleJob(batch);
      } catch (error) {
        if (!(error instanceof DestinationError && error.reason === 'not_found')) throw error;
        const counts = { requested: 0, created: 0, updated: 0, deleted: 0, errored: 0 };
        const message = `SendGrid no longer knows the job, so its contacts are taken as not ${batch.kind === 'upsert' ? 'delivered' : 'removed'}`;
        await this.settle(batch, { status: 'failed', counts, errorsUrl: undefined, message });
      }
      await this.runs.dropContactsOf(batch.run_id, batch.seq);
    }
    await this.setStatus('running');
  }

  /**
   * A removal whose job SendGrid cannot report on: its contacts no longer in the list were
   * removed; those still in it (SendGrid may not show the removal yet) stay the export's, and a
   * later run removes them.
   */
  private async checkRemoval(
    batch: BatchSummary,
  ): Promise<{ state: FinalJob; stillListed: Set<string> }> {
    const contacts = JSON.parse(await this.runs.batchContacts(batch.run_id, batch.seq)) as [
      string,
      string,
    ][];
    const stillListed = await this.listHolds(
      contacts.map(([email]) => email),
      () => 'checking removed contacts',
    );
    const removed = contacts.length - stillListed.size;
    const counts = {
      requested: contacts.length,
      created: 0,
      updated: 0,
      deleted: removed,
      errored: 0,
    };
    return {
      state: { status: 'completed', counts, errorsUrl: undefined, message: undefined },
      stillListed,
    };
  }

  private async pollJob(batch: BatchSummary): Promise<FinalJob> {
    const jobId = batch.job_id ?? '';
    // Some jobs never finish (SENDGRID.md): past the deadline, counted from when SendGrid took
    // the request, the job's contacts are taken as not delivered, and the next run sends them.
    const deadlineMs = this.deps.jobDeadlineMs ?? JOB_DEADLINE_MS;
    const since = Date.parse(batch.acknowledged_at ?? batch.updated_at);
    let wait = this.poll.initial;
    for (;;) {
      const state = await this.withRetries(`checking job ${jobId}`, () =>
        this.opened.session.job(jobId),
      );
      if (state.status !== 'pending') return state;
      if (this.nowMs() - since > deadlineMs) {
        const counts = { requested: 0, created: 0, updated: 0, deleted: 0, errored: 0 };
        const message = `it was still pending ${spokenDuration(deadlineMs)} after SendGrid took the request, so its contacts are taken as not ${batch.kind === 'upsert' ? 'delivered' : 'removed'}`;
        return { status: 'failed', counts, errorsUrl: undefined, message };
      }
      await this.throwIfCanceled();
      await this.wait(wait);
      wait = Math.min(this.poll.max, wait * 2);
    }
  }

  /**
   * Records a finished job: the ledger learns only what the destination confirmed. `stillListed`:
   * contacts of a removal that are still in the list, neither removed nor failed.
   */
  private async settle(
    batch: BatchSummary,
    state: FinalJob,
    stillListed: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    // Upserts: SentContact[]; removals: [email, contact id][]. Read only when needed: a job that
    // took every contact goes to the ledger straight from its stored checkpoint.
    let parsed: [string, ...string[]][] | undefined;
    const readContacts = async () =>
      (parsed ??= JSON.parse(await this.runs.batchContacts(batch.run_id, batch.seq)) as [
        string,
        ...string[],
      ][]);
    const reasons = new Map<string, string>();
    let unreadable: string | undefined;
    // Why a failed job failed: what its answer says, else its errors file's rows for the whole job.
    let failure = state.status === 'failed' ? state.message : undefined;
    if (state.errorsUrl && (state.status !== 'completed' || state.counts.errored > 0)) {
      const url = state.errorsUrl;
      const problems = await this.withRetries('reading the job errors', () =>
        this.opened.session.jobProblems(url),
      ).catch((error: unknown) => {
        // An errors file that cannot be read (an expired link, say) names nobody: the job's
        // refused contacts are then unnamed (below), and none of its contacts taken as done.
        if (!(error instanceof DestinationError) || error.retryable) throw error;
        unreadable = error.message;
        return [];
      });
      const inBatch = new Set((await readContacts()).map(([email]) => email));
      for (const p of problems)
        if (inBatch.has(p.email))
          reasons.set(p.email, `SendGrid refused the contact: ${p.message}`);
      if (state.status === 'failed' && failure === undefined && problems.length > 0) {
        // Rows for the whole job say why; else the contacts' own reasons (all refused) do.
        const whole = problems.filter((p) => p.email === '');
        const messages = [...new Set((whole.length > 0 ? whole : problems).map((p) => p.message))];
        failure = messages.slice(0, 3).join('; ') + (messages.length > 3 ? '; ...' : '');
      }
    }
    if (state.status === 'failed') {
      // The contacts its errors do not name fail for the job's reason.
      const message = `SendGrid's job ${batch.job_id} failed: ${failure ?? 'no reason given'}`;
      for (const [email] of await readContacts())
        if (!reasons.has(email)) reasons.set(email, message);
    }
    const at = this.now();
    const counts = state.counts;
    const jobFailed = state.status === 'failed' ? (failure ?? 'no reason given') : null;
    // SendGrid counting more refused contacts than it named (an errored job whose errors cannot
    // be read, or leave some out): which of the job's contacts it took is unknown.
    const unnamed = jobFailed === null ? Math.max(0, counts.errored - reasons.size) : 0;
    // Problems and removals need the contacts themselves (read before the transaction).
    const contacts = reasons.size > 0 || batch.kind !== 'upsert' ? await readContacts() : [];
    // Once only, and all or nothing: a job settled twice (a worker taken for dead that carried
    // on, a crash between two writes) would count its contacts twice.
    await this.ledgerWrites.run(() =>
      this.runs.settleBatch(
        batch.run_id,
        batch.seq,
        {
          status: state.status,
          created: counts.created,
          updated: counts.updated,
          errored: reasons.size + unnamed,
          message: state.status === 'failed' ? (failure ?? null) : null,
          updated_at: at,
        },
        (stores) =>
          this.recordSettlement(stores, {
            batch,
            counts,
            jobFailed,
            unnamed,
            unreadable,
            reasons,
            stillListed,
            contacts,
            at,
          }),
      ),
    );
  }

  /**
   * What a settled job did, written inside settleBatch's transaction: its failure, the contacts
   * SendGrid refused, the ledger (confirmed upserts, or removals forgotten) and the counters.
   */
  private async recordSettlement(
    { runs, ledger }: { runs: RunStore; ledger: LedgerStore },
    settled: {
      batch: BatchSummary;
      counts: { created: number; updated: number };
      /** SendGrid's message when the whole job failed, else null. */
      jobFailed: string | null;
      /** How many contacts SendGrid said it refused without naming them. */
      unnamed: number;
      /** Why the job's errors file could not be read, if it could not. */
      unreadable: string | undefined;
      /** Refused contacts: email to reason. */
      reasons: ReadonlyMap<string, string>;
      /** A removal's contacts still in the list (see checkRemoval). */
      stillListed: ReadonlySet<string>;
      contacts: readonly [string, ...string[]][];
      at: string;
    },
  ): Promise<void> {
    const { batch, counts, jobFailed, unnamed, unreadable, reasons, stillListed, contacts, at } =
      settled;
    const { exportId } = this.settings;
    const upsert = batch.kind === 'upsert';
    // The run that sent the request: this one, or an earlier one that ended before its job could
    // be settled (settleEarlierJobs), whose error keeps saying why it ended.
    const runId = batch.run_id;
    const own = runId === this.runId;
    if (jobFailed !== null && own) {
      await runs.update(runId, {
        error: `SendGrid's job ${batch.job_id} failed: ${jobFailed}`,
      });
    }
    // Not knowing which contacts those were, the run takes none of the job's as done: the
    // ledger stays as it was, so the next run sends (or removes) them all again.
    if (unnamed > 0 && own) {
      await runs.update(runId, {
        error: `SendGrid's job ${batch.job_id} refused ${unnamed} of its ${batch.contact_count} contacts without naming them${unreadable ? ` (${unreadable})` : ''}: none of them is taken as ${upsert ? 'delivered' : 'removed'}, and the next run ${upsert ? 'sends' : 'removes'} them again`,
      });
    }
    if (reasons.size > 0) {
      const keys = new Map(contacts.map(([email, , key]) => [email, key ?? null]));
      await runs.addProblems(
        runId,
        [...reasons].map(([email, reason]) => ({
          ...this.problem('failed', keys.get(email) ?? null, email, 'destination_failed', reason),
          run_id: runId,
          source: 'job',
        })),
      );
    }
    if (upsert) {
      if (jobFailed === null && unnamed === 0) {
        const refused = [...reasons.keys()];
        await ledger.confirmDelivered(exportId, { runId, seq: batch.seq }, refused, at);
      }
      await runs.addCounters(runId, { created: counts.created, updated: counts.updated }, at);
    } else {
      const removed =
        unnamed > 0
          ? []
          : contacts
              .map(([email]) => email)
              .filter((email) => !reasons.has(email) && !stillListed.has(email));
      await ledger.forgetDelivered(exportId, removed);
      await runs.addCounters(runId, { removed: removed.length }, at);
      await runs.addProblems(
        runId,
        [...stillListed].map((email) => ({
          ...this.problem(
            'warning',
            null,
            email,
            'not_removed_yet',
            'SendGrid took the removal but cannot report on it, and still shows the contact in the list: a later run removes it if it is still there',
          ),
          run_id: runId,
          source: 'job',
        })),
      );
    }
    // A run that ended counted its failed contacts then: these are added.
    if (!own && reasons.size > 0) await runs.addCounters(runId, { failed: reasons.size }, at);
  }

  // --- mirror removals ----------------------------------------------------------------------

  /**
   * Removes from the list the contacts this export delivered that no member maps to any more
   * (the ledger's leavers), but those this run planned and those another export of the list
   * still wants: their ids are looked up by email (100 at a time), then removed from the list
   * (100 at a time). A leaver SendGrid no longer knows is gone already and is simply forgotten.
   */
  private async removeLeavers(planned: EmailSet): Promise<void> {
    this.emit('removing leavers', true);
    const { limits } = this.opened.destination;
    const { exportId, listId, segmentIds, mode } = this.settings;
    const { ledger } = this.deps;
    const step = Math.min(limits.maxEmailsPerLookup, limits.maxIdsPerRemoval);
    let removals: string[] = [];
    let after = '';
    for (;;) {
      await this.throwIfCanceled();
      // Leavers are read against the segments' membership as it is now: a segment deleted since
      // the run began has none, and every contact it brought would look like a leaver.
      const refusals = await checkSegments(this.deps.members, segmentIds);
      // Another export of the list may be sending a leaver to a member of its own: its ledger
      // says so only once SendGrid confirmed it, so the removal waits until that run ended.
      const others = await this.runs.activeRunsOnList(listId, exportId);
      if (others.length > 0) {
        const names = others.map((r) => `"${r.exportName}" (run ${r.id})`).join(', ');
        refusals.push(
          `another export of the list is running (${names}), and may be sending some of the leavers to its members; a later run removes them`,
        );
      }
      if (refusals.length > 0) {
        await this.runs.update(this.runId, {
          error: `${refusals.join('; ')}: no more contacts were removed`,
        });
        return;
      }
      const page = await ledger.leaverPage(exportId, segmentIds, after, 1_000);
      const last = page.at(-1);
      if (last !== undefined) {
        after = last;
        const wanted = await ledger.wantedByOtherExports(exportId, listId, page);
        removals.push(
          ...planRemovals(mode, page, (email) => planned.has(email) || wanted.has(email)),
        );
      }
      while (removals.length >= step || (last === undefined && removals.length > 0)) {
        await this.removeChunk(removals.slice(0, step));
        removals = removals.slice(step);
      }
      if (last === undefined) return;
    }
  }

  private async removeChunk(emails: string[]): Promise<void> {
    const { exportId, listId } = this.settings;
    const { session, destination } = this.opened;
    const longest = destination.limits.maxLookupEmailLength;
    const unfindable = emails.filter((email) => email.length > longest);
    if (unfindable.length > 0) {
      // Reported once, then forgotten: a contact no lookup can find would fail every run after.
      await this.runs.addProblems(
        this.runId,
        unfindable.map((email) => ({
          ...this.problem(
            'failed',
            null,
            email,
            'not_removed',
            `not removed from the list: SendGrid looks emails up only up to ${longest} characters, and a contact is removed by its id; remove it in SendGrid`,
          ),
          source: 'job',
        })),
      );
      await this.deps.ledger.forgetDelivered(exportId, unfindable);
    }
    let lookup = emails.filter((email) => email.length <= longest);
    // A contact deleted in SendGrid between the lookup and the removal makes the removal a 404
    // ("contact IDs do not exist"): looked up again, it is gone, and the rest are removed.
    for (let attempt = 1; lookup.length > 0; attempt++) {
      const found = await this.withRetries('looking up contacts to remove', () =>
        session.findContacts(lookup),
      );
      await this.forgetGone(lookup.filter((email) => !found.has(email)));
      if (found.size === 0) return;
      const ids = [...found].map(([email, contact]) => [email, contact.id] as const);
      let jobId: string;
      try {
        ({ jobId } = await this.withRetries(`removing ${ids.length} contacts from the list`, () =>
          session.removeFromList(
            listId,
            ids.map(([, id]) => id),
          ),
        ));
      } catch (error) {
        if (attempt < 2 && error instanceof DestinationError && error.reason === 'not_found') {
          lookup = ids.map(([email]) => email);
          continue;
        }
        throw error;
      }
      const batch = this.batchRow('remove', jobId, ids.length, JSON.stringify(ids));
      await this.runs.insertBatch(batch);
      this.eta.acknowledged(batch.seq, this.nowMs());
      this.jobsTotal += 1;
      return;
    }
  }

  /**
   * Forgets the leavers SendGrid does not know: deleted there, they are gone. But SendGrid takes
   * minutes to show contacts it has just taken, so one delivered lately may just not be found
   * yet: it stays in the ledger, with a warning, and a later run removes it.
   */
  private async forgetGone(emails: string[]): Promise<void> {
    if (emails.length === 0) return;
    const { exportId } = this.settings;
    const since = new Date(this.nowMs() - RECENT_DELIVERY_MS).toISOString();
    const recent = await this.deps.ledger.deliveredSince(exportId, emails, since);
    await this.deps.ledger.forgetDelivered(
      exportId,
      emails.filter((email) => !recent.has(email)),
    );
    await this.runs.addProblems(
      this.runId,
      [...recent].map((email) =>
        this.problem(
          'warning',
          null,
          email,
          'not_found_yet',
          'not removed: SendGrid does not find the contact yet (it was delivered lately, and SendGrid can take minutes to show new contacts); a later run removes it',
        ),
      ),
    );
  }

  // --- helpers ------------------------------------------------------------------------------

  /**
   * Calls the destination, retrying as the retry policy decides. A refused key ends the run at
   * once with a message that says so; other errors are thrown once the policy gives up.
   */
  private async withRetries<T>(what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await call();
        await this.runs.addCounters(this.runId, { requests: 1 }, this.now());
        return result;
      } catch (error) {
        await this.runs.addCounters(this.runId, { requests: 1 }, this.now());
        if (error instanceof DestinationError && error.refusesKey) {
          throw new RunFailure(error.message);
        }
        const decision = decideRetry(
          error,
          attempt,
          this.nowMs(),
          () => this.deps.random(),
          this.policy,
        );
        if (!decision.retry) {
          if (error instanceof DestinationError && error.retryable) {
            throw new RunFailure(`gave up ${what} after ${attempt} attempts: ${error.message}`);
          }
          throw error;
        }
        this.deps.logger.debug(
          { runId: this.runId, attempt, delayMs: decision.delayMs, err: error },
          `retrying ${what}`,
        );
        await this.throwIfCanceled();
        await this.wait(decision.delayMs);
      }
    }
  }

  /**
   * Waits, beating the heart every few seconds so other workers know this run is alive. A worker
   * shutting down stops waiting at the next beat (a rate limit's wait can be a minute or more).
   */
  private async wait(ms: number): Promise<void> {
    for (let left = ms; left > 0; left -= HEARTBEAT_STEP_MS) {
      await this.deps.sleep(Math.min(left, HEARTBEAT_STEP_MS));
      await this.runs.update(this.runId, { heartbeat_at: this.now() });
      if (left > HEARTBEAT_STEP_MS) this.throwIfShuttingDown();
    }
  }

  private batchRow(
    kind: 'upsert' | 'remove',
    jobId: string | null,
    count: number,
    /** What the request carried, as JSON text or its UTF-8 bytes (see run_batch_contacts). */
    contacts: string | Uint8Array,
  ): BatchRow {
    return {
      run_id: this.runId,
      seq: ++this.nextSeq,
      kind,
      job_id: jobId,
      status: 'submitted',
      contact_count: count,
      contacts,
      created: 0,
      updated: 0,
      errored: 0,
      message: null,
      updated_at: this.now(),
      acknowledged_at: this.now(),
    };
  }

  private problem(
    severity: 'skipped' | 'failed' | 'warning',
    profileKey: string | null,
    email: string | null,
    code: string,
    reason: string,
  ): Problem {
    return {
      run_id: this.runId,
      severity,
      source: 'plan',
      profile_key: profileKey,
      email,
      code,
      reason,
    };
  }

  private async setStatus(to: RunStatus): Promise<void> {
    const from = this.run.status as RunStatus;
    if (from === to) return;
    const moved = await this.runs.transition(
      this.runId,
      from,
      to,
      { updated_at: this.now(), heartbeat_at: this.now() },
      this.deps.workerId,
    );
    // Not ours any more: another worker took the run over (or changed it) meanwhile.
    if (!moved) throw new RunTakenOver(`run ${this.runId} is no longer held by this worker`);
    this.run = { ...this.run, status: to };
  }

  /** Stops the run when it was canceled, given to another worker, or its worker shuts down. */
  private async throwIfCanceled(): Promise<void> {
    const { cancelRequested } = await this.throwIfTakenOver();
    if (this.stopping) return;
    if (cancelRequested) throw new RunCanceled('canceled');
    this.throwIfShuttingDown();
  }

  /** Stops the run when its worker shuts down (but not while it settles after a stop). */
  private throwIfShuttingDown(): void {
    if (this.shutdown?.aborted && !this.stopping) {
      throw new RunInterrupted('the worker is shutting down');
    }
  }

  /** Stops the run when it was given to another worker; returns what else the check read. */
  private async throwIfTakenOver(): Promise<{ cancelRequested: boolean }> {
    const control = await this.runs.control(this.runId);
    if (control.worker !== this.deps.workerId) {
      throw new RunTakenOver(`run taken over by ${control.worker}`);
    }
    return control;
  }

  private now(): string {
    return this.deps.clock.now().toISOString();
  }

  private nowMs(): number {
    return this.deps.clock.now().getTime();
  }

  /** Reports progress, at most every 200 ms unless `force` (a stage change, a request done). */
  private emit(stage: RunProgress['stage'], force = false): void {
    this.stage = stage;
    if (!this.onProgress) return;
    const now = Date.now();
    if (!force && now - this.lastProgress < 200) return;
    this.lastProgress = now;
    void this.runs.findRun(this.runId).then((run) => {
      if (run) this.onProgress?.(this.progress(run, stage));
    });
  }

  progress(run: RunRow, stage: RunProgress['stage']): RunProgress {
    const elapsed = Math.max(1, this.nowMs() - this.startedMs) / 1000;
    return {
      runId: run.id,
      status: run.status as RunStatus,
      stage,
      members: this.membersTotal,
      planned: this.plannedSoFar,
      sent: run.sent,
      batchesSent: this.batchesSent,
      jobsDone: this.jobsSettled.size,
      jobsTotal: this.jobsTotal,
      ratePerSecond: this.sentHere / elapsed,
      etaSeconds: this.etaSeconds(stage, elapsed),
    };
  }

  /**
   * Seconds left (run-eta.ts): planning what is left at the pace planned so far, then waiting on
   * SendGrid's open jobs. Unknown while removing leavers, and while a delta run plans: it reads
   * only the members that changed, and how many is known only at the end.
   */
  private etaSeconds(stage: RunProgress['stage'], elapsed: number): number | undefined {
    if (stage !== 'sending' && stage !== 'waiting for SendGrid') return undefined;
    const readsAll = this.run.full === 1 || this.ledgerEmpty;
    if (!readsAll && this.plannedSoFar < this.membersTotal) return undefined;
    return this.eta.secondsLeft(this.nowMs(), {
      left: Math.max(0, this.membersTotal - this.plannedSoFar),
      perSecond: this.plannedSoFar / elapsed,
    });
  }
}

/**
 * The contacts of a refused request that SendGrid named (`contacts[12].email`), by their index
 * in the request, each with SendGrid's complaints about it alone.
 */
function namedContacts(error: DestinationError, size: number): Map<number, string[]> {
  const named = new Map<number, string[]>();
  for (const detail of error.details) {
    const match = BATCH_INDEX.exec(detail.field ?? '');
    const index = match?.[1] === undefined ? NaN : Number(match[1]);
    if (!Number.isInteger(index) || index < 0 || index >= size) continue;
    // The field without the request's index: `first_name: must be at most 50 characters`.
    const field = (detail.field ?? '').replace(/^contacts\[\d+\]\.?/, '');
    const complaints = named.get(index) ?? [];
    complaints.push(field ? `${field}: ${detail.message}` : detail.message);
    named.set(index, complaints);
  }
  return named;
}

/** A duration as people say it: `6 hours`, `90 minutes`, `5 seconds`. */
function spokenDuration(ms: number): string {
  if (ms >= 2 * 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000} hours`;
  if (ms >= 2 * 60_000) return `${Math.round(ms / 60_000)} minutes`;
  return `${Math.round(ms / 1000)} seconds`;
}
