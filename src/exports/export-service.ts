import { assertCan, type Actor } from '../auth/permissions.js';
import type { DestinationSession, DestinationType } from '../destinations/destination.js';
import type { Clock } from '../shared/clock.js';
import {
  ConflictError,
  DestinationError,
  NotFoundError,
  ValidationError,
  type Issue,
} from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { retryingBriefly } from '../shared/brief-retry.js';
import { parseInput } from '../shared/validation.js';
import type { ContactMapping } from './contact-mapping.js';
import {
  exportDuplicateSchema,
  exportEditSchema,
  exportInputSchema,
  MAX_EXPORT_NAME,
  type ExportEdit,
  type ExportInput,
  type SyncMode,
} from './export-definition.js';
import type { ExportRecord, ExportStore } from './export-store.js';
import { EmailSet } from './email-set.js';
import { ledgerFingerprint } from './payload-hash.js';
import type { LedgerStore } from './ledger-store.js';
import { createListOnce } from './list-creation.js';
import { ExportPlanner, type MemberSource } from './planner.js';
import { checkBeforeSending, checkDestination } from './run-checks.js';
import type { RunSettings } from './run-execution.js';
import { activeStatuses, type RunStatus } from './run-states.js';
import type { ProblemRow, RunRow, RunStore } from './run-store.js';

/** What exports need to know about segments and profiles (wired in app.ts). */
export interface ExportSources extends MemberSource {
  /** The catalog's attributes with their types (`string`, `number`, `boolean`, `date`). */
  attributeTypes(): Promise<Map<string, string>>;
}

/** What exports need from connections (the ConnectionService, wired in app.ts). */
export interface ExportConnections {
  openSession(
    actor: Actor,
    id: string,
  ): Promise<{
    connection: { id: string; profile_limit: number; export_user: string };
    destination: DestinationType<never>;
    session: DestinationSession;
  }>;
}

export interface ExportView {
  id: string;
  name: string;
  connection_id: string | null;
  detached: boolean;
  list_id: string;
  mapping: ContactMapping;
  segment_ids: string[];
  mode: SyncMode;
  schedule: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** A run as every way out shows it (`--json`, the API). */
export interface RunView {
  id: string;
  export_id: string;
  status: RunStatus;
  trigger: string;
  full: boolean;
  /** Someone asked to cancel it: it stops after the request in flight. */
  cancel_requested: boolean;
  counts: {
    members: number;
    sent: number;
    created: number;
    updated: number;
    unchanged: number;
    skipped: number;
    removed: number;
    failed: number;
  };
  requests: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  /**
   * When its per-contact problems (`runs errors`) were dropped: an export keeps those of its
   * latest runs only. Null while they are kept.
   */
  problems_pruned_at: string | null;
}

export interface ExportPreview {
  members: number;
  would_upsert: number;
  unchanged: number;
  would_remove: number;
  skipped: number;
  skipped_by_reason: Record<string, number>;
  warnings: number;
  sample: unknown[];
  /** Why a run would fail now before sending anything (over the limit, say), or null. */
  would_fail: string | null;
}

export const runTriggers = ['manual', 'refresh', 'schedule'] as const;
export type RunTrigger = (typeof runTriggers)[number];

export interface ExportServiceDeps {
  exports: ExportStore;
  runs: RunStore;
  ledger: LedgerStore;
  connections: ExportConnections;
  sources: ExportSources;
  clock: Clock;
}

/** Defining, editing and removing exports, and starting, following and canceling their runs. */
export class ExportService {
  constructor(private readonly deps: ExportServiceDeps) {}

