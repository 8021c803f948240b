import fs from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../shared/errors.js';
import type { SandboxState, StateSnapshot, StoredContact } from './state.js';

/**
 * `--state FILE`: the account saved as one JSON document. It is written in pieces (a million
 * contacts would make one JSON.stringify call hold the whole text twice) into a temporary file
 * that is then renamed over the old one, so a crash mid-write never leaves a torn state file.
 */
export function saveState(state: SandboxState, file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, 'w');
  try {
    let buffer = '';
    const write = (text: string) => {
      buffer += text;
      if (buffer.length > 1 << 20) {
        fs.writeSync(fd, buffer);
        buffer = '';
      }
    };
    write(
      `{"format":"segsync-sendgrid-sandbox","version":1,"field_counter":${state.fieldCounterValue},` +
        `"contact_id_scheme":${JSON.stringify(state.contactIdScheme)},` +
        `"field_definitions":${JSON.stringify([...state.fields.values()])},"lists":[`,
    );
    let first = true;
    for (const list of state.lists.values()) {
      write(
        (first ? '' : ',') +
          JSON.stringify({
            id: list.id,
            name: list.name,
            created_at: list.createdAt,
            contact_ids: Array.from(list.members, (index) =>
              state.idOf(state.contacts[index] as StoredContact),
            ),
          }),
      );
      first = false;
    }
    write('],"contacts":[');
    first = true;
    for (const c of state.contacts) {
      write(
        (first ? '' : ',') +
          JSON.stringify({
            id: state.idOf(c),
            key: c.key,
            created_at: state.timeAt(c.created),
            updated_at: state.timeAt(c.updated),
            fields: c.fields,
            custom_fields: c.custom,
          }),
      );
      first = false;
    }
    write('],"jobs":[');
    first = true;
    for (const job of state.jobs.values()) {
      if (job.status === 'pending') continue;
      write((first ? '' : ',') + JSON.stringify({ ...job, work: undefined }));
      first = false;
    }
    write(']}\n');
    fs.writeSync(fd, buffer);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
}

/** Reads a state file written by saveState; undefined when the file does not exist yet. */
export function loadState(file: string): StateSnapshot | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: Partial<StateSnapshot>;
  try {
    parsed = JSON.parse(text) as Partial<StateSnapshot>;
  } catch {
    throw new ValidationError(`--state ${file}: the file is not valid JSON`);
  }
  if (parsed.format !== 'segsync-sendgrid-sandbox' || parsed.version !== 1) {
    throw new ValidationError(`--state ${file}: not a segsync SendGrid sandbox state file`);
  }
  return parsed as StateSnapshot;
}
