// A listpack built element by element (Redis src/listpack.c): a 6-byte header (total bytes, element
// count), each element as its encoding, data and back-length, then the 0xFF end byte.
import { RdbBytes } from './rdb-bytes.js';

const HEADER = 6;
const END = 0xff;
/** The header's count when there are more elements than it can hold (readers then count them). */
const COUNT_UNKNOWN = 65535;

export class ListpackBuilder {
  private readonly out = new RdbBytes();
  private count = 0;

  constructor() {
    this.reset();
  }

  reset(): void {
    this.out.reset();
    for (let i = 0; i < HEADER; i++) this.out.byte(0);
    this.count = 0;
  }

  /** Bytes the listpack would take if finished now. */
  get size(): number {
    return this.out.length + 1;
  }

  get elements(): number {
    return this.count;
  }

  /** A signed 64-bit integer, in the smallest integer encoding that holds it. */
  integer(v: bigint): void {
    const start = this.out.length;
    if (v >= 0n && v <= 127n) this.out.byte(Number(v));
    else if (v >= -4096n && v <= 4095n) {
      const u = Number(BigInt.asUintN(13, v));
      this.out.byte(0xc0 | (u >> 8));
      this.out.byte(u & 0xff);
    } else if (v >= -32768n && v <= 32767n) this.littleEndian(0xf1, v, 2);
    else if (v >= -8388608n && v <= 8388607n) this.littleEndian(0xf2, v, 3);
    else if (v >= -2147483648n && v <= 2147483647n) this.littleEndian(0xf3, v, 4);
    else this.littleEndian(0xf4, v, 8);
    this.backLength(this.out.length - start);
  }

  /** A byte string, stored as a string (readers take integer-looking strings as they are). */
  string(bytes: Uint8Array): void {
    const start = this.out.length;
    const n = bytes.length;
    if (n < 64) this.out.byte(0x80 | n);
    else if (n < 4096) {
      this.out.byte(0xe0 | (n >> 8));
      this.out.byte(n & 0xff);
    } else {
      this.out.byte(0xf0);
      for (let i = 0; i < 4; i++) this.out.byte((n >>> (8 * i)) & 0xff);
    }
    this.out.raw(bytes);
    this.backLength(this.out.length - start);
  }

  /** Appends every element of another builder. */
  append(other: ListpackBuilder): void {
    this.out.raw(other.out.bytes().subarray(HEADER));
    this.count += other.count;
  }

  /** The finished listpack (a copy); the builder can then be reset and reused. */
  finish(): Uint8Array {
    this.out.byte(END);
    const bytes = this.out.bytes().slice();
    const header = new DataView(bytes.buffer);
    header.setUint32(0, bytes.length, true);
    header.setUint16(4, Math.min(this.count, COUNT_UNKNOWN), true);
    return bytes;
  }

  private littleEndian(encoding: number, v: bigint, bytes: number): void {
    this.out.byte(encoding);
    const u = BigInt.asUintN(8 * bytes, v);
    for (let i = 0; i < bytes; i++) this.out.byte(Number((u >> BigInt(8 * i)) & 0xffn));
  }

  /**
   * The element's size, 7 bits per byte, most significant first; all but the first byte have bit 7 set.
   * How many bytes follows listpack.c's thresholds exactly (16383 takes three): readers skip forward by them.
   */
  private backLength(body: number): void {
    const bytes = body <= 127 ? 1 : body < 16383 ? 2 : body < 2097151 ? 3 : body < 268435455 ? 4 : 5;
    for (let i = bytes - 1; i >= 0; i--) {
      const group = Math.floor(body / 2 ** (7 * i)) & 0x7f;
      this.out.byte(i === bytes - 1 ? group : group | 0x80);
    }
    this.count++;
  }
}
