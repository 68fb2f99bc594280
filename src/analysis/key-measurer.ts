// Reads the core's events (with blobEvents on) into one record per key: its type, size in elements, and
// the memory a model estimates for it. Nothing of a value is kept but running totals, so any dump can be
// measured in bounded memory. Millions of small keys go through here, so nothing is allocated per key:
// one MeasuredKey is filled and handed out for each, its key a view of the parser's memory (copied only
// when a key's events span two batches, which a later call into the parser would overwrite).
import * as abi from '../core/abi.js';
import type { EventBatch } from '../core/event-batch.js';
import { memberScore } from '../core/scores.js';
import { encodingOf, valueTypeOf } from '../rdb/encodings.js';
import type { RdbMetadata, RdbValueType } from '../rdb/entry.js';
import type { KeyPredicate } from '../rdb/key-filter.js';
import { MetadataReader } from '../rdb/metadata-reader.js';
import { canonicalInteger } from './memory/decimal.js';
import type { KeySizer } from './memory/key-sizer.js';
import { streamIdKey } from './memory/rax-nodes.js';

export interface KeyRecord {
  db: number;
  key: Uint8Array;
  type: RdbValueType;
  rdbType: number;
  /** The encoding in the file (listpack, ziplist, quicklist, intset, ...). */
  fileEncoding: string;
  /** The encoding the modelled server gives the value after loading it (OBJECT ENCODING). */
  encoding: string;
  /** Absolute expire time in Unix ms, or null. */
  expireMs: number | null;
  /** Elements: list items, members, hash fields, stream entries; a string's length in bytes. */
  elements: number;
  /** Bytes of the longest element (member, field or value, stream field or value); a string's length. */
  largestElement: number;
  /** Estimated memory in bytes (MEMORY USAGE). */
  memory: number;
}

/** Decimal digits of 0 <= m < 10^16, by comparisons (a loop or a logarithm costs more, millions of times). */
function digitCount(m: number): number {
  if (m < 1e8) {
    if (m < 1e4) return m < 1e2 ? (m < 10 ? 1 : 2) : m < 1e3 ? 3 : 4;
    return m < 1e6 ? (m < 1e5 ? 5 : 6) : m < 1e7 ? 7 : 8;
  }
  if (m < 1e12) return m < 1e10 ? (m < 1e9 ? 9 : 10) : m < 1e11 ? 11 : 12;
  return m < 1e14 ? (m < 1e13 ? 13 : 14) : m < 1e15 ? 15 : 16;
}

/** Decimal digits (and sign) of an integer, as Redis would print it. */
function decimalLength(b: EventBatch, i: number): number {
  const v = b.n1(i);
  const magnitude = Math.abs(v);
  if (magnitude >= 1e16) return b.integerText(i).length;
  return v < 0 ? digitCount(magnitude) + 1 : digitCount(magnitude);
}

const NO_BYTES: Uint8Array = new Uint8Array(0);

/** The key being reported: valid only during the call that receives it (the measurer reuses it). */
export class MeasuredKey implements KeyRecord {
  db = 0;
  type: RdbValueType = 'string';
  rdbType = -1;
  fileEncoding = '';
  encoding = '';
  expireMs: number | null = null;
  elements = 0;
  largestElement = 0;
  memory = 0;
  /** The key is keyBytes[keyStart, keyEnd): parser memory, or the measurer's copy. */
  keyBytes = NO_BYTES;
  keyStart = 0;
  keyEnd = 0;

  /** The key's bytes as a view, valid as long as the record. */
  get key(): Uint8Array {
    return this.keyBytes.subarray(this.keyStart, this.keyEnd);
  }

  /** A copy to keep after the call. */
  toRecord(): KeyRecord {
    const { db, type, rdbType, fileEncoding, encoding, expireMs, elements, largestElement, memory } = this;
    return { db, key: this.keyBytes.slice(this.keyStart, this.keyEnd), type, rdbType, fileEncoding, encoding, expireMs, elements, largestElement, memory };
  }
}

export class KeyMeasurer {
  private readonly meta = new MetadataReader();
  private db = 0;
  private readonly record = new MeasuredKey();
  /** Between a kept key's E_KEY and its E_KEY_END. */
  private open = false;
  private chunkBytes = 0;
  private pendingScoreText: string | null = null;
  /** Chosen at the first key kept. */
  private sizer: KeySizer | null = null;

  /**
   * `chooseSizer` is called once, at the first key, with what the file said before it (the AUX fields
   * that name its writer); `onKey` for every key once its value has been read (the record is reused:
   * `toRecord()` copies it); `keep`, when given, decides before a key's value whether it is measured at all.
   */
  constructor(
    private readonly chooseSizer: (metadata: RdbMetadata) => KeySizer,
    private readonly onKey: (record: MeasuredKey) => void,
    private readonly keep?: KeyPredicate,
  ) {}

  get metadata(): RdbMetadata {
    return this.meta.metadata;
  }

  consume(b: EventBatch): void {
    this.consumeEvents(b);
    // The next call into the parser may overwrite the bytes of a key whose value is not finished.
    const r = this.record;
    if (this.open && r.keyBytes === b.memory) {
      r.keyBytes = r.keyBytes.slice(r.keyStart, r.keyEnd);
      r.keyEnd -= r.keyStart;
      r.keyStart = 0;
    }
  }

