import {
  attributeNameProblem,
  coerceJson,
  CoerceFailure,
  encodeText,
  jsonString,
  inferJsonType,
  inferTextType,
  normaliseKey,
  type Attribute,
  type AttributeType,
  type AttributeValue,
} from './attributes.js';
import {
  MalformedFileError,
  decodeUtf8,
  readCsv,
  readJsonLines,
  type ByteSource,
  type CsvRecord,
  type JsonRecord,
} from './readers.js';

export const importFormats = ['csv', 'jsonl'] as const;
export type ImportFormat = (typeof importFormats)[number];

/** One rejected row and why. */
export interface ImportRowError {
  line: number;
  message: string;
}

/** Rejected rows reported one by one; beyond this only the count grows, so memory stays flat. */
export const MAX_REPORTED_ERRORS = 1000;
/** Rows read before the types of new attributes are decided from their values. */
const INFERENCE_SAMPLE = 1000;

/** What a RowEncoder needs to know (plain data: it is sent to a worker as it is). */
export interface EncoderSettings {
  /** The stored attribute catalog. */
  catalog: Attribute[];
  /** Declared types for attributes not yet in the catalog (they win over inference). */
  declared: Record<string, AttributeType>;
  keyName: string;
  /** Unique keys per batch. */
  batchSize: number;
  emptyClears: boolean;
}

/** Good rows with unique keys: their normalised keys and JSON documents, index for index. */
export interface RowBatch {
  keys: string[];
  documents: string[];
  /**
   * How many rows of the file each document stands for, index for index, when a key repeated
   * within the batch (its rows are merged into one document); absent when every key came once.
   */
  rows?: number[];
}

export interface EncoderSummary {
  accepted: number;
  rejected: number;
  errors: ImportRowError[];
  added: Attribute[];
}

/**
 * The database-free half of one import: reads records, decides and enforces types, writes each
 * good row's JSON document and hands them on in batches of unique keys; counts and reports the
 * rest. It runs on the main thread for small files and in a worker for large ones (see
 * import-worker.ts), with the same results either way.
 */
export class RowEncoder {
  accepted = 0;
  rejected = 0;
  readonly errors: ImportRowError[] = [];
  /**
   * Attributes this import adds to the catalog, in the order its accepted rows first gave them
   * a value: a rejected row adds none, though its values were typed (and the types kept).
   */
  readonly added: Attribute[] = [];
  /** Attributes typed by this import that no accepted row has given a value yet. */
  private readonly unconfirmed = new Map<string, Attribute>();
  // Documents by normalised key, in first-seen order (a repeated key keeps its place), and the
  // number of rows of the keys that repeated.
  private batch = new Map<string, string>();
  private repeated = new Map<string, number>();
  private readonly catalog: Map<string, Attribute>;
  private readonly batchSize: number;
  private readonly emptyClears: boolean;

  constructor(
    settings: EncoderSettings,
    private readonly emit: (batch: RowBatch) => Promise<void>,
  ) {
    this.catalog = new Map(settings.catalog.map((a) => [a.name, a]));
    this.declared = settings.declared;
    this.keyName = settings.keyName;
    this.batchSize = settings.batchSize;
    this.emptyClears = settings.emptyClears;
    if (!this.catalog.has(this.keyName) || !this.catalog.get(this.keyName)?.isKey) {
      this.define(this.keyName, 'string', true);
    }
  }

  private readonly declared: Record<string, AttributeType>;
  private readonly keyName: string;

  /** Reads a whole source (`csv` or `jsonl`), emitting every batch, the last one included. */
  async encode(source: ByteSource, format: ImportFormat): Promise<void> {
    const decoded = decodeUtf8(source);
    if (format === 'csv') await this.csv(readCsv(decoded));
    else await this.jsonLines(readJsonLines(decoded));
    await this.flush();
  }

  /** The type `name` has, deciding it (declared, else inferred from `sample`) when new. */
  private typeOf(name: string, infer: () => AttributeType): AttributeType {
    const known = this.catalog.get(name);
    if (known) return known.type;
    return this.define(name, this.declared[name] ?? infer(), false);
  }

  private define(name: string, type: AttributeType, isKey: boolean): AttributeType {
    const attribute = { name, type, isKey };
    this.catalog.set(name, attribute);
    if (isKey) this.added.push(attribute);
    else this.unconfirmed.set(name, attribute);
    return type;
  }

