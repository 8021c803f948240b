import { Cron } from 'croner';
import { z } from 'zod';

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
    name: z.string().trim().min(1, { message: 'a name is required' }).max(100),
    connectionId: z.string().min(1, { message: 'a connection is required' }),
    listId: z
      .string()
      .regex(LIST_ID, { message: 'expected a SendGrid list id (a UUID)' })
      .optional(),
    createList: z.string().trim().min(1).max(100).optional(),
    mapping: mappingInputSchema,
    segmentIds: z.array(z.string().min(1)).min(1, { message: 'at least one segment is required' }),
    mode: z.enum(syncModes).default('upsert'),
    schedule: scheduleSchema.default('refresh'),
  })
  .refine((input) => (input.listId === undefined) !== (input.createList === undefined), {
    message: 'give either a list id or a name for a new list (--create-list), not both',
    path: ['listId'],
  });
export type ExportInput = z.input<typeof exportInputSchema>;

/** An edit: any subset of the definition. */
export const exportEditSchema = z.object({
  name: z.string().trim().min(1).max(100).optional(),
  connectionId: z.string().min(1).optional(),
  listId: z.string().regex(LIST_ID, { message: 'expected a SendGrid list id (a UUID)' }).optional(),
  mapping: mappingInputSchema.optional(),
  segmentIds: z.array(z.string().min(1)).min(1).optional(),
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
  try {
    new Cron(match[1], { timezone: match[2], paused: true });
  } catch (error) {
    return `invalid cron expression "${match[1]}": ${error instanceof Error ? error.message : String(error)}`;
  }
  return undefined;
}