  private consumeEvents(b: EventBatch): void {
    const r = this.record;
    for (let i = 0; i < b.count; i++) {
      const kind = b.kind(i);
      // The content of a key not kept is passed over.
      if (!this.open && ((kind >= abi.E_KEY_END && kind <= abi.E_MODULE_VALUE) || kind === abi.E_BLOB)) continue;
      switch (kind) {
        case abi.E_KEY: this.startKey(b, i); break;
        case abi.E_CHUNK: this.chunkBytes += b.len(i); break;
        case abi.E_VALUE: {
          const length = this.length(b, i);
          this.sizer!.string(length, this.integer(b, i));
          r.elements = length;
          r.largestElement = length;
          break;
        }
        case abi.E_LIST_ITEM: {
          const length = this.length(b, i);
          this.sizer!.listItem(length, this.integer(b, i));
          this.element(length);
          break;
        }
        case abi.E_SET_MEMBER: {
          const length = this.length(b, i);
          this.sizer!.setMember(length, this.integer(b, i));
          this.element(length);
          break;
        }
        case abi.E_SCORE_TEXT: this.pendingScoreText = b.text(i); break;
        case abi.E_ZSET_MEMBER: {
          const length = this.length(b, i);
          const score = memberScore(b, i, this.pendingScoreText);
          this.pendingScoreText = null;
          this.sizer!.zsetMember(length, this.integer(b, i), score);
          this.element(length);
          break;
        }
        case abi.E_HASH_FIELD: {
          const length = this.length(b, i);
          this.sizer!.hashField(length, this.integer(b, i));
          if (length > r.largestElement) r.largestElement = length;
          break;
        }
        case abi.E_HASH_VALUE: {
          const length = this.length(b, i);
          this.sizer!.hashValue(length, this.integer(b, i), (b.flags(i) & abi.F_EXPIRE) !== 0);
          this.element(length);
          break;
        }
        case abi.E_BLOB:
          if (b.aux(i) === abi.BLOB_STREAM_LISTPACK) this.sizer!.streamListpack(streamIdKey(b.n1Unsigned(i), b.n2Unsigned(i)), b.len(i));
          else this.sizer!.blob(b.aux(i), b.len(i));
          break;
        case abi.E_STREAM_ENTRY:
          this.sizer!.streamEntry(b.aux(i));
          r.elements++;
          break;
        case abi.E_STREAM_FIELD:
        case abi.E_STREAM_VALUE: {
          const length = this.length(b, i);
          if (length > r.largestElement) r.largestElement = length;
          break;
        }
        case abi.E_STREAM_GROUP: this.sizer!.streamGroup(); break;
        case abi.E_STREAM_PEL: this.sizer!.streamPending(streamIdKey(b.n1Unsigned(i), b.n2Unsigned(i))); break;
        case abi.E_STREAM_CONSUMER: this.sizer!.streamConsumer(b.len(i)); break;
        case abi.E_STREAM_CONSUMER_PEL: this.sizer!.streamConsumerPending(streamIdKey(b.n1Unsigned(i), b.n2Unsigned(i))); break;
        case abi.E_MODULE_VALUE: this.sizer!.moduleValue(b.n2(i)); break;
        case abi.E_KEY_END: this.endKey(); break;
        case abi.E_SELECT_DB: this.db = b.n1(i); break;
        default: this.meta.take(b, i, kind, this.db);
      }
    }
  }

  private startKey(b: EventBatch, i: number): void {
    const rdbType = b.aux(i);
    const expireMs = b.flags(i) & abi.F_EXPIRE ? b.n1(i) : null;
    if (this.keep && !this.keep(this.db, b.view(i), rdbType, expireMs)) return;
    // Keys always arrive as bytes (never F_INTEGER: their n1 is the expire time).
    const start = b.ptr(i);
    const length = b.len(i);
    (this.sizer ??= this.chooseSizer(this.meta.metadata)).begin(rdbType, length, expireMs !== null);
    const r = this.record;
    r.db = this.db;
    r.keyBytes = b.memory;
    r.keyStart = start;
    r.keyEnd = start + length;
    if (rdbType !== r.rdbType) {
      r.rdbType = rdbType;
      r.type = valueTypeOf(rdbType);
      r.fileEncoding = encodingOf(rdbType);
    }
    r.expireMs = expireMs;
    r.elements = 0;
    r.largestElement = 0;
    this.open = true;
  }

  private endKey(): void {
    const r = this.record;
    const estimate = this.sizer!.end();
    r.memory = estimate.bytes;
    r.encoding = estimate.encoding;
    this.open = false;
    this.onKey(r);
  }

  private element(length: number): void {
    const r = this.record;
    r.elements++;
    if (length > r.largestElement) r.largestElement = length;
  }

  /** Byte length of the event's string: chunks before it, decimal digits of an integer. */
  private length(b: EventBatch, i: number): number {
    const flags = b.flags(i);
    if (flags & abi.F_INTEGER) return decimalLength(b, i);
    if (flags & abi.F_CHUNKED) {
      const n = this.chunkBytes;
      this.chunkBytes = 0;
      return n;
    }
    return b.len(i);
  }

  /** The event's string as the integer Redis would store it as, or null. */
  private integer(b: EventBatch, i: number): number | null {
    const flags = b.flags(i);
    if (flags & abi.F_INTEGER) return b.n1(i);
    if (flags & abi.F_CHUNKED) return null;
    const p = b.ptr(i);
    return canonicalInteger(b.memory, p, p + b.len(i));
  }
}
