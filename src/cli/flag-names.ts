import { ValidationError } from '../shared/errors.js';

/**
 * A command's flags by the service field they fill (`profileLimit` -> `--limit`). A key ending in
 * `.` stands for every path under it (`mapping.fields.` -> `--map ` + the field's name).
 */
export type FlagNames = Readonly<Record<string, string>>;

export const connectionFlags: FlagNames = {
  name: '--name',
  apiKey: '--api-key',
  baseUrl: '--base-url',
  sharing: '--share-with-contributors',
  profileLimit: '--limit',
  acceptPrivacy: '--accept-privacy',
};

export const exportFlags: FlagNames = {
  name: '--name',
  connectionId: '--connection',
  listId: '--list-id',
  createList: '--create-list',
  'mapping.email': '--map email',
  'mapping.fields.': '--map ',
  'mapping.customFields.': '--map custom:',
  segmentIds: '--segment',
  mode: '--mode',
  schedule: '--schedule',
};

/**
 * The same validation error, its issues named by the flags the user typed rather than by the
 * service's field names (which the REST API uses). Other errors pass through.
 */
export function inFlagTerms(error: unknown, flags: FlagNames): unknown {
  // Only a message made of its issues (ValidationError.fromIssues) names fields to rename.
  if (!(error instanceof ValidationError) || error.summary === error.message) return error;
  const issues = error.issues.map((issue) => ({ ...issue, path: flagOf(issue.path, flags) }));
  return ValidationError.fromIssues(error.summary, issues, error.code);
}

function flagOf(path: string, flags: FlagNames): string {
  for (const [field, flag] of Object.entries(flags)) {
    if (
      field.endsWith('.') ? path.startsWith(field) : path === field || path.startsWith(`${field}[`)
    )
      return field.endsWith('.') ? `${flag}${path.slice(field.length)}` : flag;
  }
  return path;
}