  /**
   * Saves an export after checking it against the destination: the list must exist (or is
   * created), custom fields must exist there, segments and attributes must exist here. Saving
   * does not run it. Returns warnings (segments over the connection's limit).
   */
  async add(actor: Actor, input: ExportInput): Promise<{ export: ExportView; warnings: string[] }> {
    assertCan(actor, 'exports.manage', 'define exports');
    const data = parseInput(exportInputSchema, input, 'export');
    if (await this.deps.exports.findByName(data.name)) {
      throw new ConflictError(`an export named "${data.name}" already exists`, 'export_name_taken');
    }
    const opened = await this.deps.connections.openSession(actor, data.connectionId);
    await this.checkSources(data.segmentIds, data.mapping);
    const mapping = await this.resolveMapping(opened.session, data.mapping);
    const newList = data.createList;
    const listId = newList
      ? (await createListOnce(opened.session, newList)).id
      : await this.checkList(
          opened.session,
          data.listId ?? '',
          'check the id in SendGrid, or give --create-list NAME to create a list',
        );
    const now = this.deps.clock.now().toISOString();
    const record: ExportRecord = {
      id: newId('exp', this.deps.clock),
      name: data.name,
      connection_id: data.connectionId,
      list_id: listId,
      mapping: JSON.stringify(mapping),
      mode: data.mode,
      schedule: data.schedule,
      created_by: actor.id,
      created_at: now,
      updated_at: now,
      segment_ids: data.segmentIds,
    };
    const { segment_ids: segmentIds, ...row } = record;
    await this.deps.exports.insert(row, segmentIds);
    return {
      export: toView(record),
      warnings: [
        ...(await this.typeWarnings(mapping)),
        ...(await this.saveWarnings(segmentIds, opened.connection.profile_limit)),
      ],
    };
  }

  async list(actor: Actor): Promise<ExportView[]> {
    assertCan(actor, 'exports.read', 'see exports');
    return (await this.deps.exports.list()).map(toView);
  }

  async get(actor: Actor, id: string): Promise<ExportView> {
    assertCan(actor, 'exports.read', 'see exports');
    return toView(await this.record(id));
  }

  /** Changes an export; what touches the destination is checked again. A new list resets the ledger. */
  async edit(
    actor: Actor,
    id: string,
    input: ExportEdit,
  ): Promise<{ export: ExportView; warnings: string[] }> {
    assertCan(actor, 'exports.manage', 'edit exports');
    const data = parseInput(exportEditSchema, input, 'export');
    const current = await this.record(id);
    if (
      data.name !== undefined &&
      data.name !== current.name &&
      (await this.deps.exports.findByName(data.name))
    ) {
      throw new ConflictError(`an export named "${data.name}" already exists`, 'export_name_taken');
    }
    const connectionId = data.connectionId ?? current.connection_id;
    const segmentIds = data.segmentIds ?? current.segment_ids;
    const changes: Partial<ExportRecord> = { updated_at: this.deps.clock.now().toISOString() };
    if (data.name !== undefined) changes.name = data.name;
    if (data.mode !== undefined) changes.mode = data.mode;
    if (data.schedule !== undefined) changes.schedule = data.schedule;
    const warnings: string[] = [];
    if (connectionId) {
      const opened = await this.deps.connections.openSession(actor, connectionId);
      if (data.connectionId !== undefined) changes.connection_id = data.connectionId;
      // Another connection may be another SendGrid account, another list another place: the
      // list and the custom fields (by name) are checked there as on saving. List ids are unique
      // across accounts, so a list found in another connection's account is the same list, and
      // the ledger of what reached it stays true.
      const otherConnection = connectionId !== current.connection_id;
      const listId = data.listId ?? current.list_id;
      // A new list starts a new ledger: a run still going would write its old list's deliveries
      // into it, and they would pass for contacts the export put in the new list.
      if (listId !== current.list_id) await this.refuseWhileActive(id, 'moved to another list');
      const destinationChanged = otherConnection || listId !== current.list_id;
      if (destinationChanged) {
        changes.list_id = await this.checkList(
          opened.session,
          listId,
          otherConnection
            ? 'the list must be in the SendGrid account of connection ' + connectionId
            : undefined,
        );
      }
      const mappingInput =
        data.mapping ?? (destinationChanged ? namesOf(current.mapping) : undefined);
      if (mappingInput !== undefined) {
        await this.checkSources(segmentIds, mappingInput);
        const mapping = await this.resolveMapping(opened.session, mappingInput).catch(
          (error: unknown) => {
            // The user changed the list or connection, not the fields: say it that way.
            if (data.mapping !== undefined || !(error instanceof ValidationError)) throw error;
            throw ValidationError.fromIssues(
              `export ${id} cannot move to that ${otherConnection ? 'connection' : 'list'}`,
              error.issues.map((issue) => ({
                path: '',
                message: `a custom field it fills: ${issue.message}; map its custom fields again (--map), or leave them out`,
              })),
            );
          },
        );
        changes.mapping = JSON.stringify(mapping);
        warnings.push(...(await this.typeWarnings(mapping)));
      }
      warnings.push(...(await this.saveWarnings(segmentIds, opened.connection.profile_limit)));
    } else if (data.listId !== undefined || data.mapping !== undefined) {
      throw new ConflictError(
        `export ${id} is detached: attach it to a connection (--connection) to change its list or fields`,
        'export_detached',
      );
    }
    if (data.segmentIds !== undefined) await this.checkSources(segmentIds, undefined);
    await this.deps.exports.update(id, changes, data.segmentIds);
    // The ledger says what reached the old list; for a new list, everything is new.
    if (changes.list_id !== undefined && changes.list_id !== current.list_id) {
      await this.deps.ledger.forgetAllDelivered(id);
    }
    return { export: toView(await this.record(id)), warnings };
  }

