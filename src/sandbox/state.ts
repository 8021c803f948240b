import { randomUUID, randomFillSync } from 'node:crypto';
import type { ContactFields, CustomValues, UpsertRequest } from './contacts.js';
import { isCalendarDateText } from '../shared/calendar.js';

/**
 * The sandbox's account: contacts, lists, custom field definitions and import jobs, held in
 * memory and shaped for size (a million contacts must fit well under a gigabyte):
 * - a contact is a small fixed-shape object numbered by its position in one array; its id is not
 *   stored but derived from that number (see ContactIds), so there is no id string and no second
 *   map per contact;
 * - its times are small integers indexing a table of the distinct instants jobs ran at (one per
 *   job), rather than a boxed number each;
 * - list membership lives in one Set of contact numbers per list rather than on each contact, and
 *   a contact's `list_ids` are computed when it is read.
 */

export type FieldType = 'Text' | 'Number' | 'Date';

export interface FieldDefinition {
  id: string;
  name: string;
  field_type: FieldType;
}

export class StoredContact {
  constructor(
    /** Position in SandboxState.contacts; the contact's id derives from it. */
    readonly index: number,
    /** The identity it is found by (see identityKey). */
    readonly key: string,
    public fields: ContactFields,
    public custom: CustomValues | undefined,
    /** When it was created and last updated, as SandboxState.timeAt indices. */
    public created: number,
    public updated: number,
  ) {}
}

export interface StoredList {
  id: string;
  name: string;
  createdAt: number;
  /** The contacts on the list, by StoredContact.index, in the order they were added. */
  members: Set<number>;
}

export type JobStatus = 'pending' | 'completed' | 'errored' | 'failed';

export interface RowError {
  /** Position of the contact in the request, or -1 for a job-level failure. */
  index: number;
  identifier: string;
  field: string;
  message: string;
}

export interface Job {
  id: string;
  type: 'upsert' | 'delete';
  status: JobStatus;
  startedAt: number;
  finishedAt: number | undefined;
  requested: number;
  created: number;
  updated: number;
  deleted: number;
  errored: number;
  /** Its errors file's rows; a `failed` job's reason is one for the whole job (index -1). */
  errors: RowError[];
  /** What the job will do, kept only until it has run. */
  work:
    | { kind: 'upsert'; request: UpsertRequest }
    | { kind: 'remove'; listId: string; contactIds: string[] }
    | undefined;
}

/** The reserved fields `GET /v3/marketing/field_definitions` lists, as SendGrid names them. */
export const reservedFieldDefinitions: readonly {
  name: string;
  field_type: FieldType;
  read_only: boolean;
}[] = [
  { name: 'first_name', field_type: 'Text', read_only: false },
  { name: 'last_name', field_type: 'Text', read_only: false },
  { name: 'email', field_type: 'Text', read_only: false },
  { name: 'alternate_emails', field_type: 'Text', read_only: false },
  { name: 'address_line_1', field_type: 'Text', read_only: false },
  { name: 'address_line_2', field_type: 'Text', read_only: false },
  { name: 'city', field_type: 'Text', read_only: false },
  { name: 'state_province_region', field_type: 'Text', read_only: false },
  { name: 'postal_code', field_type: 'Text', read_only: false },
  { name: 'country', field_type: 'Text', read_only: false },
  { name: 'phone_number_id', field_type: 'Text', read_only: false },
  { name: 'external_id', field_type: 'Text', read_only: false },
  { name: 'anonymous_id', field_type: 'Text', read_only: false },
  { name: 'created_at', field_type: 'Date', read_only: true },
  { name: 'updated_at', field_type: 'Date', read_only: true },
  { name: 'contact_id', field_type: 'Text', read_only: true },
];

/** SendGrid's account limits that the sandbox enforces. */
export const limits = { lists: 1000, customFields: 500 } as const;

const NUMERIC = /^-?\d+(\.\d+)?$/;
const DATE = /^(\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?|\d{1,2}\/\d{1,2}\/\d{4})$/;

const HALF = 0x1000000; // contact numbers are enciphered as two 24-bit halves
const HEX12 = /^[0-9a-f]{12}$/;

