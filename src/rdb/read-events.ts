// Reading a whole RDB source through the core into one event sink: chunks in order, progress, a way to
// stop, and the checksum verified inside the parser or by an ExternalChecksum.
import { checksumOptions, verifyChecksumWith, type ExternalChecksum } from '../core/external-checksum.js';
import { RdbEventParser, type EventSink, type RdbParserOptions } from '../core/rdb-event-parser.js';
import type { RdbMetadata } from './entry.js';
import { chunksFrom, type RdbByteSource } from './parse.js';

export interface ReadEventsOptions extends RdbParserOptions {
  /** Called with the number of input bytes read so far, after every chunk. */
  onProgress?: (bytes: number) => void;
  /** Awaited after every chunk: the consumer's backpressure (e.g. output waiting to be written). */
  drain?: () => Promise<void>;
  /** Stops reading between chunks: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Verifies the checksum with what this returns (null: the parser verifies it itself). */
  externalChecksum?: () => ExternalChecksum | null;
}

/**
 * Parses `source` to the end, passing every event batch to `sink`, then completes `metadata` (the sink's
 * view of the file): bytes after the RDB's end, and the checksum when verified elsewhere. Returns the
 * number of bytes read. Throws RdbError.
 */
export async function readEvents(source: RdbByteSource, sink: EventSink, metadata: RdbMetadata, options: ReadEventsOptions = {}): Promise<number> {
  const { onProgress, drain, signal, externalChecksum, ...parserOptions } = options;
  signal?.throwIfAborted();
  const checksum = parserOptions.verifyChecksum === false ? null : externalChecksum?.() ?? null;
  try {
    const parser = await RdbEventParser.create({ ...parserOptions, ...checksumOptions(checksum) });
    let bytes = 0;
    for await (const chunk of chunksFrom(source)) {
      parser.write(chunk, sink);
      bytes += chunk.length;
      onProgress?.(bytes);
      await drain?.();
      signal?.throwIfAborted();
    }
    parser.end(sink);
    metadata.trailingBytes = parser.trailingBytes;
    if (checksum && await verifyChecksumWith(parser, checksum)) metadata.checksum = 'verified';
    return bytes;
  } finally {
    checksum?.close();
  }
}
