/**
 * The table types Kysely checks queries against. Conventions on both dialects:
 * - ids are prefixed text (`seg_...`), times are ISO-8601 UTC text (they sort as text),
 * - booleans are integers 0/1 (SQLite has no boolean type; PostgreSQL columns use integer too),
 * - JSON documents are text; `db/dialect.ts` has the few expressions that read inside them.
 */

import type { Generated } from 'kysely';

/** Key-value facts about this installation (its id, when it was first started). */
export interface AppMetaTable {
  key: string;
  value: string;
  updated_at: string;
}

/** The attribute catalog: every profile attribute's name and type, fixed on first sight. */
export interface ProfileAttributesTable {
  name: string;
  /** `string`, `number`, `boolean` or `date` (see profiles/attributes.ts). */
  type: string;
  /** 1 for the attribute profiles are unified on (exactly one row once anything is imported). */
  is_key: number;
  created_at: string;
}

/**
 * One row per unified profile. `key` is the normalised key attribute (trimmed, lower-cased);
 * `attributes` is a JSON object of the profile's non-empty values by attribute name (text on
 * SQLite, jsonb on PostgreSQL, which the driver hands back parsed). Dates are ISO-8601 UTC text.
 */
export interface ProfilesTable {
  id: string;
  key: string;
  attributes: string | Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

/** A segment: a named rule over profiles, and the summary of its last refresh. */
export interface SegmentsTable {
  id: string;
  name: string;
  description: string;
  /** The rule as JSON text (segments/rule.ts). */
  rule: string;
  created_at: string;
  updated_at: string;
  member_count: number | null;
  refreshed_at: string | null;
  refresh_ms: number | null;
}

/** The membership a segment's last refresh stored. */
export interface SegmentMembersTable {
  segment_id: string;
  profile_id: string;
}

/** One row per refresh: the history of member counts behind charts. */
export interface SegmentRefreshesTable {
  id: string;
  segment_id: string;
  refreshed_at: string;
  member_count: number;
  duration_ms: number;
}

/** A destination connection (a SendGrid account); the key is stored only sealed. */
export interface ConnectionsTable {
  id: string;
  type: string;
  name: string;
  /** `admins` or `admins_and_contributors`: who may use the connection in exports. */
  sharing: string;
  /** Non-secret settings as JSON text (`{"baseUrl": ...}`). */
  settings: string;
  secret_sealed: string;
  secret_mask: string;
  profile_limit: number;
  consent_by: string;
  consent_at: string;
  /** Who runs act as: the administrator who connected the account. */
  export_user: string;
  created_at: string;
  updated_at: string;
}

/** An export: which segments go into which destination list, with which fields. */
export interface ExportsTable {
  id: string;
  name: string;
  /** Null once detached. */
  connection_id: string | null;
  list_id: string;
  /** The data matching as JSON text (exports/export-definition.ts). */
  mapping: string;
  /** `upsert` or `mirror`. */
  mode: string;
  /** `refresh`, `none` or `cron:EXPR@TZ`. */
  schedule: string;
  created_by: string;
  created_at: string;
  updated_at: string;
  /** Fingerprint of the settings the ledger's payloads were built with (migration 0006). */
  ledger_settings: string | null;
}

export interface ExportSegmentsTable {
  export_id: string;
  segment_id: string;
  position: number;
}

/** One run of an export; the counters are kept up to date as the run advances. */
export interface ExportRunsTable {
  id: string;
  export_id: string;
  status: string;
  trigger: string;
  full: number;
  settings: string | null;
  members: number;
  sent: number;
  created: number;
  updated: number;
  skipped: number;
  unchanged: number;
  removed: number;
  failed: number;
  requests: number;
  error: string | null;
  worker: string | null;
  heartbeat_at: string | null;
  cancel_requested: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  /** When its per-contact problems were dropped (only an export's latest runs keep theirs). */
  problems_pruned_at: string | null;
}

/** A run's checkpoint: one row per request the destination acknowledged. */
export interface RunBatchesTable {
  run_id: string;
  seq: number;
  kind: string;
  contact_count: number;
  job_id: string | null;
  status: string;
  created: number;
  updated: number;
  errored: number;
  message: string | null;
  updated_at: string;
  /** When SendGrid acknowledged the request (migration 0009); null for older batches. */
  acknowledged_at: string | null;
}

/** What a batch's request carried, as JSON, kept until its run ends (migration 0006). */
export interface RunBatchContactsTable {
  run_id: string;
  seq: number;
  contacts: string;
}

/** A contact a run skipped, or the destination refused, or sent with a warning. */
export interface RunProblemsTable {
  run_id: string;
  seq: number;
  severity: string;
  source: string;
  profile_key: string | null;
  email: string | null;
  code: string;
  reason: string;
}

/** What an export delivered: per email, the hash of the payload the destination confirmed. */
export interface ExportLedgerTable {
  export_id: string;
  email: string;
  hash: string;
  delivered_at: string;
  /** The profile the contact was built from; null once none maps to it (mirror removes it). */
  profile_id: string | null;
  /** The profile's updated_at the payload was built from; null: check again. */
  seen: string | null;
  /** 1: the contact was in the list before the export first sent it (a mirror keeps it there). */
  adopted: Generated<number>;
}

export interface Database {
  app_meta: AppMetaTable;
  profile_attributes: ProfileAttributesTable;
  profiles: ProfilesTable;
  segments: SegmentsTable;
  segment_members: SegmentMembersTable;
  segment_refreshes: SegmentRefreshesTable;
  connections: ConnectionsTable;
  exports: ExportsTable;
  export_segments: ExportSegmentsTable;
  export_runs: ExportRunsTable;
  run_batches: RunBatchesTable;
  run_batch_contacts: RunBatchContactsTable;
  run_problems: RunProblemsTable;
  export_ledger: ExportLedgerTable;
}