  /** An accepted row gave `name` a value: if this import typed it, the catalog gets it. */
  private confirm(name: string): void {
    const attribute = this.unconfirmed.get(name);
    if (!attribute) return;
    this.unconfirmed.delete(name);
    this.added.push(attribute);
  }

  private async csv(records: AsyncIterable<CsvRecord[]>): Promise<void> {
    const iterator = records[Symbol.asyncIterator]();
    let pending: CsvRecord[] = [];
    // Gather the header and a sample of rows, from which new columns get their types.
    while (pending.length < INFERENCE_SAMPLE + 1) {
      const next = await iterator.next();
      if (next.done) break;
      pending.push(...next.value);
    }
    const header = pending[0];
    if (!header) throw new MalformedFileError(1, 'the file is empty (expected a header row)');
    pending = pending.slice(1);
    const names = this.readHeader(header);
    const keyIndex = names.indexOf(this.keyName);
    const members = names.map((name) => `${JSON.stringify(name)}:`);
    const types: (AttributeType | undefined)[] = names.map((name, column) => {
      if (this.catalog.has(name) || this.declared[name]) return this.typeOf(name, () => 'string');
      const values: string[] = [];
      for (const record of pending.slice(0, INFERENCE_SAMPLE)) {
        const text = record.fields[column]?.trim();
        if (text) values.push(text);
      }
      // Without any value yet, the column's first value decides (see row()).
      return values.length > 0 ? this.typeOf(name, () => inferTextType(values)) : undefined;
    });
    const row = (record: CsvRecord): void => {
      const fields = record.fields;
      if (fields.length !== names.length) {
        this.reject(record.line, `expected ${names.length} fields, found ${fields.length}`);
        return;
      }
      const rawKey = fields[keyIndex]?.trim() ?? '';
      if (rawKey === '') {
        this.reject(record.line, `${this.keyName}: the key is empty`);
        return;
      }
      const key = normaliseKey(rawKey);
      // The JSON document is written directly: far cheaper than building an object per row and
      // stringifying it (measured at a third of the whole import's time).
      let document = '{';
      let problems: string[] | undefined;
      for (let column = 0; column < names.length; column++) {
        const member = members[column] as string;
        if (column === keyIndex) {
          document += `${document.length > 1 ? ',' : ''}${member}${jsonString(key)}`;
          continue;
        }
        const text = (fields[column] as string).trim();
        if (text === '') {
          if (this.emptyClears) document += `${document.length > 1 ? ',' : ''}${member}null`;
          continue;
        }
        let type = types[column];
        if (type === undefined) {
          type = this.typeOf(names[column] as string, () => inferTextType([text]));
          types[column] = type;
        }
        const encoded = encodeText(text, type);
        if (encoded instanceof CoerceFailure) {
          (problems ??= []).push(`${names[column]}: ${encoded.message}`);
        } else {
          document += `${document.length > 1 ? ',' : ''}${member}${encoded}`;
        }
      }
      if (problems) {
        this.reject(record.line, problems.join('; '));
        return;
      }
      this.accept(key, `${document}}`);
      if (this.unconfirmed.size === 0) return;
      for (let column = 0; column < names.length; column++) {
        if ((fields[column] as string).trim() !== '') this.confirm(names[column] as string);
      }
    };
    await this.feed(pending, iterator, row);
  }

  private readHeader(header: CsvRecord): string[] {
    const names = header.fields.map((field) => field.trim());
    const seen = new Set<string>();
    names.forEach((name, index) => {
      if (name === '') throw new MalformedFileError(header.line, `column ${index + 1} has no name`);
      const problem = attributeNameProblem(name);
      if (problem) throw new MalformedFileError(header.line, `column "${name}": ${problem}`);
      if (seen.has(name))
        throw new MalformedFileError(header.line, `column "${name}" appears twice`);
      seen.add(name);
    });
    if (!seen.has(this.keyName)) {
      throw new MalformedFileError(
        header.line,
        `no key column "${this.keyName}" (the columns are ${names.map((n) => `"${n}"`).join(', ')}; choose the key with --key)`,
      );
    }
    return names;
  }