  /** A copy of an export under a new name, without its history. */
  async duplicate(actor: Actor, id: string, name?: string): Promise<ExportView> {
    assertCan(actor, 'exports.manage', 'define exports');
    const source = await this.record(id);
    const given = parseInput(exportDuplicateSchema, { name }, 'export').name;
    const copyName = given ?? (await this.freeCopyName(source.name));
    if (await this.deps.exports.findByName(copyName)) {
      throw new ConflictError(`an export named "${copyName}" already exists`, 'export_name_taken');
    }
    const now = this.deps.clock.now().toISOString();
    const { segment_ids: segmentIds, ...row } = source;
    const copy = {
      ...row,
      id: newId('exp', this.deps.clock),
      name: copyName,
      created_by: actor.id,
      created_at: now,
      updated_at: now,
    };
    await this.deps.exports.insert(copy, segmentIds);
    return toView({ ...copy, segment_ids: segmentIds });
  }

  /** Detaches an export from its connection: it keeps its configuration and does not run. */
  async detach(actor: Actor, id: string): Promise<ExportView> {
    assertCan(actor, 'exports.manage', 'detach exports');
    await this.record(id);
    await this.refuseWhileActive(id, 'detached');
    await this.deps.exports.update(id, {
      connection_id: null,
      updated_at: this.deps.clock.now().toISOString(),
    });
    return toView(await this.record(id));
  }

  /** Removes an export with its runs and ledger. The contacts stay in the SendGrid list. */
  async remove(actor: Actor, id: string): Promise<void> {
    assertCan(actor, 'exports.remove', 'remove exports');
    await this.record(id);
    await this.refuseWhileActive(id, 'removed');
    await this.deps.exports.remove(id);
  }

