import { z } from 'zod';
import type { AttributeType } from '../profiles/attributes.js';
import type { ProfileStore } from '../profiles/profile-store.js';
import { isoNow, type Clock } from '../shared/clock.js';
import { ConflictError, NotFoundError, ValidationError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { displayName, parseInput } from '../shared/validation.js';
import { compileRule } from './compile.js';
import type { Rule, RuleNode } from './rule.js';
import type { MemberProfile, RefreshRecord, Segment, SegmentStore } from './segment-store.js';
import { resolveRule, type ResolvedRule } from './validate.js';

/** Something that uses a segment and keeps it from being deleted (an export, say). */
export interface SegmentUser {
  id: string;
  name: string;
  /** A run of the export that took the segment, when only that run still sends it. */
  runId?: string;
}

/**
 * Who uses a segment. The export engine provides the real check (app.ts wires it); until then no
 * one does. A segment with users cannot be deleted, and the refusal names them.
 */
export type SegmentUsersCheck = (segmentId: string) => Promise<SegmentUser[]>;

/** A new segment, as the CLI and the API receive it. */
export const segmentInputSchema = z.object({
  name: displayName(200),
  description: z.string().max(2000, { message: 'expected at most 2000 characters' }).default(''),
  rule: z.unknown(),
});
export type SegmentInput = z.input<typeof segmentInputSchema>;

/** Changes to a segment; what is left out stays. */
export const segmentUpdateSchema = segmentInputSchema.partial();
export type SegmentUpdate = z.input<typeof segmentUpdateSchema>;

export interface RefreshResult {
  id: string;
  count: number;
  refreshedAt: string;
  durationMs: number;
}

export interface PreviewResult {
  count: number;
  /** Up to SAMPLE_SIZE matching profiles, in profile-id order. */
  sample: MemberProfile[];
}

export const SAMPLE_SIZE = 100;

/**
 * Segments: define them (rules checked against the attribute catalog), preview, refresh (store
 * the membership and a history point), delete, and hand members to exports.
 */
export class SegmentService {
  private readonly segmentUsers: SegmentUsersCheck;

  constructor(
    private readonly store: SegmentStore,
    private readonly profiles: ProfileStore,
    private readonly clock: Clock,
    options: { segmentUsers?: SegmentUsersCheck } = {},
  ) {
    this.segmentUsers = options.segmentUsers ?? (() => Promise.resolve([]));
  }

  /** Creates a segment; the name must be unused. Throws ValidationError for a bad rule. */
  async create(input: SegmentInput): Promise<Segment> {
    const parsed = parseInput(segmentInputSchema, input, 'segment');
    const { rule } = await this.resolve(parsed.rule);
    if (await this.store.getByName(parsed.name)) {
      throw new ConflictError(
        `a segment named "${parsed.name}" already exists`,
        'segment_name_taken',
      );
    }
    const now = isoNow(this.clock);
    const segment: Segment = {
      id: newId('seg', this.clock),
      name: parsed.name,
      description: parsed.description,
      rule,
      createdAt: now,
      updatedAt: now,
      memberCount: null,
      refreshedAt: null,
      refreshMs: null,
    };
    await this.store.insert(segment);
    return segment;
  }

  /** Changes a segment's name, description or rule; a rule referring back to it is refused. */
  async update(id: string, input: SegmentUpdate): Promise<Segment> {
    const current = await this.get(id);
    const parsed = parseInput(segmentUpdateSchema, input, 'segment');
    const rule =
      parsed.rule === undefined ? current.rule : (await this.resolve(parsed.rule, id)).rule;
    const name = parsed.name ?? current.name;
    const other = await this.store.getByName(name);
    if (other && other.id !== id) {
      throw new ConflictError(`a segment named "${name}" already exists`, 'segment_name_taken');
    }
    const updatedAt = isoNow(this.clock);
    const description = parsed.description ?? current.description;
    await this.store.update(id, { name, description, rule, updatedAt });
    return { ...current, name, description, rule, updatedAt };
  }

  async get(id: string): Promise<Segment> {
    const segment = await this.store.get(id);
    if (!segment) throw new NotFoundError('segment', id);
    return segment;
  }

  list(): Promise<Segment[]> {
    return this.store.list();
  }

  /**
   * Deletes a segment with its membership and history. Refused (ConflictError) while an export
   * uses it or another segment's rule refers to it; the message names them.
   */
  async delete(id: string): Promise<void> {
    await this.get(id);
    const users = await this.segmentUsers(id);
    const definitions = users.filter((u) => u.runId === undefined);
    const runs = users.filter((u) => u.runId !== undefined);
    if (definitions.length > 0) {
      throw new ConflictError(
        `segment ${id} is used by ${definitions.length === 1 ? 'export' : 'exports'} ${definitions.map((u) => `"${u.name}" (${u.id})`).join(', ')}; change or delete ${definitions.length === 1 ? 'it' : 'them'} first`,
        'segment_in_use',
      );
    }
    if (runs.length > 0) {
      // The run sends the members it took, and a mirror run keeps in the list only contacts
      // still in its segments: without the segment it could not tell which to keep.
      throw new ConflictError(
        `segment ${id} is still sent by ${runs.length === 1 ? 'a run' : 'runs'} that took it before ${runs.length === 1 ? 'its export' : 'their exports'} stopped sending it: ${runs.map((u) => `${u.runId} of "${u.name}"`).join(', ')}; let ${runs.length === 1 ? 'it' : 'them'} end, or cancel ${runs.length === 1 ? 'it' : 'them'} (\`segsync runs cancel RUN\`)`,
        'segment_in_use',
      );
    }
    const referencing = (await this.store.mentioning(id)).filter((s) => refersTo(s.rule, id));
    if (referencing.length > 0) {
      throw new ConflictError(
        `segment ${id} is part of ${referencing.map((s) => `"${s.name}" (${s.id})`).join(', ')}; change ${referencing.length === 1 ? 'that segment' : 'those segments'} first`,
        'segment_referenced',
      );
    }
    await this.store.delete(id);
  }

  /** How many profiles a rule matches now, and the first SAMPLE_SIZE of them; nothing is saved. */
  async preview(rule: unknown): Promise<PreviewResult> {
    const { resolved } = await this.resolve(rule);
    return this.store.preview(this.compile(resolved), SAMPLE_SIZE);
  }

  /**
   * Recomputes a segment's membership from its rule (segment references are evaluated live, not
   * from their stored membership) and records the count, time and duration in its history.
   */
  async refresh(id: string): Promise<RefreshResult> {
    const segment = await this.get(id);
    const { resolved } = await this.resolve(segment.rule, id);
    const record = await this.store.refresh(
      id,
      this.compile(resolved),
      isoNow(this.clock),
      newId('sref', this.clock),
    );
    return {
      id,
      count: record.memberCount,
      refreshedAt: record.refreshedAt,
      durationMs: record.durationMs,
    };
  }

  /** Refreshes every segment, one after another, in name order. */
  async refreshAll(): Promise<RefreshResult[]> {
    const results: RefreshResult[] = [];
    for (const segment of await this.store.list()) results.push(await this.refresh(segment.id));
    return results;
  }

  /** The segment's member counts over time, newest first. */
  async history(id: string, limit = 100): Promise<RefreshRecord[]> {
    await this.get(id);
    return this.store.history(id, limit);
  }

  /**
   * For exports: the members of the union of `segmentIds` as stored by each segment's last
   * refresh (a never-refreshed segment has none), each profile once, ordered by profile id, in
   * batches of at most `batchSize` (default 1000). Memory stays flat whatever the segment sizes.
   * Throws NotFoundError for an unknown segment before yielding anything.
   */
  async *iterateMembers(
    segmentIds: readonly string[],
    options: { batchSize?: number } = {},
  ): AsyncGenerator<MemberProfile[]> {
    const batchSize = options.batchSize ?? 1000;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw ValidationError.fromIssues('invalid batch size', [
        { path: 'batchSize', message: 'expected a whole number from 1 to 10000' },
      ]);
    }
    const ids = [...new Set(segmentIds)];
    for (const id of ids) await this.get(id);
    yield* this.store.iterateMembers(ids, batchSize);
  }

  /** For exports: how many distinct profiles the union of `segmentIds` stored at its last refresh. */
  async countMembers(segmentIds: readonly string[]): Promise<number> {
    const ids = [...new Set(segmentIds)];
    for (const id of ids) await this.get(id);
    return this.store.countMembers(ids);
  }

  /** Checks a rule against today's catalog and segments; see validate.ts. */
  async resolve(rule: unknown, self?: string): Promise<{ rule: Rule; resolved: ResolvedRule }> {
    const attributes = new Map<string, AttributeType>(
      (await this.profiles.attributes()).map((a) => [a.name, a.type]),
    );
    return resolveRule(rule, {
      attributes,
      self,
      segmentRule: async (id) => (await this.store.get(id))?.rule,
    });
  }

  private compile(resolved: ResolvedRule) {
    return compileRule(resolved, { dialect: this.store.dialect, now: this.clock.now() });
  }
}

function refersTo(node: RuleNode, id: string): boolean {
  if ('all' in node) return node.all.some((item) => refersTo(item, id));
  if ('any' in node) return node.any.some((item) => refersTo(item, id));
  if ('not' in node) return refersTo(node.not, id);
  if ('segment' in node) return node.segment === id;
  return false;
}
