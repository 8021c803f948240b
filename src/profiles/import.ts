import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isoNow, type Clock } from '../shared/clock.js';
import { ValidationError } from '../shared/errors.js';
import {
  attributeNameProblem,
  defaultKeyAttribute,
  describeType,
  type Attribute,
  type AttributeType,
} from './attributes.js';
import {
  RowEncoder,
  type EncoderSettings,
  type EncoderSummary,
  type ImportFormat,
  type ImportRowError,
  type RowBatch,
} from './import-rows.js';
import type { EncoderWorkerData, FromEncoder, ToEncoder } from './import-worker.js';
import { ProfileIdSource } from './profile-ids.js';
import type { ProfileStore, ProfileUpsert } from './profile-store.js';
import { MalformedFileError, type ByteSource } from './readers.js';

export { importFormats, MAX_REPORTED_ERRORS } from './import-rows.js';
export type { ImportFormat, ImportRowError } from './import-rows.js';

export interface ImportOptions {
  /** `csv` (default) or `jsonl`. */
  format?: ImportFormat;
  /** The attribute to unify on; defaults to the catalog's key, else `email`. */
  key?: string;
  /** Declared types for attributes not yet in the catalog (they win over inference). */
  schema?: Record<string, AttributeType>;
  /** Whether an empty value erases the stored one (by default it leaves it as it is). */
  emptyClears?: boolean;
  /** Profiles per INSERT statement. */
  batchSize?: number;
  /**
   * Whether to parse and type-check in a worker thread while this one writes (the results are
   * the same). By default a source larger than a few megabytes goes to a worker.
   */
  worker?: boolean;
}

/** What an import did; the shape `profiles import --json` prints. */
export interface ImportResult {
  created: number;
  /** Rows that changed a value of a stored profile, or repeated the key of a profile created. */
  updated: number;
  /** Rows that matched a stored profile and changed none of its values. */
  unchanged: number;
  rejected: number;
  /** The first MAX_REPORTED_ERRORS rejected rows, in file order (`rejected` counts them all). */
  errors: ImportRowError[];
}

const DEFAULT_BATCH = 500;

/**
 * Imports one file of profiles in one transaction: a malformed file (see readers.ts, or a header
 * without the key column) writes nothing and throws a MalformedFileError naming the line; rows
 * whose values do not fit their attribute types are rejected one by one, and the good rows are
 * merged into the profiles with the same key (created when new). New attributes enter the catalog
 * typed by `options.schema`, else by the values of the file's first rows.
 */
export async function importProfiles(
  store: ProfileStore,
  source: ByteSource,
  options: ImportOptions,
  clock: Clock,
): Promise<ImportResult> {
  const declared = options.schema ?? {};
  for (const [name, type] of Object.entries(declared)) {
    const problem = attributeNameProblem(name);
    if (problem)
      throw ValidationError.fromIssues('invalid schema', [{ path: name, message: problem }]);
    if (!(['string', 'number', 'boolean', 'date'] as const).includes(type)) {
      throw ValidationError.fromIssues('invalid schema', [
        { path: name, message: 'expected string, number, boolean or date' },
      ]);
    }
  }
  return store.withTransaction(async (tx) => {
    const now = isoNow(clock);
    const stored = await tx.attributes();
    const catalog = new Map(stored.map((a) => [a.name, a]));
    const keyName = chooseKey(catalog, options.key);
    checkDeclared(catalog, declared, keyName);
    const settings: EncoderSettings = {
      catalog: stored,
      declared,
      keyName,
      batchSize: options.batchSize ?? DEFAULT_BATCH,
      emptyClears: options.emptyClears ?? false,
    };
    const before = await tx.count();
    const ids = new ProfileIdSource(clock);
    let written = 0;
    let inserted: number | undefined;
    const write = async (batch: RowBatch): Promise<void> => {
      const rows: ProfileUpsert[] = new Array<ProfileUpsert>(batch.keys.length);
      for (let i = 0; i < rows.length; i++) {
        rows[i] = {
          id: ids.next(),
          key: batch.keys[i] as string,
          document: batch.documents[i] as string,
          rows: batch.rows?.[i] ?? 1,
        };
      }
      const counts = await tx.upsertMany(rows, now);
      written += counts.written;
      if (counts.created !== undefined) inserted = (inserted ?? 0) + counts.created;
    };
    const summary = await encodeSource(
      source,
      options.format ?? 'csv',
      settings,
      write,
      options.worker,
    );
    await tx.addAttributes(summary.added, now);
    // `written` counts the file's rows whose profile was created or changed: of a new profile's
    // rows, the first created it and the others (repeats merged into it) updated it. PostgreSQL
    // says which profiles it inserted; SQLite, one writer at a time, by the count of profiles.
    const created = inserted ?? (await tx.count()) - before;
    return {
      created,
      updated: written - created,
      unchanged: summary.accepted - written,
      rejected: summary.rejected,
      errors: summary.errors,
    };
  });
}