  /**
   * A dry run: what a run would send, keep, remove and skip, with a sample; no write anywhere.
   * It plans as a run does (planner.ts), so the two agree on every count.
   */
  async preview(actor: Actor, id: string, sampleSize = 5): Promise<ExportPreview> {
    assertCan(actor, 'exports.read', 'preview exports');
    const record = await this.record(id);
    if (!record.connection_id) throw detachedError(id);
    const opened = await this.deps.connections.openSession(actor, record.connection_id);
    const mapping = JSON.parse(record.mapping) as ContactMapping;
    const { ledger, sources } = this.deps;
    const { members, refusals } = await checkBeforeSending(
      sources,
      record.segment_ids,
      opened.connection.profile_limit,
    );
    const preview: ExportPreview = {
      members,
      would_upsert: 0,
      unchanged: 0,
      would_remove: 0,
      skipped: 0,
      skipped_by_reason: {},
      warnings: 0,
      sample: [],
      would_fail: null,
    };
    const planner = new ExportPlanner(
      {
        members: sources,
        heldByMembers: (...args) => ledger.heldByMembers(...args),
        destination: opened.destination,
      },
      {
        exportId: record.id,
        listId: record.list_id,
        mapping,
        segmentIds: record.segment_ids,
        full: false,
        ledgerEmpty: await ledger.isEmpty(record.id),
        settingsChanged: !(await ledger.usesSettings(
          record.id,
          ledgerFingerprint(mapping, record.list_id),
        )),
        membersTotal: members,
        batchSize: 2_000,
      },
      new EmailSet(),
    );
    let read = 0;
    const givenUp: { email: string; profileId: string }[] = [];
    for await (const step of planner.steps()) {
      read += step.read;
      preview.unchanged += step.unchanged;
      givenUp.push(...step.givenUp);
      for (const problem of step.problems) {
        if (problem.severity === 'warning') {
          preview.warnings += 1;
          continue;
        }
        preview.skipped += 1;
        const by = preview.skipped_by_reason;
        by[problem.code] = (by[problem.code] ?? 0) + 1;
      }
      for (const request of step.requests) {
        preview.would_upsert += request.count;
        for (let i = 0; i < request.count && preview.sample.length < sampleSize; i++) {
          preview.sample.push(JSON.parse(request.payload(i)));
        }
        request.release();
      }
    }
    // Members the ledger holds at their current version are not read: unchanged, as in a run.
    preview.unchanged += Math.max(0, members - read);
    if (record.mode === 'mirror') {
      // A run cannot look up (so cannot remove) an email longer than the destination searches:
      // it reports such a leaver as not removed, so it is not counted here.
      const longest = opened.destination.limits.maxLookupEmailLength;
      preview.would_remove = await ledger.countRemovals(
        record.id,
        record.list_id,
        record.segment_ids,
        givenUp,
        { has: (email) => planner.planned.has(email) || email.length > longest },
      );
    }
    refusals.push(...(await this.destinationRefusals(opened.session, record.list_id, mapping)));
    preview.would_fail = refusals.length > 0 ? refusals.join('; ') : null;
    return preview;
  }

  /**
   * What SendGrid would refuse a run at once (run-checks.ts checkDestination), read without writing
   * anything, and the connection's key (revoked, or without the permissions exports need).
   * Other failures (SendGrid unreachable) are thrown: a run would wait them out, so they are not
   * what would make it fail, and the preview cannot tell.
   */
  private async destinationRefusals(
    session: DestinationSession,
    listId: string,
    mapping: ContactMapping,
  ): Promise<string[]> {
    try {
      const { refusals } = await checkDestination(session, listId, mapping, (_what, request) =>
        retryingBriefly(request),
      );
      return refusals;
    } catch (error) {
      if (error instanceof DestinationError && error.refusesKey) return [error.message];
      throw error;
    }
  }

