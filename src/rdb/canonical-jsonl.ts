// RDB → canonical JSON lines at full speed: the core writes every line itself (assembly/json/), so no JS
// object is built per key. The entry builder here only reads the file's metadata (AUX fields, checksum).
// Tests hold this path and the entry path (canonical-json.ts) to the same fixtures.
import { RdbEventParser, type RdbParserOptions } from '../core/rdb-event-parser.js';
import { loadRdbCore, type DuplicateCheckGap } from '../core/wasm.js';
import { verifyChecksumWith, type ExternalChecksum } from '../core/external-checksum.js';
import { EntryBuilder } from './entry-builder.js';
import { MetadataReader, savedAtMs } from './metadata-reader.js';
import { keyPredicate, ttlReferenceOf, type KeySelection } from './key-filter.js';
import type { RdbMetadata } from './entry.js';

const FLUSH_AT = 1 << 20;

/** Receives output: the bytes are only valid during the call (copy or write them synchronously). */
export type JsonlSink = (bytes: Uint8Array) => void;

export interface CanonicalJsonlOptions extends Omit<RdbParserOptions, 'canonicalJson'> {
  selection?: KeySelection;
  /**
   * Count the selected keys (module values included) that repeat one before them in their db, which Redis
   * refuses to load: repeatedKeys(). The core keeps a 64-bit fingerprint per key (8 bytes a key).
   */
  duplicateKeys?: boolean;
  /** Completed lines are passed out once this many bytes are ready (default 1 MiB). */
  flushAt?: number;
}

/** The core's options; `reference` tells when "expired" is judged (the dump's save time). */
function coreOptions(options: CanonicalJsonlOptions, reference: () => number): RdbParserOptions {
  const { dbs, types, minMemory, ...perKey } = options.selection ?? {};
  if (minMemory !== undefined) throw new RangeError('CanonicalJsonl cannot select by memory: it estimates none (use KeyMeasurer)');
  const keep = keyPredicate(perKey, reference);
  return {
    ...options,
    canonicalJson: {
      types, // module values have no canonical line: selected, they are counted (modulesLeftOut)
      dbs,
      keepKey: keep ? (db, rdbType, key, expireMs) => keep(db, key, rdbType, expireMs) : undefined,
      duplicateKeys: options.duplicateKeys,
    },
  };
}

export class CanonicalJsonl {
  private readonly builder = new EntryBuilder(() => false);
  private readonly parser: RdbEventParser;
  private readonly flushAt: number;

  private constructor(options: CanonicalJsonlOptions) {
    const reference = ttlReferenceOf(() => this.metadataSoFar());
    this.parser = RdbEventParser.createSync(coreOptions(options, () => reference().atMs));
    this.flushAt = options.flushAt ?? FLUSH_AT;
  }

  /**
   * What the file said before the current key: the core asks keepKey while it reads a batch the builder
   * has not seen yet, so a save time not in the builder's metadata may be in that batch.
   */
  private metadataSoFar(): RdbMetadata {
    if (savedAtMs(this.builder.metadata) !== null) return this.builder.metadata;
    const pending = new MetadataReader();
    const b = this.parser.batchInProgress;
    for (let i = 0; i < b.count; i++) pending.take(b, i, b.kind(i), 0);
    return pending.metadata;
  }

  static async create(options: CanonicalJsonlOptions = {}): Promise<CanonicalJsonl> {
    await loadRdbCore(); // compiled asynchronously (browsers' main threads); createSync then reuses it
    return new CanonicalJsonl(options);
  }

  static createSync(options: CanonicalJsonlOptions = {}): CanonicalJsonl {
    return new CanonicalJsonl(options);
  }

  get metadata(): RdbMetadata {
    const m = this.builder.metadata;
    m.trailingBytes = this.parser.trailingBytes;
    return m;
  }

  /**
   * Parses a chunk; passes out completed lines once a megabyte of them is ready. Throws RdbError, after
   * passing out the lines of every key read whole before the failure (all of them, however few).
   */
  write(chunk: Uint8Array, sink: JsonlSink): void {
    this.step(sink, () => this.parser.write(chunk, (batch) => this.builder.consume(batch)));
    this.drain(sink, this.flushAt);
  }

  /** Like write, but `read` fills the parser's input buffer directly (see RdbEventParser.fill). */
  fill(read: (into: Uint8Array) => number, sink: JsonlSink): number {
    const n = this.step(sink, () => this.parser.fill(read, (batch) => this.builder.consume(batch)));
    this.drain(sink, this.flushAt);
    return n;
  }

  /**
   * Ends the input and passes out the rest; throws a truncation error when the RDB was incomplete, after
   * the lines of the keys it held whole.
   */
  end(sink: JsonlSink): void {
    this.step(sink, () => this.parser.end((batch) => this.builder.consume(batch)));
    this.drain(sink, 0);
  }

  /** Selected module values read so far, which have no line. */
  get modulesLeftOut(): number {
    return this.parser.modulesLeftOut;
  }

  /**
   * With duplicateKeys: for each db with any, how many selected keys read so far repeat one before them in
   * it (the first 4,194,304 keys are checked).
   */
  repeatedKeys(): Map<number, number> {
    return this.parser.repeatedKeys();
  }

  /** After repeatedKeys(): null when it covered every key read, else how many it covered and why not all. */
  duplicateCheckGap(): DuplicateCheckGap | null {
    return this.parser.duplicateCheckGap();
  }

  /** Runs a parser call; if it fails, what was complete before the failure goes out before the error. */
  private step<T>(sink: JsonlSink, call: () => T): T {
    try {
      return call();
    } catch (err) {
      this.drain(sink, 0);
      throw err;
    }
  }

  /** After end(), when created with verifyChecksum: false: verifies the checksum with `checksum` (then closed). */
  async verifyChecksumWith(checksum: ExternalChecksum): Promise<void> {
    if (await verifyChecksumWith(this.parser, checksum)) this.builder.metadata.checksum = 'verified';
  }

  private drain(sink: JsonlSink, threshold: number): void {
    if (this.parser.canonicalOutputLength > threshold) {
      sink(this.parser.canonicalOutput());
      this.parser.canonicalOutputTaken();
    }
  }
}
