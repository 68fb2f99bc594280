// The high-level API: `for await (const entry of parseRdb(source))`.
import { RdbEventParser, type RdbParserOptions } from '../core/rdb-event-parser.js';
import { EntryBuilder, type EntryFilter } from './entry-builder.js';
import { RdbError } from '../core/errors.js';
import { checksumOptions, verifyChecksumWith, type ExternalChecksum } from '../core/external-checksum.js';
import type { RdbEntry, RdbMetadata } from './entry.js';

/** Anything that yields the bytes of an RDB: a buffer, a web stream or an async iterable of chunks. */
export type RdbByteSource = Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface ParseRdbOptions extends RdbParserOptions {
  /** Decides per key (before its value is assembled) whether to build it; skipped keys cost little. */
  filter?: EntryFilter;
  /**
   * Report bytes after the RDB's end (EOF marker and checksum) as an error. By default they are ignored,
   * as Redis does, and counted in metadata.trailingBytes (dumps captured from a diskless replication
   * stream end with the 40-byte EOF mark).
   */
  rejectTrailingData?: boolean;
  /** Called with the number of input bytes consumed so far, after every chunk. */
  onProgress?: (bytes: number) => void;
  /**
   * Verifies the checksum with what this returns (called when reading starts; null: the parser verifies
   * it itself) instead of inside the parser, e.g. on another thread. The Node entry does this for large files.
   */
  externalChecksum?: () => ExternalChecksum | null;
}

/** Splits a buffer into chunks so a large in-memory file still streams through bounded batches. */
function* chunksOf(buf: Uint8Array, size = 1 << 20): Generator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** Duck-typed, not instanceof: buffers and streams may come from another realm (a worker, an iframe). */
function isWebStream(source: RdbByteSource): source is ReadableStream<Uint8Array> {
  return typeof (source as ReadableStream).getReader === 'function';
}

/** The chunks of any byte source, in order. */
export async function* chunksFrom(source: RdbByteSource): AsyncGenerator<Uint8Array> {
  if (ArrayBuffer.isView(source)) {
    yield* chunksOf(new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
    return;
  }
  if (isWebStream(source)) {
    const reader = source.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  yield* source as AsyncIterable<Uint8Array>;
}

/** An RDB being read: iterate it for entries; `metadata` fills in as the file is read. */
export class RdbReader implements AsyncIterable<RdbEntry> {
  private readonly builder: EntryBuilder;

  constructor(private readonly source: RdbByteSource, private readonly options: ParseRdbOptions = {}) {
    this.builder = new EntryBuilder(options.filter);
  }

  get metadata(): RdbMetadata {
    return this.builder.metadata;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<RdbEntry> {
    const checksum = this.options.verifyChecksum === false ? null : this.options.externalChecksum?.() ?? null;
    try {
      const parser = await RdbEventParser.create({ ...this.options, ...checksumOptions(checksum) });
      yield* this.entriesFrom(parser);
      if (checksum && await verifyChecksumWith(parser, checksum)) this.builder.metadata.checksum = 'verified';
    } finally {
      checksum?.close();
    }
  }

  private async *entriesFrom(parser: RdbEventParser): AsyncGenerator<RdbEntry> {
    const sink = (batch: Parameters<EntryBuilder['consume']>[0]) => this.builder.consume(batch);
    let bytes = 0;
    for await (const chunk of chunksFrom(this.source)) {
      try {
        parser.write(chunk, sink);
      } finally {
        yield* this.builder.take();
      }
      bytes += chunk.length;
      this.options.onProgress?.(bytes);
      this.builder.metadata.trailingBytes = parser.trailingBytes;
      if (parser.trailingBytes > 0 && this.options.rejectTrailingData) {
        throw RdbError.of('trailing-data', parser.consumed, parser.trailingBytes);
      }
    }
    try {
      parser.end(sink);
    } finally {
      yield* this.builder.take();
    }
  }
}

/** Parses an RDB file or stream into entries, one per key, in file order. Throws RdbError. */
export function parseRdb(source: RdbByteSource, options: ParseRdbOptions = {}): RdbReader {
  return new RdbReader(source, options);
}

/** Parses a DUMP payload (as returned by the DUMP command) into the entry for `key`. */
export async function parseDump(payload: Uint8Array, key: Uint8Array = new Uint8Array(0), options: RdbParserOptions = {}): Promise<RdbEntry> {
  if (payload.length < 11) throw new RangeError('a DUMP payload is at least 11 bytes (type, value, version, CRC64)');
  const version = payload[payload.length - 10]! | (payload[payload.length - 9]! << 8);
  const parser = await RdbEventParser.create({ ...options, dump: { version } });
  const builder = new EntryBuilder();
  const sink = (batch: Parameters<EntryBuilder['consume']>[0]) => builder.consume(batch);
  parser.write(payload, sink);
  parser.end(sink);
  const [entry] = builder.take();
  return { ...entry!, key };
}
