// Messages between the page and its analysis worker. The worker holds the dropped file and does all the
// reading (the analysis, and each key preview); the page only renders.
import type { ByteText, MemoryModelName, RdbReport, ValuePreview } from '../../src/browser.js';

export interface AnalysisOptions {
  separators: string;
  /** Undefined: chosen from the dump's writer. */
  model?: MemoryModelName;
  quantum: 8 | 16;
}

export type ToWorker =
  | { type: 'analyze'; run: number; file: File; options: AnalysisOptions }
  | { type: 'cancel' }
  | { type: 'preview'; id: number; db: number; key: ByteText };

export interface Progress {
  /** Bytes of the file read (compressed bytes for a .gz file). */
  bytes: number;
  total: number;
  keys: number;
  elapsedMs: number;
}

/** `run` says which analysis a message is about: the page ignores those of one it has replaced. */
export type FromWorker =
  | { type: 'progress'; run: number; progress: Progress }
  | { type: 'report'; run: number; report: RdbReport; elapsedMs: number }
  | { type: 'cancelled'; run: number }
  | { type: 'error'; run: number; message: string }
  | { type: 'preview'; id: number; preview: ValuePreview | null; error?: string };