function chooseKey(catalog: Map<string, Attribute>, requested: string | undefined): string {
  const current = [...catalog.values()].find((a) => a.isKey);
  const key = requested ?? current?.name ?? defaultKeyAttribute;
  if (current && current.name !== key) {
    throw new ValidationError(
      `profiles are unified on "${current.name}"; importing with --key ${key} would split customers (omit --key or use --key ${current.name})`,
      [{ path: 'key', message: `expected "${current.name}"` }],
      'key_mismatch',
    );
  }
  const problem = attributeNameProblem(key);
  if (problem)
    throw ValidationError.fromIssues('invalid key attribute', [{ path: 'key', message: problem }]);
  const known = catalog.get(key);
  if (known && known.type !== 'string') {
    throw ValidationError.fromIssues('invalid key attribute', [
      {
        path: 'key',
        message: `"${key}" holds ${describeType(known.type)}; a key must be a string`,
      },
    ]);
  }
  return key;
}

function checkDeclared(
  catalog: Map<string, Attribute>,
  declared: Record<string, AttributeType>,
  keyName: string,
): void {
  const issues = [];
  for (const [name, type] of Object.entries(declared)) {
    const known = catalog.get(name);
    if (known && known.type !== type) {
      issues.push({
        path: name,
        message: `already holds ${describeType(known.type)}, not ${describeType(type)}`,
      });
    }
    if (name === keyName && type !== 'string') {
      issues.push({ path: name, message: 'the key attribute must be a string' });
    }
  }
  if (issues.length > 0)
    throw ValidationError.fromIssues('the schema clashes with the stored attributes', issues);
}

/** Sources larger than this are parsed in a worker thread (unless `worker` says otherwise). */
const WORKER_THRESHOLD_BYTES = 4 << 20;
/** Chunks sent to the worker and not yet taken by it. */
const CHUNKS_IN_FLIGHT = 8;

/**
 * Runs the RowEncoder over `source`, on this thread or in a worker, writing each of its batches
 * with `write`; returns its summary. A malformed file throws here, as it would inline.
 */
async function encodeSource(
  source: ByteSource,
  format: ImportFormat,
  settings: EncoderSettings,
  write: (batch: RowBatch) => Promise<void>,
  worker: boolean | undefined,
): Promise<EncoderSummary> {
  const iterator = source[Symbol.asyncIterator]();
  const head: (Uint8Array | string)[] = [];
  let ended = false;
  if (worker === undefined) {
    // Small sources are not worth a thread: read ahead a little to see which this one is.
    let size = 0;
    while (size < WORKER_THRESHOLD_BYTES) {
      const next = await iterator.next();
      if (next.done) {
        ended = true;
        break;
      }
      head.push(next.value);
      size += next.value.length;
    }
    worker = !ended;
  }
  async function* chunks(): AsyncGenerator<Uint8Array | string> {
    try {
      yield* head.splice(0);
      if (ended) return;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        yield next.value;
      }
    } finally {
      await iterator.return?.();
    }
  }
  if (worker) return encodeInWorker(chunks(), format, settings, write);
  const encoder = new RowEncoder(settings, write);
  await encoder.encode(chunks(), format);
  return encoder.summary();
}

