// Builds whole entries (entry.ts) from the core's events: the high-level API on top of the low-level one.
import * as abi from '../core/abi.js';
import type { EventBatch } from '../core/event-batch.js';
import type { Int64, RdbEntry, RdbMetadata, StreamGroup, StreamId, StreamValue } from './entry.js';
import { decodeModuleId, encodingOf, valueTypeOf } from './encodings.js';
import { MetadataReader } from './metadata-reader.js';
import { memberScore } from '../core/scores.js';
import type { KeyPredicate } from './key-filter.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A bigint as a number when exact. */
export function int64(v: bigint): Int64 {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v;
}

function streamId(ms: bigint, seq: bigint): StreamId {
  return `${ms}-${seq}`;
}

/** Decides which keys are assembled at all (the others are skipped cheaply), before a key's value is read. */
export type EntryFilter = KeyPredicate;

export class EntryBuilder {
  private readonly meta = new MetadataReader();
  /** Completed entries waiting to be taken. */
  ready: RdbEntry[] = [];

  private db = 0;
  private entry: RdbEntry | null = null;
  private chunks: Uint8Array[] = [];
  private pendingField: Uint8Array | null = null;
  private pendingScoreText: string | null = null;
  private stream: StreamValue | null = null;
  private group: StreamGroup | null = null;
  private consumer: StreamGroup['consumers'][number] | null = null;

  constructor(private readonly filter?: EntryFilter) {}

  get metadata(): RdbMetadata {
    return this.meta.metadata;
  }