/** How one account's contact ids are made: a random UUID prefix and the keys of a cipher. */
export interface ContactIdScheme {
  /** The first 24 characters of every id (`xxxxxxxx-xxxx-4xxx-yxxx-`). */
  prefix: string;
  /** Round keys of the 48-bit Feistel cipher that turns a contact number into the id's tail. */
  keys: number[];
}

/**
 * Contact ids as SendGrid shows them (36-character version 4 UUIDs), derived from the contact's
 * number instead of stored: the account's random prefix, then 12 hex digits enciphering the
 * number with a keyed permutation, so ids look random, never repeat, and map back to the number
 * without a lookup table. A reset draws a new scheme, so an old id never finds a new contact.
 */
export class ContactIds {
  constructor(readonly scheme: ContactIdScheme) {}

  static random(): ContactIds {
    const keys = randomFillSync(new Uint32Array(4));
    return new ContactIds({ prefix: randomUUID().slice(0, 24), keys: [...keys] });
  }

  /** The id of contact number `index`. */
  format(index: number): string {
    let left = Math.floor(index / HALF) % HALF;
    let right = index % HALF;
    for (const key of this.scheme.keys) {
      const next = left ^ mix(right, key);
      left = right;
      right = next;
    }
    return this.scheme.prefix + hex6(left) + hex6(right);
  }

  /** The contact number `id` names, or -1 when it is not an id of this scheme. */
  parse(id: string): number {
    if (id.length !== 36 || !id.startsWith(this.scheme.prefix)) return -1;
    const tail = id.slice(24);
    if (!HEX12.test(tail)) return -1;
    let left = parseInt(tail.slice(0, 6), 16);
    let right = parseInt(tail.slice(6), 16);
    const keys = this.scheme.keys;
    for (let i = keys.length - 1; i >= 0; i--) {
      const previous = right ^ mix(left, keys[i] ?? 0);
      right = left;
      left = previous;
    }
    return left * HALF + right;
  }
}

