// analyzeRdb: the whole report on a dump, read as a stream in bounded memory (the CLI's `report` and the
// browser inspector both call this).
import type { RdbByteSource } from '../rdb/parse.js';
import { readEvents, type ReadEventsOptions } from '../rdb/read-events.js';
import { MeasuredKeys, type MeasureOptions } from './measure-keys.js';
import { ReportBuilder, type RdbReport, type ReportOptions } from './report.js';

export interface AnalyzeOptions extends MeasureOptions, ReportOptions, Pick<ReadEventsOptions, 'verifyChecksum' | 'externalChecksum' | 'signal'> {
  /** Called after every chunk with the bytes read and the keys measured so far. */
  onProgress?: (progress: { bytes: number; keys: number }) => void;
}

/** Reads a dump and reports on it. Throws RdbError for a damaged file. */
export async function analyzeRdb(source: RdbByteSource, options: AnalyzeOptions = {}): Promise<RdbReport> {
  let keys = 0;
  const measured: MeasuredKeys = new MeasuredKeys(options, (r) => { keys++; report.add(r); });
  const report = new ReportBuilder(measured.ttlReference, options);
  const bytes = await readEvents(source, (b) => measured.consume(b), measured.metadata, {
    blobEvents: true,
    verifyChecksum: options.verifyChecksum,
    externalChecksum: options.externalChecksum,
    signal: options.signal,
    onProgress: options.onProgress && ((n) => options.onProgress!({ bytes: n, keys })),
  });
  return report.finish(measured.metadata, measured.model, bytes);
}
