// The RDB serialization primitives (Redis src/rdb.c: rdbSaveLen, rdbSaveRawString, rdbSaveBinaryDoubleValue,
// rdbSaveMillisecondTime) written into one growing buffer that is reused from value to value.

export class RdbBytes {
  private buffer = new Uint8Array(4096);
  private view = new DataView(this.buffer.buffer);
  /** Bytes written so far. */
  length = 0;

  /** Starts over, keeping the memory. */
  reset(): void {
    this.length = 0;
  }

  /** What was written: a view, valid until the next write or reset. */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  byte(b: number): void {
    this.room(1);
    this.buffer[this.length++] = b;
  }

  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A length: 6 bits, 14 bits (big-endian), 32 bits or 64 bits big-endian after a marker byte. */
  len(n: number | bigint): void {
    if (typeof n === 'number' && n < 64) return this.byte(n);
    if (typeof n === 'number' && n < 16384) {
      this.byte(0x40 | (n >> 8));
      return this.byte(n & 0xff);
    }
    this.room(9);
    if (typeof n === 'number' && n <= 0xffffffff) {
      this.buffer[this.length++] = 0x80;
      this.view.setUint32(this.length, n);
      this.length += 4;
      return;
    }
    this.buffer[this.length++] = 0x81;
    this.view.setBigUint64(this.length, BigInt.asUintN(64, BigInt(n)));
    this.length += 8;
  }

  /** A string as its length and bytes (never integer-encoded or compressed: loaders accept both). */
  string(bytes: Uint8Array): void {
    this.len(bytes.length);
    this.raw(bytes);
  }

  /** A double as 8 bytes little-endian (ZSET_2 scores). */
  double(x: number): void {
    this.room(8);
    this.view.setFloat64(this.length, x, true);
    this.length += 8;
  }

  /** A 64-bit little-endian integer (millisecond times; -1 stays -1). */
  int64le(v: number | bigint): void {
    this.room(8);
    this.view.setBigInt64(this.length, BigInt.asIntN(64, BigInt(v)), true);
    this.length += 8;
  }

  uint16le(v: number): void {
    this.room(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }

  private room(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }
}
