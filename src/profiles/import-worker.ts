import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import {
  RowEncoder,
  type EncoderSettings,
  type EncoderSummary,
  type ImportFormat,
  type RowBatch,
} from './import-rows.js';
import { MalformedFileError } from './readers.js';

/**
 * The worker side of a large import: the main thread sends the file's bytes, this thread decodes,
 * parses and type-checks them (RowEncoder) and sends back batches of JSON documents, while the
 * main thread writes the previous batches to the database. Both directions are bounded, so memory
 * stays flat whatever the file size.
 */

/** What the main thread starts the worker with. */
export interface EncoderWorkerData {
  settings: EncoderSettings;
  format: ImportFormat;
}

/** Main thread to worker. */
export type ToEncoder =
  | { type: 'chunk'; data: Uint8Array | string }
  | { type: 'end' }
  /** The main thread has written one batch: the worker may send another. */
  | { type: 'ack' };

/** Worker to main thread. */
export type FromEncoder =
  /** The worker has taken one chunk: the main thread may send another. */
  | { type: 'pull' }
  | ({ type: 'batch' } & RowBatch)
  | { type: 'done'; summary: EncoderSummary }
  | { type: 'malformed'; line: number; detail: string }
  | { type: 'failed'; message: string; stack?: string };

/** Batches sent and not yet written: enough to keep both threads busy, little memory. */
export const BATCHES_IN_FLIGHT = 8;

/** Runs one import's RowEncoder over the chunks arriving on `port`. */
export async function runEncoder(port: MessagePort, data: EncoderWorkerData): Promise<void> {
  const chunks: (Uint8Array | string)[] = [];
  let ended = false;
  let credits = BATCHES_IN_FLIGHT;
  let wake: (() => void) | undefined;
  const send = (message: FromEncoder) => port.postMessage(message);
  port.on('message', (message: ToEncoder) => {
    if (message.type === 'chunk') chunks.push(message.data);
    else if (message.type === 'end') ended = true;
    else credits++;
    const waiting = wake;
    wake = undefined;
    waiting?.();
  });
  const waitForMessage = () => new Promise<void>((resolve) => (wake = resolve));
  async function* source(): AsyncGenerator<Uint8Array | string> {
    for (;;) {
      const chunk = chunks.shift();
      if (chunk !== undefined) {
        send({ type: 'pull' });
        yield chunk;
      } else if (ended) return;
      else await waitForMessage();
    }
  }
  const encoder = new RowEncoder(data.settings, async (batch) => {
    while (credits === 0) await waitForMessage();
    credits--;
    send({ type: 'batch', ...batch });
  });
  try {
    await encoder.encode(source(), data.format);
    send({ type: 'done', summary: encoder.summary() });
  } catch (error) {
    if (error instanceof MalformedFileError) {
      send({ type: 'malformed', line: error.line, detail: error.issues[0]?.message ?? '' });
    } else {
      const failure = error instanceof Error ? error : new Error(String(error));
      send({ type: 'failed', message: failure.message, stack: failure.stack });
    }
  }
}

const started = workerData as { segsyncImportEncoder?: EncoderWorkerData } | null;
if (parentPort && started?.segsyncImportEncoder) {
  void runEncoder(parentPort, started.segsyncImportEncoder);
}