  private async jsonLines(records: AsyncIterable<JsonRecord[]>): Promise<void> {
    const iterator = records[Symbol.asyncIterator]();
    const pending: JsonRecord[] = [];
    while (pending.length < INFERENCE_SAMPLE) {
      const next = await iterator.next();
      if (next.done) break;
      pending.push(...next.value);
    }
    const samples = new Map<string, unknown[]>();
    for (const record of pending.slice(0, INFERENCE_SAMPLE)) {
      if (!isPlainObject(record.value)) continue;
      for (const [name, value] of Object.entries(record.value)) {
        if (value === null || value === '' || this.catalog.has(name)) continue;
        let values = samples.get(name);
        if (!values) samples.set(name, (values = []));
        values.push(value);
      }
    }
    const row = (record: JsonRecord): void => {
      const value = record.value;
      if (!isPlainObject(value)) {
        this.reject(record.line, 'expected a JSON object');
        return;
      }
      const rawKey = value[this.keyName];
      if (typeof rawKey !== 'string' || rawKey.trim() === '') {
        this.reject(
          record.line,
          rawKey === undefined || rawKey === null || rawKey === ''
            ? `${this.keyName}: the key is missing or empty`
            : `${this.keyName}: expected a string key`,
        );
        return;
      }
      const key = normaliseKey(rawKey);
      const attributes: Record<string, AttributeValue | null> = {};
      let problems: string[] | undefined;
      for (const [name, raw] of Object.entries(value)) {
        if (name === this.keyName) {
          attributes[name] = key;
          continue;
        }
        const nameProblem = attributeNameProblem(name);
        if (nameProblem) {
          (problems ??= []).push(`${JSON.stringify(name)}: ${nameProblem}`);
          continue;
        }
        if (raw === null || (typeof raw === 'string' && raw.trim() === '')) {
          if (this.emptyClears) attributes[name] = null;
          continue;
        }
        const type = this.typeOf(name, () => inferJsonType(samples.get(name) ?? [raw]));
        const result = coerceJson(raw, type);
        if ('error' in result) (problems ??= []).push(`${name}: ${result.error}`);
        else if (result.value !== undefined) attributes[name] = result.value;
      }
      if (problems) {
        this.reject(record.line, problems.join('; '));
        return;
      }
      this.accept(key, JSON.stringify(attributes));
      if (this.unconfirmed.size === 0) return;
      for (const [name, stored] of Object.entries(attributes)) {
        if (stored !== null) this.confirm(name);
      }
    };
    await this.feed(pending, iterator, row);
  }

  /** Runs `row` on the sampled records, then on the rest as they come, writing full batches. */
  private async feed<R>(
    sampled: readonly R[],
    rest: AsyncIterator<R[]>,
    row: (record: R) => void,
  ): Promise<void> {
    for (const record of sampled) {
      row(record);
      if (this.batch.size >= this.batchSize) await this.flush();
    }
    for (let next = await rest.next(); !next.done; next = await rest.next()) {
      for (const record of next.value) {
        row(record);
        if (this.batch.size >= this.batchSize) await this.flush();
      }
    }
  }

  /** Queues a good row (its attributes as a JSON object text) for the next batch. */
  private accept(key: string, document: string): void {
    this.accepted++;
    const existing = this.batch.get(key);
    if (existing !== undefined) {
      // PostgreSQL refuses to upsert one key twice in a statement: merge repeats here, later
      // wins. The profile then changes as the batch's rows leave it, not row by row: a file
      // imported again changes nothing, whatever its nearby repeats say in between.
      const merged = {
        ...(JSON.parse(existing) as object),
        ...(JSON.parse(document) as object),
      };
      this.batch.set(key, JSON.stringify(merged));
      this.repeated.set(key, (this.repeated.get(key) ?? 1) + 1);
    } else {
      this.batch.set(key, document);
    }
  }

  private reject(line: number, message: string): void {
    this.rejected++;
    if (this.errors.length < MAX_REPORTED_ERRORS) this.errors.push({ line, message });
  }

  private async flush(): Promise<void> {
    if (this.batch.size === 0) return;
    const keys = [...this.batch.keys()];
    const batch: RowBatch = { keys, documents: [...this.batch.values()] };
    if (this.repeated.size > 0) {
      const repeated = this.repeated;
      batch.rows = keys.map((key) => repeated.get(key) ?? 1);
    }
    this.batch = new Map();
    this.repeated = new Map();
    await this.emit(batch);
  }

  /** What the import did besides its batches (a worker sends this back when it is done). */
  summary(): EncoderSummary {
    return {
      accepted: this.accepted,
      rejected: this.rejected,
      errors: this.errors,
      added: this.added,
    };
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