  /** Queues a run of an export; a worker (or `--wait`) executes it. */
  async startRun(
    actor: Actor,
    id: string,
    options: { trigger: RunTrigger; full?: boolean },
  ): Promise<RunView> {
    assertCan(actor, 'exports.run', 'run exports');
    const record = await this.record(id);
    if (!record.connection_id) throw detachedError(id);
    const now = this.deps.clock.now().toISOString();
    const run: RunRow = {
      id: newId('run', this.deps.clock),
      export_id: id,
      status: 'queued',
      trigger: options.trigger,
      full: options.full ? 1 : 0,
      settings: null,
      members: 0,
      sent: 0,
      created: 0,
      updated: 0,
      unchanged: 0,
      skipped: 0,
      removed: 0,
      failed: 0,
      requests: 0,
      error: null,
      worker: null,
      heartbeat_at: null,
      cancel_requested: 0,
      created_at: now,
      started_at: null,
      finished_at: null,
      updated_at: now,
      problems_pruned_at: null,
    };
    if (!(await this.deps.runs.insertRun(run))) {
      const active = await this.findActiveRun(id);
      const what = active
        ? `run ${active.id} ${active.status === 'queued' ? 'queued' : 'in progress'}`
        : 'a run in progress';
      const hint =
        active?.status === 'queued'
          ? `a worker (\`segsync worker\` or \`serve\`) executes it, \`exports run ${id} --wait\` resumes it here, \`segsync runs cancel ${active.id}\` cancels it`
          : 'wait for it to end, or cancel it; a run whose process died on this machine is resumed at once by the next `segsync worker` or `exports run --wait`, one whose worker elsewhere stopped once its heartbeat is two minutes old';
      throw new ConflictError(`export ${id} already has ${what}: ${hint}`, 'run_in_progress');
    }
    return toRunView(run);
  }

  /** The export's run that is queued or going, if any. */
  async activeRun(actor: Actor, exportId: string): Promise<RunView | undefined> {
    assertCan(actor, 'exports.read', 'see runs');
    return this.findActiveRun(exportId);
  }

  /** The settings a run starts with: the export's configuration at that moment. */
  async settingsForRun(run: RunRow): Promise<RunSettings> {
    const record = await this.record(run.export_id);
    if (!record.connection_id) throw detachedError(record.id);
    const exportUser = await this.exportUser(record.connection_id);
    const opened = await this.deps.connections.openSession(exportUser, record.connection_id);
    return {
      exportId: record.id,
      connectionId: record.connection_id,
      listId: record.list_id,
      mapping: JSON.parse(record.mapping) as ContactMapping,
      mode: record.mode as SyncMode,
      segmentIds: record.segment_ids,
      profileLimit: opened.connection.profile_limit,
    };
  }

  /** Runs act as the connection's export user (the administrator who connected it). */
  async exportUser(connectionId: string): Promise<Actor> {
    const system: Actor = { id: 'system', name: 'segsync', role: 'admin' };
    const { connection } = await this.deps.connections.openSession(system, connectionId);
    return { id: connection.export_user, name: connection.export_user, role: 'admin' };
  }

  async listRuns(actor: Actor, exportId?: string, limit = 50): Promise<RunView[]> {
    assertCan(actor, 'exports.read', 'see runs');
    if (exportId !== undefined) await this.record(exportId);
    return (await this.deps.runs.listRuns({ exportId, limit })).map(toRunView);
  }

  async getRun(actor: Actor, runId: string): Promise<RunView> {
    assertCan(actor, 'exports.read', 'see runs');
    return toRunView(await this.runRow(runId));
  }

  /**
   * Cancels a run: a running one after the request in flight; a queued one at once, unless an
   * execution that stopped (its process died) left requests SendGrid acknowledged: that one stays
   * queued, cancel requested, until a worker (or followRun) settles them and ends it canceled,
   * so its counts and the ledger still say what reached the list.
   */
  async cancelRun(actor: Actor, runId: string): Promise<RunView> {
    assertCan(actor, 'exports.run', 'cancel runs');
    await this.runRow(runId);
    if (!(await this.deps.runs.requestCancel(runId))) {
      const ended = await this.runRow(runId);
      throw new ConflictError(`run ${runId} has already ended (${ended.status})`, 'run_ended');
    }
    const { status } = await this.runRow(runId);
    if (status === 'queued' && !(await this.deps.runs.hasUnsettledRequests(runId))) {
      const now = this.deps.clock.now().toISOString();
      await this.deps.runs.transition(runId, 'queued', 'canceled', {
        finished_at: now,
        updated_at: now,
      });
    }
    return toRunView(await this.runRow(runId));
  }