function mix(value: number, key: number): number {
  let h = Math.imul(value ^ key, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h & (HALF - 1);
}

function hex6(value: number): string {
  return (value + HALF).toString(16).slice(1);
}

/** The contacts by id, as a read-only map-like view (ids are derived, not stored). */
export class ContactsById {
  constructor(private readonly state: SandboxState) {}

  get size(): number {
    return this.state.contacts.length;
  }

  get(id: string): StoredContact | undefined {
    return this.state.contactById(id);
  }

  has(id: string): boolean {
    return this.state.contactById(id) !== undefined;
  }
}

export class SandboxState {
  /** Every contact, numbered by position (contacts are never deleted, only reset). */
  readonly contacts: StoredContact[] = [];
  readonly contactsByKey = new Map<string, StoredContact>();
  readonly contactsById = new ContactsById(this);
  // Alternate emails found by search/emails, to contact numbers; entries are checked against the
  // contact on read.
  readonly alternateEmails = new Map<string, number>();
  readonly lists = new Map<string, StoredList>();
  readonly fields = new Map<string, FieldDefinition>();
  readonly jobs = new Map<string, Job>();
  private readonly pending: Job[] = [];
  private fieldCounter = 0;
  private ids = ContactIds.random();
  // Ids of restored contacts that the current scheme does not produce (state files written
  // before the scheme was saved), both ways.
  private readonly restoredIds = new Map<number, string>();
  private readonly restoredIndex = new Map<string, number>();
  // The distinct instants contacts were created or updated at; contacts hold indices into it.
  private readonly times: number[] = [];
  private readonly timeIndex = new Map<number, number>();
  /** Bumped on every change; the persistence layer saves when it moves. */
  revision = 0;

  constructor(private readonly options: { contactCap?: number | undefined } = {}) {}

  // ---- lists -------------------------------------------------------------------------------

  createList(name: string, now: number): StoredList {
    const list: StoredList = { id: randomUUID(), name, createdAt: now, members: new Set() };
    this.lists.set(list.id, list);
    this.revision++;
    return list;
  }

  /** Deletes a list; its contacts stay in the account (SendGrid's `delete_contacts=false`). */
  deleteList(id: string): boolean {
    const deleted = this.lists.delete(id);
    if (deleted) this.revision++;
    return deleted;
  }

  renameList(list: StoredList, name: string): void {
    list.name = name;
    this.revision++;
  }

  findListByName(name: string): StoredList | undefined {
    for (const list of this.lists.values()) if (list.name === name) return list;
    return undefined;
  }

  /** The ids of the lists holding `contact`, computed on read (there are at most 1000 lists). */
  listIdsOf(contact: StoredContact): string[] {
    const out: string[] = [];
    for (const list of this.lists.values()) if (list.members.has(contact.index)) out.push(list.id);
    return out;
  }

  // ---- custom fields -----------------------------------------------------------------------

  createField(name: string, fieldType: FieldType): FieldDefinition {
    this.fieldCounter++;
    const field: FieldDefinition = {
      id: `e${this.fieldCounter}_${fieldType.charAt(0)}`,
      name,
      field_type: fieldType,
    };
    this.fields.set(field.id, field);
    this.revision++;
    return field;
  }

  /** Whether `name` is free for a custom field (names are unique regardless of case). */
  fieldNameFree(name: string, except?: string): boolean {
    const lower = name.toLowerCase();
    return (
      !reservedFieldDefinitions.some((f) => f.name.toLowerCase() === lower) &&
      ![...this.fields.values()].some((f) => f.id !== except && f.name.toLowerCase() === lower)
    );
  }

  renameField(field: FieldDefinition, name: string): void {
    field.name = name;
    this.revision++;
  }

  /**
   * Deletes a custom field and the values contacts held in it, as SendGrid does. Its id is never
   * handed out again (fieldCounter), so an upsert naming it is refused from now on.
   */
  deleteField(id: string): boolean {
    if (!this.fields.delete(id)) return false;
    for (const contact of this.contacts) {
      if (contact.custom && id in contact.custom) {
        const rest = { ...contact.custom };
        delete rest[id];
        contact.custom = Object.keys(rest).length > 0 ? rest : undefined;
      }
    }
    this.revision++;
    return true;
  }

  // ---- contacts ----------------------------------------------------------------------------

  /** The id SendGrid shows for `contact`. */
  idOf(contact: StoredContact): string {
    if (this.restoredIds.size > 0) {
      const restored = this.restoredIds.get(contact.index);
      if (restored !== undefined) return restored;
    }
    return this.ids.format(contact.index);
  }

  /** The contact whose id is exactly `id`. */
  contactById(id: string): StoredContact | undefined {
    let index = this.restoredIndex.size > 0 ? (this.restoredIndex.get(id) ?? -1) : -1;
    if (index < 0) {
      index = this.ids.parse(id);
      // A restored contact keeps its restored id: the scheme's id for its number names nothing.
      if (index >= 0 && this.restoredIds.has(index)) return undefined;
    }
    return index >= 0 ? this.contacts[index] : undefined;
  }

  /** The epoch milliseconds of time index `time` (StoredContact.created/updated). */
  timeAt(time: number): number {
    return this.times[time] ?? 0;
  }

  private timeOf(now: number): number {
    let time = this.timeIndex.get(now);
    if (time === undefined) {
      time = this.times.length;
      this.times.push(now);
      this.timeIndex.set(now, time);
    }
    return time;
  }

  /** The contact whose primary or alternate email is `email` (any case). */
  findByEmail(email: string): StoredContact | undefined {
    const lower = email.toLowerCase();
    const primary = this.contactsByKey.get(lower);
    if (primary) return primary;
    const index = this.alternateEmails.get(lower);
    const contact = index === undefined ? undefined : this.contacts[index];
    const alternates = contact?.fields.alternate_emails;
    return Array.isArray(alternates) && alternates.includes(lower) ? contact : undefined;
  }

  // ---- jobs --------------------------------------------------------------------------------

  /** Queues an upsert; it changes nothing until `runThrough` reaches it. */
  submitUpsert(request: UpsertRequest, now: number): Job {
    return this.enqueue('upsert', request.keys.length, now, { kind: 'upsert', request });
  }

  /** Queues the removal of `contactIds` from a list (never deleting the contacts themselves). */
  submitRemoval(listId: string, contactIds: string[], now: number): Job {
    return this.enqueue('delete', contactIds.length, now, { kind: 'remove', listId, contactIds });
  }

  private enqueue(type: Job['type'], requested: number, now: number, work: Job['work']): Job {
    const job: Job = {
      id: randomUUID(),
      type,
      status: 'pending',
      startedAt: now,
      finishedAt: undefined,
      requested,
      created: 0,
      updated: 0,
      deleted: 0,
      errored: 0,
      errors: [],
      work,
    };
    this.jobs.set(job.id, job);
    this.pending.push(job);
    return job;
  }

  /** Runs queued jobs in submission order up to and including `jobId` (all when absent). */
  runThrough(now: number, jobId?: string): void {
    while (this.pending.length > 0) {
      const job = this.pending.shift();
      if (!job) break;
      this.run(job, now);
      if (job.id === jobId) break;
    }
  }

  /** How many custom field ids have been handed out (ids are never reused). */
  get fieldCounterValue(): number {
    return this.fieldCounter;
  }

  /** How contact ids are made, saved with the state so ids survive a restart. */
  get contactIdScheme(): ContactIdScheme {
    return this.ids.scheme;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  private run(job: Job, now: number): void {
    const work = job.work;
    job.work = undefined;
    job.finishedAt = now;
    if (work?.kind === 'upsert') this.applyUpsert(job, work.request, now);
    else if (work?.kind === 'remove') this.applyRemoval(job, work.listId, work.contactIds);
    this.revision++;
  }

  private applyUpsert(job: Job, request: UpsertRequest, now: number): void {
    const { keys, fields, custom } = request;
    const count = keys.length;
    // Rows whose custom values do not fit their fields' types; only requests with custom
    // fields have any, so the common request skips this pass. `custom` is in row order.
    let rejected: Set<number> | undefined;
    if (custom) {
      for (const [index, values] of custom) {
        const problem = this.checkCustomValues(values);
        if (!problem) continue;
        const key = keys[index] ?? '';
        job.errors.push({
          index,
          identifier: key.startsWith('\u0000') ? key.slice(1) : key,
          ...problem,
        });
        (rejected ??= new Set()).add(index);
      }
    }
    const cap = this.options.contactCap;
    if (cap !== undefined) {
      const newKeys = new Set<string>();
      for (let i = 0; i < count; i++) {
        const key = keys[i] ?? '';
        if (!rejected?.has(i) && !this.contactsByKey.has(key)) newKeys.add(key);
      }
      if (this.contactsByKey.size + newKeys.size > cap) {
        job.status = 'failed';
        const message =
          `contact limit exceeded: the account holds ${this.contactsByKey.size} contacts, ` +
          `this import would add ${newKeys.size}, and the plan allows ${cap}`;
        job.errors = [{ index: -1, identifier: '', field: '', message }];
        job.errored = job.requested;
        return;
      }
    }
    const lists: StoredList[] = [];
    for (const id of request.listIds) {
      const list = this.lists.get(id);
      if (list) lists.push(list);
    }
    const time = this.timeOf(now);
    const byKey = this.contactsByKey;
    const contacts = this.contacts;
    let created = 0;
    let updated = 0;
    for (let i = 0; i < count; i++) {
      if (rejected?.has(i)) continue;
      const key = keys[i] as string;
      const input = fields[i] as ContactFields;
      const values = custom?.get(i);
      let contact = byKey.get(key);
      if (contact) {
        // Omitted fields stay as they were: only what the request names changes.
        Object.assign(contact.fields, input);
        if (values) contact.custom = { ...contact.custom, ...values };
        contact.updated = time;
        updated++;
      } else {
        contact = new StoredContact(contacts.length, key, input, values, time, time);
        contacts.push(contact);
        byKey.set(key, contact);
        created++;
      }
      const alternates = input.alternate_emails;
      if (Array.isArray(alternates)) {
        for (const email of alternates) this.alternateEmails.set(email, contact.index);
      }
      for (const list of lists) list.members.add(contact.index);
    }
    job.created += created;
    job.updated += updated;
    job.errored = job.errors.length;
    // As SendGrid documents: errored finished with some errors, failed with all errors.
    job.status = job.errored === 0 ? 'completed' : job.errored < count ? 'errored' : 'failed';
  }

  // Values are checked against the field's type when the job runs, as SendGrid does: a bad value
  // errors that one row (an `errored` job) rather than the whole request.
  private checkCustomValues(values: CustomValues): { field: string; message: string } | undefined {
    for (const [id, value] of Object.entries(values)) {
      const definition = this.fields.get(id);
      if (!definition) {
        return { field: `custom_fields.${id}`, message: `custom field ID ${id} does not exist` };
      }
      const text = String(value);
      // A JSON number is a number, however it is written (`1e-7` included); text must be digits.
      const isNumber = typeof value === 'number' ? Number.isFinite(value) : NUMERIC.test(text);
      if (definition.field_type === 'Number' && !isNumber) {
        return {
          field: `custom_fields.${id}`,
          message: `custom field ${definition.name} expects a number, got ${JSON.stringify(value)}`,
        };
      }
      if (
        definition.field_type === 'Date' &&
        (!DATE.test(text) || Number.isNaN(Date.parse(text)) || !isCalendarDateText(text))
      ) {
        return {
          field: `custom_fields.${id}`,
          message: `custom field ${definition.name} expects a date, got ${JSON.stringify(value)}`,
        };
      }
    }
    return undefined;
  }

  private applyRemoval(job: Job, listId: string, contactIds: string[]): void {
    const list = this.lists.get(listId);
    if (list) {
      for (const id of contactIds) {
        const contact = this.contactById(id);
        if (contact && list.members.delete(contact.index)) job.deleted++;
      }
    }
    job.status = 'completed';
  }

  // ---- whole account -----------------------------------------------------------------------

  /** Forgets everything: contacts, lists, fields and jobs. */
  clear(): void {
    this.contacts.length = 0;
    this.contactsByKey.clear();
    this.alternateEmails.clear();
    this.lists.clear();
    this.fields.clear();
    this.jobs.clear();
    this.pending.length = 0;
    this.fieldCounter = 0;
    this.ids = ContactIds.random();
    this.restoredIds.clear();
    this.restoredIndex.clear();
    this.times.length = 0;
    this.timeIndex.clear();
    this.revision++;
  }

  /** Restores from a snapshot (see persistence.ts), replacing what is held. */
  load(snapshot: StateSnapshot): void {
    this.clear();
    for (const field of snapshot.field_definitions) this.fields.set(field.id, field);
    this.fieldCounter = snapshot.field_counter;
    if (snapshot.contact_id_scheme) this.ids = new ContactIds(snapshot.contact_id_scheme);
    const indexById = new Map<string, number>();
    for (const c of snapshot.contacts) {
      const index = this.contacts.length;
      const contact = new StoredContact(
        index,
        c.key,
        c.fields,
        c.custom_fields,
        this.timeOf(c.created_at),
        this.timeOf(c.updated_at),
      );
      this.contacts.push(contact);
      this.contactsByKey.set(contact.key, contact);
      indexById.set(c.id, index);
      if (this.ids.format(index) !== c.id) {
        this.restoredIds.set(index, c.id);
        this.restoredIndex.set(c.id, index);
      }
      const alternates = contact.fields.alternate_emails;
      if (Array.isArray(alternates)) {
        for (const email of alternates) this.alternateEmails.set(email, index);
      }
    }
    for (const l of snapshot.lists) {
      const members = new Set<number>();
      for (const id of l.contact_ids) {
        const index = indexById.get(id);
        if (index !== undefined) members.add(index);
      }
      this.lists.set(l.id, { id: l.id, name: l.name, createdAt: l.created_at, members });
    }
    for (const j of snapshot.jobs) this.jobs.set(j.id, { ...j, work: undefined });
    this.revision = 0;
  }
}

/** The persisted form of the account (jobs that have run, without their work). */
export interface StateSnapshot {
  format: 'segsync-sendgrid-sandbox';
  version: 1;
  field_counter: number;
  /** How contact ids are made (absent in files written before it was saved). */
  contact_id_scheme?: ContactIdScheme;
  field_definitions: FieldDefinition[];
  lists: { id: string; name: string; created_at: number; contact_ids: string[] }[];
  contacts: {
    id: string;
    key: string;
    created_at: number;
    updated_at: number;
    fields: ContactFields;
    custom_fields: CustomValues | undefined;
  }[];
  jobs: Omit<Job, 'work'>[];
}