// The worker module sits next to this one: `.js` once compiled; `.ts` under tsx and vitest, where
// the worker loads the sources with tsx's require API (transformed on the worker's own thread: no
// extra loader thread, which would cost memory).
const workerModule = new URL(
  `./import-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
);
const WORKER_BOOT = `
const { workerData } = require('node:worker_threads');
if (workerData.tsx) require(workerData.tsx).require(workerData.module, workerData.module);
else import(workerData.module).catch((error) => setImmediate(() => { throw error; }));
`;

async function encodeInWorker(
  chunks: AsyncIterable<Uint8Array | string>,
  format: ImportFormat,
  settings: EncoderSettings,
  write: (batch: RowBatch) => Promise<void>,
): Promise<EncoderSummary> {
  const data: EncoderWorkerData = { settings, format };
  const worker = new Worker(WORKER_BOOT, {
    eval: true,
    // A small young generation keeps the extra thread's memory down; it has time to spare.
    resourceLimits: { maxYoungGenerationSizeMb: 8 },
    workerData: {
      ...(workerModule.pathname.endsWith('.ts')
        ? {
            module: fileURLToPath(workerModule),
            tsx: createRequire(import.meta.url).resolve('tsx/cjs/api'),
          }
        : { module: workerModule.href }),
      segsyncImportEncoder: data,
    },
  });
  const inbox: FromEncoder[] = [];
  let failure: Error | undefined;
  let exited = false;
  let wake: (() => void) | undefined;
  const signal = () => {
    const waiting = wake;
    wake = undefined;
    waiting?.();
  };
  worker.on('message', (message: FromEncoder) => {
    inbox.push(message);
    signal();
  });
  worker.on('error', (error) => {
    failure ??= error;
    signal();
  });
  worker.on('exit', () => {
    exited = true;
    signal();
  });
  const post = (message: ToEncoder, transfer?: ArrayBuffer[]) =>
    worker.postMessage(message, transfer);

  // Feed the file's bytes, at most CHUNKS_IN_FLIGHT ahead of the worker.
  let inFlight = 0;
  let stopped = false;
  let taken: (() => void) | undefined;
  void (async () => {
    for await (const chunk of chunks) {
      while (inFlight >= CHUNKS_IN_FLIGHT && !stopped) await new Promise<void>((r) => (taken = r));
      if (stopped) return;
      if (typeof chunk === 'string') post({ type: 'chunk', data: chunk });
      else {
        // A copy of its own to hand over: the chunk may be a view into a larger, shared buffer.
        const copy = new Uint8Array(chunk);
        post({ type: 'chunk', data: copy }, [copy.buffer]);
      }
      inFlight++;
    }
    post({ type: 'end' });
  })().catch((error: unknown) => {
    failure ??= error instanceof Error ? error : new Error(String(error));
    signal();
  });

  try {
    for (;;) {
      const message = inbox.shift();
      if (message === undefined) {
        if (failure !== undefined) throw failure;
        if (exited) throw new Error('the import worker stopped before the end of the file');
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      switch (message.type) {
        case 'pull': {
          inFlight--;
          const waiting = taken;
          taken = undefined;
          waiting?.();
          break;
        }
        case 'batch':
          // Let the worker prepare the next batch while this one is written.
          post({ type: 'ack' });
          await write(message);
          break;
        case 'done':
          return message.summary;
        case 'malformed':
          throw new MalformedFileError(message.line, message.detail);
        case 'failed': {
          const error = new Error(message.message);
          if (message.stack) error.stack = message.stack;
          throw error;
        }
      }
    }
  } finally {
    stopped = true;
    taken?.();
    // The feeding loop is not awaited: it stops at its next chunk and has nothing left to report.
    await worker.terminate();
  }
}