  /** The contacts a run skipped, or that the destination refused, with reasons. */
  async runProblems(actor: Actor, runId: string): Promise<ProblemRow[]> {
    assertCan(actor, 'exports.read', 'see runs');
    await this.runRow(runId);
    return this.deps.runs.problems(runId);
  }

  private async runRow(runId: string): Promise<RunRow> {
    const run = await this.deps.runs.findRun(runId);
    if (!run) throw new NotFoundError('run', runId);
    return run;
  }

  private async record(id: string): Promise<ExportRecord> {
    const record = await this.deps.exports.find(id);
    if (!record) throw new NotFoundError('export', id);
    return record;
  }

  private async findActiveRun(exportId: string): Promise<RunView | undefined> {
    const [active] = await this.deps.runs.listRuns({
      exportId,
      statuses: activeStatuses,
      limit: 1,
    });
    return active && toRunView(active);
  }

  private async refuseWhileActive(id: string, what: string): Promise<void> {
    const active = await this.findActiveRun(id);
    if (active) {
      throw new ConflictError(
        `export ${id} cannot be ${what} while run ${active.id} is ${active.status}; cancel it first`,
        'run_in_progress',
      );
    }
  }

  private async checkList(
    session: DestinationSession,
    listId: string,
    hint = 'check the id in SendGrid',
  ): Promise<string> {
    const list = await retryingBriefly(() => session.getList(listId));
    if (!list) {
      throw new NotFoundError(
        'list',
        listId,
        `SendGrid has no list ${listId} in this account (${hint})`,
      );
    }
    return list.id;
  }

  private async checkSources(
    segmentIds: readonly string[],
    mapping: ExportInput['mapping'] | undefined,
  ): Promise<void> {
    const missing = await this.deps.sources.missingSegments(segmentIds);
    if (missing.length > 0) {
      throw new NotFoundError(
        'segment',
        missing.join(', '),
        `${missing.length === 1 ? 'segment' : 'segments'} ${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist (see \`segsync segments list\`)`,
      );
    }
    const issues: Issue[] = [];
    if (mapping) {
      const known = await this.deps.sources.attributeTypes();
      const check = (path: string, attribute: string) => {
        if (!known.has(attribute))
          issues.push({ path, message: `unknown profile attribute "${attribute}"` });
      };
      check('mapping.email', mapping.email);
      for (const [field, attribute] of Object.entries(mapping.fields ?? {}))
        if (attribute) check(`mapping.fields.${field}`, attribute);
      for (const [field, attribute] of Object.entries(mapping.customFields ?? {}))
        check(`mapping.customFields.${field}`, attribute);
    }
    if (issues.length > 0) throw ValidationError.fromIssues('invalid export', issues);
  }

  /** Resolves custom field names to the destination's field ids; unknown names are errors. */
  private async resolveMapping(
    session: DestinationSession,
    mapping: ExportInput['mapping'],
  ): Promise<ContactMapping> {
    const custom = Object.entries(mapping.customFields ?? {});
    const resolved: ContactMapping['customFields'][number][] = [];
    if (custom.length > 0) {
      const fields = await retryingBriefly(() => session.listFields());
      const issues: Issue[] = [];
      for (const [name, attribute] of custom) {
        // SendGrid's field names are unique regardless of case: `custom:Tier` fills `tier`.
        const lower = name.toLowerCase();
        const field = fields.find((f) => f.name.toLowerCase() === lower);
        if (!field) {
          issues.push({
            path: `mapping.customFields.${name}`,
            message: `SendGrid has no custom field named "${name}"${fields.length > 0 ? ` (it has: ${fields.map((f) => f.name).join(', ')})` : ' (it has none)'}`,
          });
          continue;
        }
        if (resolved.some((r) => r.id === field.id)) {
          issues.push({
            path: `mapping.customFields.${name}`,
            message: `the custom field "${field.name}" is mapped more than once`,
          });
          continue;
        }
        resolved.push({ name: field.name, id: field.id, type: field.type, attribute });
      }
      if (issues.length > 0) throw ValidationError.fromIssues('invalid export', issues);
    }
    const fields: Record<string, string> = {};
    for (const [field, attribute] of Object.entries(mapping.fields ?? {}))
      if (attribute) fields[field] = attribute;
    return { email: mapping.email, fields, customFields: resolved };
  }