  take(): RdbEntry[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /** The string an event owns: its bytes, or the chunks that preceded it. */
  private own(b: EventBatch, i: number): Uint8Array {
    if ((b.flags(i) & abi.F_CHUNKED) === 0) return b.bytes(i);
    const parts = this.chunks;
    this.chunks = [];
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  consume(b: EventBatch): void {
    for (let i = 0; i < b.count; i++) {
      const kind = b.kind(i);
      // The content of a key not being built (filtered out, or written elsewhere) is passed over.
      if (this.entry === null && kind >= abi.E_KEY_END && kind <= abi.E_MODULE_VALUE) {
        continue;
      }
      switch (kind) {
        case abi.E_KEY: this.startKey(b, i); break;
        case abi.E_CHUNK: this.chunks.push(b.bytes(i)); break;
        case abi.E_VALUE: (this.entry as { value: Uint8Array }).value = this.own(b, i); break;
        case abi.E_LIST_ITEM:
        case abi.E_SET_MEMBER: (this.entry as { value: Uint8Array[] }).value.push(this.own(b, i)); break;
        case abi.E_SCORE_TEXT: this.pendingScoreText = b.text(i); break;
        case abi.E_ZSET_MEMBER: {
          const member = this.own(b, i);
          const score = memberScore(b, i, this.pendingScoreText);
          this.pendingScoreText = null;
          (this.entry as { value: Array<[Uint8Array, number]> }).value.push([member, score]);
          break;
        }
        case abi.E_HASH_FIELD: this.pendingField = this.own(b, i); break;
        case abi.E_HASH_VALUE: {
          const e = this.entry as Extract<RdbEntry, { type: 'hash' }>;
          const field = this.pendingField!;
          e.value.push([field, this.own(b, i)]);
          if (b.flags(i) & abi.F_EXPIRE) e.fieldExpires.push([field, int64(b.n1Signed(i))]);
          this.pendingField = null;
          break;
        }
        case abi.E_KEY_END: this.endKey(); break;
        case abi.E_SELECT_DB: this.db = b.n1(i); break;
        default: this.other(b, i, kind);
      }
    }
  }

  private startKey(b: EventBatch, i: number): void {
    const rdbType = b.aux(i);
    const flags = b.flags(i);
    const key = b.bytes(i);
    if (this.filter && !this.filter(this.db, key, rdbType, flags & abi.F_EXPIRE ? b.n1(i) : null)) return;
    const type = valueTypeOf(rdbType);
    const e = {
      db: this.db,
      key,
      type,
      expireMs: flags & abi.F_EXPIRE ? int64(b.n1Signed(i)) : null,
      encoding: encodingOf(rdbType),
      rdbType,
    } as Record<string, unknown>;
    if (flags & abi.F_IDLE) e.idleSeconds = b.n2(i);
    if (flags & abi.F_FREQ) e.lfuFreq = b.n2(i);
    if (type === 'string') e.value = new Uint8Array(0);
    else if (type === 'hash') { e.value = []; e.fieldExpires = []; }
    else if (type === 'stream') {
      this.stream = { length: 0, lastId: '0-0', entries: [], groups: [] };
      e.value = this.stream;
    } else if (type !== 'module') e.value = [];
    this.entry = e as unknown as RdbEntry;
  }

  private endKey(): void {
    const e = this.entry!;
    if (e.type === 'stream') this.finishStream(e.value);
    this.ready.push(e);
    this.entry = null;
    this.stream = null;
    this.group = null;
    this.consumer = null;
  }

  /** Group PEL entries name their consumer through the consumers' own PELs. */
  private finishStream(s: StreamValue): void {
    for (const g of s.groups) {
      const owner = new Map<StreamId, Uint8Array>();
      for (const c of g.consumers) for (const id of c.pending) owner.set(id, c.name);
      for (const p of g.pending) p.consumer = owner.get(p.id) ?? null;
    }
  }

  private other(b: EventBatch, i: number, kind: number): void {
    const s = this.stream;
    if (this.meta.take(b, i, kind, this.db)) return;
    switch (kind) {
      case abi.E_MODULE_VALUE: {
        const id = b.n1Unsigned(i);
        const { name, version } = decodeModuleId(id);
        Object.assign(this.entry!, { moduleId: id, moduleName: name, moduleVersion: version, sizeBytes: b.n2(i) });
        break;
      }
      case abi.E_STREAM_ENTRY:
        s!.entries.push({ id: streamId(b.n1Unsigned(i), b.n2Unsigned(i)), fields: [] });
        break;
      case abi.E_STREAM_FIELD:
      case abi.E_STREAM_VALUE:
        s!.entries[s!.entries.length - 1]!.fields.push(b.bytes(i));
        break;
      case abi.E_STREAM_META: this.streamMeta(b, i, s!); break;
      case abi.E_STREAM_GROUP:
        this.group = { name: b.bytes(i), lastDeliveredId: streamId(b.n1Unsigned(i), b.n2Unsigned(i)), pending: [], consumers: [] };
        s!.groups.push(this.group);
        break;
      case abi.E_STREAM_PEL:
        this.group!.pending.push({ id: streamId(b.n1Unsigned(i), b.n2Unsigned(i)), consumer: null, deliveryTimeMs: 0, deliveryCount: 0 });
        break;
      case abi.E_STREAM_CONSUMER: {
        this.consumer = { name: b.bytes(i), seenTimeMs: int64(b.n1Signed(i)), pending: [] };
        if (b.flags(i) & abi.F_ACTIVE_TIME) this.consumer.activeTimeMs = int64(BigInt.asIntN(64, b.n2Unsigned(i)));
        this.group!.consumers.push(this.consumer);
        break;
      }
      case abi.E_STREAM_CONSUMER_PEL:
        this.consumer!.pending.push(streamId(b.n1Unsigned(i), b.n2Unsigned(i)));
        break;
      default:
        // Slot info, slot imports and other hints carry nothing the entry model needs.
        break;
    }
  }

  private streamMeta(b: EventBatch, i: number, s: StreamValue): void {
    const id = () => streamId(b.n1Unsigned(i), b.n2Unsigned(i));
    switch (b.aux(i)) {
      case abi.SM_LENGTH: s.length = int64(b.n1Unsigned(i)); break;
      case abi.SM_LAST_ID: s.lastId = id(); break;
      case abi.SM_FIRST_ID: s.firstId = id(); break;
      case abi.SM_MAX_DELETED_ID: s.maxDeletedId = id(); break;
      case abi.SM_ENTRIES_ADDED: s.entriesAdded = int64(b.n1Unsigned(i)); break;
      case abi.SM_GROUP_ENTRIES_READ:
        this.group!.entriesRead = b.flags(i) & abi.F_UNKNOWN ? null : int64(b.n1Unsigned(i));
        break;
      case abi.SM_NACK: {
        const p = this.group!.pending[this.group!.pending.length - 1]!;
        p.deliveryTimeMs = int64(b.n1Signed(i));
        p.deliveryCount = int64(b.n2Unsigned(i));
        break;
      }
    }
  }
}
