import fs from 'node:fs';
import type { Clock } from '../shared/clock.js';
import { NotFoundError, ValidationError } from '../shared/errors.js';
import { parseInput } from '../shared/validation.js';
import {
  attributeNameProblem,
  attributeSchemaFileSchema,
  declaredTypes,
  normaliseKey,
  type Attribute,
  type AttributeType,
  type Profile,
} from './attributes.js';
import { importProfiles, type ImportOptions, type ImportResult } from './import.js';
import type { ProfileStore } from './profile-store.js';
import type { ByteSource } from './readers.js';

/**
 * What the CLI, the API and the export engine do with profiles: import files, count, look up and
 * search. The store behind it runs on either dialect.
 */
export class ProfileService {
  constructor(
    private readonly store: ProfileStore,
    private readonly clock: Clock,
  ) {}

  /** Imports a file from disk (see importProfiles for the contract). */
  async importFile(file: string, options: ImportOptions = {}): Promise<ImportResult> {
    let stream: fs.ReadStream;
    try {
      await fs.promises.access(file, fs.constants.R_OK);
      stream = fs.createReadStream(file, { highWaterMark: 1 << 18 });
    } catch {
      throw new ValidationError(
        `cannot read ${file}`,
        [{ path: 'file', message: 'cannot be read' }],
        'file_unreadable',
      );
    }
    try {
      return await this.importStream(stream, options);
    } finally {
      stream.destroy();
    }
  }

  /** Imports a stream of bytes (an uploaded file, say) in one transaction. */
  importStream(source: ByteSource, options: ImportOptions = {}): Promise<ImportResult> {
    return importProfiles(this.store, source, options, this.clock);
  }

  /** The attribute catalog. */
  attributes(): Promise<Attribute[]> {
    return this.store.attributes();
  }

  count(): Promise<number> {
    return this.store.count();
  }

  /** The profile with this key (normalised as on import), or a NotFoundError. */
  async get(key: string): Promise<Profile> {
    const profile = await this.store.findByKey(normaliseKey(key));
    if (!profile) throw new NotFoundError('profile', normaliseKey(key));
    return profile;
  }

  /** Up to `limit` profiles whose key or values contain `text`, ignoring ASCII case. */
  async search(text: string, limit = 20): Promise<Profile[]> {
    if (text.trim() === '') {
      throw ValidationError.fromIssues('invalid search', [
        { path: 'text', message: 'expected some text to search for' },
      ]);
    }
    return this.store.search(text.trim(), limit);
  }
}

/** Reads a `--schema` document (`{"total_spend":"number",...}`, optionally under `attributes`). */
export function parseAttributeSchema(document: unknown): Record<string, AttributeType> {
  // JSON.parse keeps a `__proto__` key as the document's own; the schema's record would drop it
  // without a word, so it is refused here, as any name of a built-in object property is.
  const wrapped = (document as { attributes?: unknown } | null)?.attributes;
  for (const level of [document, wrapped]) {
    if (typeof level === 'object' && level !== null && Object.hasOwn(level, '__proto__')) {
      const message = attributeNameProblem('__proto__') ?? 'not an attribute name';
      throw new ValidationError(`invalid schema: __proto__: ${message}`, [
        { path: '__proto__', message },
      ]);
    }
  }
  return declaredTypes(parseInput(attributeSchemaFileSchema, document, 'schema'));
}