  /**
   * Custom number and date fields filled from attributes of another type: the values that are
   * not numbers (or dates) will be left out of the contacts, each with a warning, when sent.
   */
  private async typeWarnings(mapping: ContactMapping): Promise<string[]> {
    if (mapping.customFields.length === 0) return [];
    const types = await this.deps.sources.attributeTypes();
    const warnings: string[] = [];
    for (const field of mapping.customFields) {
      const type = types.get(field.attribute);
      if (field.type === 'text' || type === undefined || type === field.type) continue;
      warnings.push(
        `custom field ${field.name} is a ${field.type} field, but attribute "${field.attribute}" holds ${type === 'string' ? 'text' : `${type}s`}: values that are not ${field.type}s will be left out of the contacts (each with a warning)`,
      );
    }
    return warnings;
  }

  /** What would make the export's runs fail before sending anything, as warnings on saving. */
  private async saveWarnings(segmentIds: readonly string[], limit: number): Promise<string[]> {
    const { refusals } = await checkBeforeSending(this.deps.sources, segmentIds, limit);
    return refusals.map((refusal) => `${refusal}; runs will fail until then`);
  }

  private async freeCopyName(name: string): Promise<string> {
    for (let n = 1; ; n++) {
      const suffix = n === 1 ? ' (copy)' : ` (copy ${n})`;
      // Within the longest name an export may have: a long name is shortened to fit the suffix.
      const candidate = `${name.slice(0, MAX_EXPORT_NAME - suffix.length).trimEnd()}${suffix}`;
      if (!(await this.deps.exports.findByName(candidate))) return candidate;
    }
  }
}

function detachedError(id: string): ConflictError {
  return new ConflictError(
    `export ${id} is detached from its connection and does not run; attach it with \`exports edit ${id} --connection ID\``,
    'export_detached',
  );
}

function toView(record: ExportRecord): ExportView {
  return {
    id: record.id,
    name: record.name,
    connection_id: record.connection_id,
    detached: record.connection_id === null,
    list_id: record.list_id,
    mapping: JSON.parse(record.mapping) as ContactMapping,
    segment_ids: record.segment_ids,
    mode: record.mode as SyncMode,
    schedule: record.schedule,
    created_by: record.created_by,
    created_at: record.created_at,
    updated_at: record.updated_at,
  };
}

export function toRunView(run: RunRow): RunView {
  return {
    id: run.id,
    export_id: run.export_id,
    status: run.status as RunStatus,
    trigger: run.trigger,
    full: run.full === 1,
    cancel_requested: run.cancel_requested === 1,
    counts: {
      members: run.members,
      sent: run.sent,
      created: run.created,
      updated: run.updated,
      unchanged: run.unchanged,
      skipped: run.skipped,
      removed: run.removed,
      failed: run.failed,
    },
    requests: run.requests,
    created_at: run.created_at,
    started_at: run.started_at,
    finished_at: run.finished_at,
    error: run.error,
    problems_pruned_at: run.problems_pruned_at,
  };
}

/** A stored mapping as its input: custom fields by name, resolved again (in another account). */
function namesOf(stored: string): ExportInput['mapping'] {
  const mapping = JSON.parse(stored) as ContactMapping;
  return {
    email: mapping.email,
    fields: { ...mapping.fields },
    customFields: Object.fromEntries(mapping.customFields.map((c) => [c.name, c.attribute])),
  };
}
