// RDB → canonical JSON lines at full speed: the core writes the lines of strings, lists, sets, sorted
// sets and hashes itself; streams go through the entry builder and canonicalLine here. The lines of a
// dump are complete and exact either way (tests compare both paths with the fixtures).
import { RdbEventParser, type RdbParserOptions } from '../core/rdb-event-parser.js';
import { EntryBuilder } from './entry-builder.js';
import { canonicalLine } from './canonical-json.js';
import { keyFilter, type KeySelection } from './key-filter.js';
import { valueTypeOf } from './encodings.js';
import type { RdbMetadata, RdbValueType } from './entry.js';

const CORE_TYPES: ReadonlySet<RdbValueType> = new Set(['string', 'list', 'set', 'zset', 'hash']);
const FLUSH_AT = 1 << 20;

/** Receives output: the bytes are only valid during the call (copy or write them synchronously). */
export type JsonlSink = (bytes: Uint8Array) => void;

export interface CanonicalJsonlOptions extends Omit<RdbParserOptions, 'canonicalJson'> {
  selection?: KeySelection;
}

export class CanonicalJsonl {
  private readonly builder: EntryBuilder;
  private readonly encoder = new TextEncoder();

  private constructor(private readonly parser: RdbEventParser, selection: KeySelection) {
    const selected = keyFilter(selection);
    this.builder = new EntryBuilder((db, key, rdbType) =>
      !CORE_TYPES.has(valueTypeOf(rdbType)) && (!selected || selected(db, key, rdbType)));
  }

  private static coreOptions(options: CanonicalJsonlOptions): RdbParserOptions {
    const sel = options.selection ?? {};
    const pattern = sel.keyPattern;
    const utf8 = new TextDecoder();
    return {
      ...options,
      canonicalJson: {
        types: sel.types ? sel.types.filter((t): t is 'string' | 'list' | 'set' | 'zset' | 'hash' => CORE_TYPES.has(t)) : undefined,
        dbs: sel.dbs,
        keepKey: pattern ? (_db, _t, key) => pattern.test(utf8.decode(key)) : undefined,
      },
    };
  }

  static async create(options: CanonicalJsonlOptions = {}): Promise<CanonicalJsonl> {
    return new CanonicalJsonl(await RdbEventParser.create(CanonicalJsonl.coreOptions(options)), options.selection ?? {});
  }

  static createSync(options: CanonicalJsonlOptions = {}): CanonicalJsonl {
    return new CanonicalJsonl(RdbEventParser.createSync(CanonicalJsonl.coreOptions(options)), options.selection ?? {});
  }

  get metadata(): RdbMetadata {
    const m = this.builder.metadata;
    m.trailingBytes = this.parser.trailingBytes;
    return m;
  }

  get parserConsumed(): number {
    return this.parser.consumed;
  }

  /** Parses a chunk; passes out completed lines once a megabyte of them is ready. Throws RdbError. */
  write(chunk: Uint8Array, sink: JsonlSink): void {
    this.parser.write(chunk, (batch) => this.builder.consume(batch));
    this.drain(sink, FLUSH_AT);
  }

  /** Ends the input (throws a truncation error when the RDB was incomplete) and passes out the rest. */
  end(sink: JsonlSink): void {
    this.parser.end((batch) => this.builder.consume(batch));
    this.drain(sink, 0);
  }

  private drain(sink: JsonlSink, threshold: number): void {
    if (this.parser.canonicalOutputLength > threshold) {
      sink(this.parser.canonicalOutput());
      this.parser.canonicalOutputTaken();
    }
    const entries = this.builder.take();
    if (entries.length) {
      let text = '';
      for (const e of entries) {
        const line = canonicalLine(e);
        if (line !== null) text += `${line}\n`;
      }
      if (text) sink(this.encoder.encode(text));
    }
  }
}
