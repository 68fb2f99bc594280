// The analysis worker: reads the dropped file in chunks (File.stream(), gunzipped with the browser's
// DecompressionStream for a .gz name) through the same analyzeRdb the CLI's `report` uses, reports
// progress a few times a second, stops on request, and previews a key by reading the file again.
import { analyzeRdb, byteTextBytes, previewValue, type ByteText } from '../../src/browser.js';
import type { AnalysisOptions, FromWorker, Progress, ToWorker } from './protocol.js';

const scope = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker) => scope.postMessage(m);

/** Keys in each top list: the page shows and exports these. */
const TOP_KEYS = 100;
const PROGRESS_EVERY_MS = 100;

let file: File | null = null;
let running: AbortController | null = null;

/** How often reading gives way to the worker's messages (a file's chunks arrive without ever yielding). */
const YIELD_EVERY_MS = 50;

/**
 * The file's bytes as RDB: gunzipped when its name says so; `onRead` counts the file's own bytes. Every
 * 50 ms the stream waits for a macrotask, so that a Cancel (a message) is seen while a file is read.
 */
function rdbStream(f: File, onRead: (bytes: number) => void): ReadableStream<Uint8Array> {
  let read = 0;
  let lastYield = performance.now();
  const counted = f.stream().pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      read += chunk.length;
      onRead(read);
      controller.enqueue(chunk);
      if (performance.now() - lastYield > YIELD_EVERY_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
    },
  }));
  if (!/\.gz$/i.test(f.name)) return counted;
  // DecompressionStream is typed for any BufferSource; it is fed Uint8Arrays here.
  return counted.pipeThrough(new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
}

async function analyze(run: number, f: File, options: AnalysisOptions): Promise<void> {
  running?.abort();
  const stop = (running = new AbortController());
  file = f;
  const started = performance.now();
  const progress: Progress = { bytes: 0, total: f.size, keys: 0, elapsedMs: 0 };
  let lastPost = 0;
  const report = () => {
    const now = performance.now();
    if (now - lastPost < PROGRESS_EVERY_MS) return;
    lastPost = now;
    progress.elapsedMs = now - started;
    post({ type: 'progress', run, progress });
  };
  try {
    const result = await analyzeRdb(rdbStream(f, (bytes) => { progress.bytes = bytes; report(); }), {
      top: TOP_KEYS,
      prefixes: { separators: options.separators },
      model: options.model,
      quantum: options.quantum,
      signal: stop.signal,
      onProgress: ({ keys }) => { progress.keys = keys; report(); },
    });
    post({ type: 'report', run, report: result, elapsedMs: performance.now() - started });
  } catch (err) {
    if (stop.signal.aborted) post({ type: 'cancelled', run });
    else post({ type: 'error', run, message: err instanceof Error ? err.message : String(err) });
  } finally {
    if (running === stop) running = null;
  }
}

async function preview(id: number, db: number, key: ByteText): Promise<void> {
  if (!file) return;
  try {
    const found = await previewValue(rdbStream(file, () => {}), db, byteTextBytes(key), { limit: 20, maxBytes: 200 });
    post({ type: 'preview', id, preview: found });
  } catch (err) {
    post({ type: 'preview', id, preview: null, error: err instanceof Error ? err.message : String(err) });
  }
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'analyze') void analyze(m.run, m.file, m.options);
  else if (m.type === 'cancel') running?.abort();
  else if (m.type === 'preview') void preview(m.id, m.db, m.key);
};
