// The first elements of one key's value, read from a dump without building the value: the browser
// inspector's key preview. A key may hold millions of elements or a string of hundreds of megabytes, so
// only `limit` elements are kept, each cut to `maxBytes`; the rest are counted. Reading stops as soon as
// the key has been read.
import * as abi from '../core/abi.js';
import type { EventBatch } from '../core/event-batch.js';
import { memberScore } from '../core/scores.js';
import { byteText, compareBytes, type ByteText } from '../rdb/canonical-json.js';
import { encodingOf, valueTypeOf } from '../rdb/encodings.js';
import type { RdbValueType } from '../rdb/entry.js';
import { MetadataReader } from '../rdb/metadata-reader.js';
import type { RdbByteSource } from '../rdb/parse.js';
import { readEvents } from '../rdb/read-events.js';

/** One element: a string's bytes, a list or set item, [member, score], [field, value], [id, field, value, ...]. */
export type PreviewItem = Array<ByteText | number>;

export interface ValuePreview {
  db: number;
  key: ByteText;
  type: RdbValueType;
  /** The encoding in the file. */
  encoding: string;
  /** Absolute expire time in Unix ms, or null. */
  expireMs: number | null;
  /** Elements in the value (list items, members, fields, stream entries); a string's length in bytes. */
  elements: number;
  /** The first elements (a string: its first bytes). */
  items: PreviewItem[];
  /** Some bytes were left out: elements past `limit`, or the end of a long string or element. */
  truncated: boolean;
}

export interface PreviewOptions {
  /** Elements kept (default 20). */
  limit?: number;
  /** Bytes kept of each string (default 256; a string value: 4 times that). */
  maxBytes?: number;
  signal?: AbortSignal;
}

class Previewer {
  private readonly meta = new MetadataReader();
  private db = 0;
  private reading = false;
  private chunks: Uint8Array[] = [];
  /** Bytes of the chunked string read so far, and how many of them `chunks` keeps. */
  private chunkBytes = 0;
  private chunksKept = 0;
  private scoreText: string | null = null;
  /** Length of the string text() read last (the whole string, before any cut). */
  private lastLength = 0;
  result: ValuePreview | null = null;
  done = false;

  constructor(private readonly db0: number, private readonly key: Uint8Array, private readonly limit: number, private readonly maxBytes: number) {}

  get metadata() {
    return this.meta.metadata;
  }

  consume(b: EventBatch): void {
    for (let i = 0; i < b.count && !this.done; i++) {
      const kind = b.kind(i);
      if (kind === abi.E_SELECT_DB) this.db = b.n1(i);
      else if (kind === abi.E_KEY) this.startKey(b, i);
      else if (this.reading) this.element(b, i, kind);
      else this.meta.take(b, i, kind, this.db);
    }
  }

  private startKey(b: EventBatch, i: number): void {
    if (this.db !== this.db0 || compareBytes(b.view(i), this.key) !== 0) return;
    const rdbType = b.aux(i);
    this.reading = true;
    this.result = {
      db: this.db, key: byteText(this.key), type: valueTypeOf(rdbType), encoding: encodingOf(rdbType),
      expireMs: b.flags(i) & abi.F_EXPIRE ? b.n1(i) : null, elements: 0, items: [], truncated: false,
    };
  }

  private element(b: EventBatch, i: number, kind: number): void {
    const r = this.result!;
    switch (kind) {
      case abi.E_CHUNK: this.chunk(b, i); break;
      case abi.E_VALUE: {
        const bytes = this.text(b, i, this.maxBytes * 4);
        r.elements = this.lastLength;
        r.items.push([bytes]);
        break;
      }
      case abi.E_LIST_ITEM:
      case abi.E_SET_MEMBER: this.add([this.text(b, i, this.maxBytes)]); break;
      case abi.E_SCORE_TEXT: this.scoreText = b.text(i); break;
      case abi.E_ZSET_MEMBER: {
        const member = this.text(b, i, this.maxBytes);
        this.add([member, memberScore(b, i, this.scoreText)]);
        this.scoreText = null;
        break;
      }
      case abi.E_HASH_FIELD: this.add([this.text(b, i, this.maxBytes)]); break;
      case abi.E_HASH_VALUE: this.last()?.push(this.text(b, i, this.maxBytes)); break;
      case abi.E_STREAM_ENTRY: this.add([`${b.n1Unsigned(i)}-${b.n2Unsigned(i)}`]); break;
      case abi.E_STREAM_FIELD:
      case abi.E_STREAM_VALUE: this.last()?.push(this.text(b, i, this.maxBytes)); break;
      case abi.E_KEY_END: this.done = true; break;
    }
  }

  /** Starts an element: kept while fewer than `limit` are, else only counted. */
  private add(item: PreviewItem): void {
    const r = this.result!;
    r.elements++;
    if (r.items.length < this.limit) r.items.push(item);
    else r.truncated = true;
  }

  /** The element being read, if it is kept. */
  private last(): PreviewItem | undefined {
    const r = this.result!;
    return r.elements <= this.limit ? r.items[r.items.length - 1] : undefined;
  }

  private chunk(b: EventBatch, i: number): void {
    this.chunkBytes += b.len(i);
    if (this.chunksKept < this.maxBytes * 4) {
      const kept = b.view(i).slice(0, this.maxBytes * 4 - this.chunksKept);
      this.chunks.push(kept);
      this.chunksKept += kept.length;
    }
  }

  /** The event's string (or the chunks before it), its first `max` bytes. */
  private text(b: EventBatch, i: number, max: number): ByteText {
    let bytes: Uint8Array;
    if (b.flags(i) & abi.F_CHUNKED) {
      bytes = new Uint8Array(this.chunksKept);
      let at = 0;
      for (const c of this.chunks) { bytes.set(c, at); at += c.length; }
      this.lastLength = this.chunkBytes;
      this.chunks = [];
      this.chunkBytes = 0;
      this.chunksKept = 0;
    } else {
      bytes = b.view(i);
      this.lastLength = bytes.length;
    }
    if (this.lastLength > max || bytes.length > max) {
      this.result!.truncated = true;
      bytes = bytes.subarray(0, max);
    }
    return byteText(bytes);
  }
}

/**
 * The first elements of `key` in database `db` of a dump, or null when the dump has no such key. Reads
 * until the key has been read (a key near the end means reading the whole file).
 */
export async function previewValue(source: RdbByteSource, db: number, key: Uint8Array, options: PreviewOptions = {}): Promise<ValuePreview | null> {
  const previewer = new Previewer(db, key, options.limit ?? 20, options.maxBytes ?? 256);
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const sink = (b: EventBatch) => {
    previewer.consume(b);
    if (previewer.done) stop.abort();
  };
  try {
    await readEvents(source, sink, previewer.metadata, { signal, verifyChecksum: false });
  } catch (err) {
    if (!stop.signal.aborted || options.signal?.aborted) throw err;
  }
  return previewer.result;
}
