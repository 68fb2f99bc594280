// A snapshot's keys with their values as the snapshot holds them, found through the core's value spans:
// for copying into another server with RESTORE, where building entries and encoding them again would
// cost more than the copy (and make the server rebuild packed values element by element).
import * as abi from '../core/abi.js';
import type { EventBatch } from '../core/event-batch.js';
import { int64 } from '../rdb/entry-builder.js';
import type { Int64 } from '../rdb/entry.js';

export interface RawEntry {
  db: number;
  key: Uint8Array;
  /** The RDB type code as written (Valkey's own codes + 256, as elsewhere). */
  rdbType: number;
  /** Absolute expire time in Unix ms, or null. */
  expireMs: Int64 | null;
  /** The type byte and the value's bytes as stored: a DUMP payload without its version and CRC64. */
  body: Uint8Array;
  /** Elements the core delivered for the value (0: an empty collection, which a loading server drops). */
  elements: number;
}

interface Retained {
  start: number;
  bytes: Uint8Array;
}

export class RawEntryCollector {
  /** The snapshot's RDB version and flavor (from its header). */
  rdbVersion = 0;
  flavor: 'redis' | 'valkey' = 'redis';
  ready: RawEntry[] = [];
  private db = 0;
  private open: { key: Uint8Array; rdbType: number; expireMs: Int64 | null; start: number } | null = null;
  /** Copies of the snapshot's bytes from the earliest one a value still to come may start at. */
  private retained: Retained[] = [];
  /** Where the last value ended: the next one starts after it. */
  private lastEnd = 0;

  /** Keeps a copy of the snapshot's next bytes, starting at offset `at`; call before the parser sees them. */
  append(bytes: Uint8Array, at: number): void {
    this.retained.push({ start: at, bytes: bytes.slice() });
  }

  take(): RawEntry[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }

  consume(b: EventBatch): void {
    for (let i = 0; i < b.count; i++) {
      switch (b.kind(i)) {
        case abi.E_HEADER:
          this.rdbVersion = b.n1(i);
          this.flavor = b.aux(i) === abi.FLAVOR_VALKEY ? 'valkey' : 'redis';
          break;
        case abi.E_SELECT_DB: this.db = b.n1(i); break;
        case abi.E_KEY:
          this.open = { key: b.bytes(i), rdbType: b.aux(i), expireMs: b.flags(i) & abi.F_EXPIRE ? int64(b.n1Signed(i)) : null, start: -1 };
          break;
        case abi.E_VALUE_SPAN: this.open!.start = b.n1(i); break;
        case abi.E_KEY_END: {
          const { key, rdbType, expireMs, start } = this.open!;
          const end = b.n2(i);
          this.ready.push({ db: this.db, key, rdbType, expireMs, body: this.body(rdbType, start, end), elements: b.n1(i) });
          this.open = null;
          this.lastEnd = end;
          break;
        }
      }
    }
    this.release();
  }

  /** The type byte followed by the stream's bytes [start, end). */
  private body(rdbType: number, start: number, end: number): Uint8Array {
    const out = new Uint8Array(1 + end - start);
    out[0] = rdbType & 0xff;
    let at = 1;
    for (const r of this.retained) {
      const from = Math.max(start, r.start);
      const to = Math.min(end, r.start + r.bytes.length);
      if (from >= to) continue;
      out.set(r.bytes.subarray(from - r.start, to - r.start), at);
      at += to - from;
    }
    if (at !== out.length) throw new Error(`internal: bytes ${start}-${end} of the snapshot were not kept`);
    return out;
  }

  /** Drops the copies wholly before where the next value can start. */
  private release(): void {
    const keepFrom = this.open ? this.open.start : this.lastEnd;
    let drop = 0;
    while (drop < this.retained.length) {
      const r = this.retained[drop]!;
      if (r.start + r.bytes.length > keepFrom) break;
      drop++;
    }
    if (drop > 0) this.retained.splice(0, drop);
  }
}
