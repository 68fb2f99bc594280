// Read access to the packed event records the core wrote (layout: abi.ts). Byte strings are views
// into WebAssembly memory: valid only until the next call into the parser, so copy (bytes → slice)
// or decode (text) what must outlive the callback.
import { EVENT_SIZE, F_INTEGER } from './abi.js';

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let k = 0; k < s.length; k++) out[k] = s.charCodeAt(k);
  return out;
}
const TWO_32 = 4294967296;

export class EventBatch {
  /** Number of events in this batch. */
  count = 0;
  private u8!: Uint8Array;
  private u32!: Uint32Array;
  private i32!: Int32Array;
  private f64!: Float64Array;
  private base = 0; // index of the first record in u32 units
  private buffer: ArrayBufferLike | undefined;

  /** Re-targets the batch at the module's memory (views are re-created after memory.grow). */
  reset(memory: WebAssembly.Memory, eventsPtr: number, count: number): void {
    if (memory.buffer !== this.buffer) {
      this.buffer = memory.buffer;
      this.u8 = new Uint8Array(memory.buffer);
      this.u32 = new Uint32Array(memory.buffer);
      this.i32 = new Int32Array(memory.buffer);
      this.f64 = new Float64Array(memory.buffer);
    }
    this.base = eventsPtr >>> 2;
    this.count = count;
  }

  /**
   * The records as 32-bit words, and where record i starts among them (word 1 ptr, 2 len, 3 aux, 4/5 n1
   * low/high, 6/7 n2 low/high): for hot loops that read several fields of many records in a row.
   */
  get words(): Uint32Array { return this.u32; }
  /** Module memory as bytes: an event's string is [ptr(i), ptr(i) + len(i)) in it (not for F_INTEGER). */
  get memory(): Uint8Array { return this.u8; }
  record(i: number): number { return this.base + i * (EVENT_SIZE >> 2); }

  kind(i: number): number { return this.u32[this.base + i * (EVENT_SIZE >> 2)]! & 0xffff; }
  flags(i: number): number { return this.u32[this.base + i * (EVENT_SIZE >> 2)]! >>> 16; }
  ptr(i: number): number { return this.u32[this.base + i * (EVENT_SIZE >> 2) + 1]!; }
  len(i: number): number { return this.u32[this.base + i * (EVENT_SIZE >> 2) + 2]!; }
  aux(i: number): number { return this.u32[this.base + i * (EVENT_SIZE >> 2) + 3]!; }

  /** n1 as a number (exact below 2^53; use n1BigInt for 64-bit identifiers). */
  n1(i: number): number {
    const at = this.base + i * (EVENT_SIZE >> 2) + 4;
    return this.i32[at + 1]! * TWO_32 + this.u32[at]!;
  }
  n2(i: number): number {
    const at = this.base + i * (EVENT_SIZE >> 2) + 6;
    return this.i32[at + 1]! * TWO_32 + this.u32[at]!;
  }
  /** The low and high 32 bits of n1, for events that pack two numbers into it. */
  n1Low(i: number): number { return this.u32[this.base + i * (EVENT_SIZE >> 2) + 4]!; }
  n1High(i: number): number { return this.u32[this.base + i * (EVENT_SIZE >> 2) + 5]!; }
  /** n1/n2 as unsigned 64-bit (stream IDs, counters). */
  n1Unsigned(i: number): bigint { return this.u64(this.base + i * (EVENT_SIZE >> 2) + 4); }
  n2Unsigned(i: number): bigint { return this.u64(this.base + i * (EVENT_SIZE >> 2) + 6); }
  /** n1 as signed 64-bit. */
  n1Signed(i: number): bigint { return BigInt.asIntN(64, this.n1Unsigned(i)); }
  /** n1 as the f64 it holds (sorted-set scores). */
  score(i: number): number { return this.f64[(this.base >>> 1) + i * (EVENT_SIZE >> 3) + 2]!; }

  private u64(at: number): bigint {
    return (BigInt(this.u32[at + 1]!) << 32n) | BigInt(this.u32[at]!);
  }

  /**
   * True when the event's string was stored as an integer: it has no bytes in memory, its value is n1,
   * and view/bytes/text produce its decimal text on demand.
   */
  isInteger(i: number): boolean {
    return (this.flags(i) & F_INTEGER) !== 0;
  }

  /** The decimal text of an integer string (exact for all 64-bit values). */
  integerText(i: number): string {
    const n = this.n1(i);
    return Number.isSafeInteger(n) ? String(n) : this.n1Signed(i).toString();
  }

  /** The event's byte string as a view into WebAssembly memory (valid until the next parser call). */
  view(i: number): Uint8Array {
    if (this.isInteger(i)) return asciiBytes(this.integerText(i));
    const p = this.ptr(i);
    return this.u8.subarray(p, p + this.len(i));
  }
  /** The event's byte string, copied. */
  bytes(i: number): Uint8Array {
    if (this.isInteger(i)) return asciiBytes(this.integerText(i));
    const p = this.ptr(i);
    return this.u8.slice(p, p + this.len(i));
  }
  /** A copy of module memory [start, end), for bytes that several events point into. */
  copyBytes(start: number, end: number): Uint8Array {
    return this.u8.slice(start, end);
  }
  /** A copy of the 32-bit words of module memory [start, end) (addresses, 4-byte aligned). */
  copyWords(start: number, end: number): Uint32Array {
    return this.u32.slice(start >>> 2, end >>> 2);
  }

  /** The event's byte string decoded as UTF-8 (invalid sequences become U+FFFD). */
  text(i: number): string {
    return this.isInteger(i) ? this.integerText(i) : utf8.decode(this.view(i));
  }
}
