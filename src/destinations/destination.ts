import type { z } from 'zod';

/**
 * The one interface every destination (SendGrid today) implements. A destination receives plain
 * data — its settings and batches of contacts — and returns per-contact results or throws a
 * DestinationError (src/shared/errors.ts). Batching, retries, polling, checkpoints and the ledger
 * belong to the export engine, so a second destination is one folder and one registry line.
 */

/** A contact ready to deliver: the normalised email, reserved fields and custom fields by id. */
export interface DestinationContact {
  email: string;
  fields: Readonly<Record<string, string>>;
  customFields: Readonly<Record<string, string | number>>;
}

export interface DestinationList {
  id: string;
  name: string;
  contactCount: number;
}

/** A contact found by its email. */
export interface FoundContact {
  id: string;
  listIds: readonly string[];
}

export interface DestinationField {
  id: string;
  name: string;
  type: 'text' | 'number' | 'date';
}

/** A reserved contact field the destination knows, and the longest value it accepts. */
export interface ReservedField {
  name: string;
  maxLength: number | undefined;
}

/** What one request may carry, and how many ids one lookup or removal may name. */
export interface DeliveryLimits {
  maxContactsPerRequest: number;
  maxBytesPerRequest: number;
  maxEmailsPerLookup: number;
  /** The longest email a lookup takes (longer ones can be sent, but never found by email). */
  maxLookupEmailLength: number;
  maxIdsPerRemoval: number;
}

export interface JobCounts {
  requested: number;
  created: number;
  updated: number;
  deleted: number;
  errored: number;
}

/** An asynchronous job's state: pending, or final with the destination's counters. */
export type JobState =
  | { status: 'pending' }
  | {
      status: 'completed' | 'errored' | 'failed';
      counts: JobCounts;
      /** Where the errors of an `errored` or `failed` job can be read. */
      errorsUrl: string | undefined;
      /**
       * The destination's explanation of a `failed` job (a contact cap, say), when its answer
       * carries one; SendGrid documents none beside the errors file.
       */
      message: string | undefined;
    };

/**
 * A row of a job's errors: a contact the destination refused, or, with an empty `email`, a
 * reason that concerns the whole job (why a `failed` job failed, say).
 */
export interface ContactProblem {
  email: string;
  message: string;
}

/** A destination bound to one connection's settings. Every method is one or a few requests. */
export interface DestinationSession {
  /** Checks the credentials and the permissions exports need; throws naming what is missing. */
  verify(): Promise<{ scopes: string[] }>;
  getList(listId: string): Promise<DestinationList | undefined>;
  createList(name: string): Promise<DestinationList>;
  listLists(): Promise<DestinationList[]>;
  listFields(): Promise<DestinationField[]>;
  countContacts(): Promise<number>;
  /**
   * Sends one upsert request into a list; returns the job id. `contacts` holds `count` contacts'
   * wire forms (encodeContact), joined by commas, as UTF-8: requests are built as bytes.
   */
  upsert(listId: string, contacts: Uint8Array, count: number): Promise<{ jobId: string }>;
  job(jobId: string): Promise<JobState>;
  /** The problems behind an `errored` or `failed` job, per contact or for the whole job. */
  jobProblems(errorsUrl: string): Promise<ContactProblem[]>;
  /**
   * Finds contacts by email: their ids and the lists holding them; unknown emails are absent
   * from the map.
   */
  findContacts(emails: readonly string[]): Promise<Map<string, FoundContact>>;
  /** Removes contacts from a list (never deletes them); returns the job id. */
  removeFromList(listId: string, contactIds: readonly string[]): Promise<{ jobId: string }>;
}

/** How the destination reaches the network; injected so tests and the sandbox stay exact. */
export interface DestinationIo {
  fetch: typeof fetch;
}

/** A kind of destination: its settings schema, its limits and how to open a session. */
export interface DestinationType<Settings = unknown> {
  type: string;
  displayName: string;
  settingsSchema: z.ZodType<Settings>;
  limits: DeliveryLimits;
  reservedFields: readonly ReservedField[];
  /** The address rules the destination enforces, so invalid contacts are never sent. */
  isValidEmail(email: string): boolean;
  /** The date forms the destination's date fields take, so invalid values are never sent. */
  isValidDate(text: string): boolean;
  /**
   * The contact's wire form; its byte length counts against `limits.maxBytesPerRequest`. It
   * needs no connection, so contacts can be encoded away from the session (a planning thread).
   */
  encodeContact(contact: DestinationContact): string;
  /** Bytes a request adds around its encoded contacts (the envelope and the separators). */
  requestOverheadBytes(listId: string, contactCount: number): number;
  open(settings: Settings, io: DestinationIo): DestinationSession;
}
