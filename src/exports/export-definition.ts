import { Cron } from 'croner';
import { z } from 'zod';
import { displayName } from '../shared/validation.js';

/** The reserved SendGrid fields an export may fill besides the email. */
export const reservedFieldNames = [
  'first_name',
  'last_name',
  'country',
  'state_province_region',
  'city',
  'postal_code',
] as const;
export type ReservedFieldName = (typeof reservedFieldNames)[number];

export const syncModes = ['upsert', 'mirror'] as const;
export type SyncMode = (typeof syncModes)[number];

const LIST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The longest name an export may have. */
export const MAX_EXPORT_NAME = 100;

// SendGrid's ids are lower-case UUIDs; one pasted in capitals is the same list.
const listIdSchema = z
  .string()
  .regex(LIST_ID, { message: 'expected a SendGrid list id (a UUID)' })
  .transform((id) => id.toLowerCase());

// A segment named twice is sent once (the export sends the union of its segments anyway).
const segmentIdsSchema = z
  .array(z.string().min(1))
  .min(1, { message: 'at least one segment is required' })
  .transform((ids) => [...new Set(ids)]);

/**
 * When an export runs: `refresh` (with every scheduled refresh), `none` (only on demand), or
 * `cron:EXPR@TZ` (`cron:0 6 * * 1@Europe/Madrid`).
 */
export const scheduleSchema = z.string().superRefine((value, ctx) => {
  if (value === 'refresh' || value === 'none') return;
  const problem = cronProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** What goes into which profile attribute: `email` is required, the rest optional. */
export const mappingInputSchema = z.object({
  email: z.string().min(1, { message: 'the email attribute is required' }),
  fields: z.partialRecord(z.enum(reservedFieldNames), z.string().min(1)).default({}),
  /** SendGrid custom field name -> profile attribute. */
  customFields: z.record(z.string().min(1), z.string().min(1)).default({}),
});

export const exportInputSchema = z
  .object({
    name: displayName(MAX_EXPORT_NAME),
    connectionId: z.string().min(1, { message: 'a connection is required' }),
    listId: listIdSchema.optional(),
    createList: displayName(100).optional(),
    mapping: mappingInputSchema,
    segmentIds: segmentIdsSchema,
    mode: z.enum(syncModes).default('upsert'),
    schedule: scheduleSchema.default('refresh'),
  })
  .superRefine((input, ctx) => {
    if ((input.listId === undefined) === (input.createList === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['listId'],
        message:
          input.listId === undefined
            ? 'a list is required: give the id of an existing SendGrid list (--list-id) or a name for a new one (--create-list)'
            : 'give either a list id or a name for a new list (--create-list), not both',
      });
    }
  });
export type ExportInput = z.input<typeof exportInputSchema>;

/** An edit: any subset of the definition. */
/** A copy's name, when given (else one is made from the original's). */
export const exportDuplicateSchema = z.object({ name: displayName(MAX_EXPORT_NAME).optional() });

export const exportEditSchema = z.object({
  name: displayName(MAX_EXPORT_NAME).optional(),
  connectionId: z.string().min(1).optional(),
  listId: listIdSchema.optional(),
  mapping: mappingInputSchema.optional(),
  segmentIds: segmentIdsSchema.optional(),
  mode: z.enum(syncModes).optional(),
  schedule: scheduleSchema.optional(),
});
export type ExportEdit = z.input<typeof exportEditSchema>;

/** Why a `cron:EXPR@TZ` schedule is not valid, or undefined when it is. */
function cronProblem(value: string): string | undefined {
  const match = /^cron:(.+)@([A-Za-z0-9_+/-]+)$/.exec(value);
  if (!match?.[1] || !match[2]) {
    return 'expected "refresh", "none" or "cron:EXPR@TIME_ZONE" (for example "cron:0 6 * * *@Europe/Madrid")';
  }
  try {
    Intl.DateTimeFormat('en', { timeZone: match[2] });
  } catch {
    return `unknown time zone "${match[2]}"`;
  }
  const expression = match[1].trim();
  // Five fields, as cron has (minute hour day month weekday): croner also takes a leading
  // seconds field, so "0 6 * * * *" would mean minute 6 of every hour, not 6 o'clock.
  const fields = expression.split(/\s+/).length;
  if (!expression.startsWith('@') && fields !== 5) {
    return `invalid cron expression "${expression}": expected 5 fields (minute hour day-of-month month day-of-week), got ${fields}`;
  }
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone: match[2], paused: true });
  } catch (error) {
    return `invalid cron expression "${expression}": ${error instanceof Error ? error.message : String(error)}`;
  }
  if (cron.nextRun() === null) return `cron expression "${expression}" never fires`;
  return undefined;
}
