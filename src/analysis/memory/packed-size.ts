// Bytes of a packed container a loader builds by appending entries: a listpack (Redis 7.0 and later,
// src/listpack.c) or a ziplist (Redis 6.2 and earlier, src/ziplist.c). An element that is a canonical
// 64-bit decimal is stored as an integer in either.
import { LISTPACK_EMPTY, listpackEntrySize } from './listpack-size.js';

export type PackedFormat = 'listpack' | 'ziplist';

/** A ziplist's header (bytes, tail offset, length) and end byte. */
const ZIPLIST_EMPTY = 11;

/** Encoding + data bytes of a ziplist entry (zipTryEncoding, zipStoreEntryEncoding). */
function ziplistBody(length: number, integer: number | null): number {
  if (integer === null) return (length <= 63 ? 1 : length <= 16383 ? 2 : 5) + length;
  if (integer >= 0 && integer <= 12) return 1; // kept in the encoding byte itself
  if (integer >= -128 && integer <= 127) return 2;
  if (integer >= -32768 && integer <= 32767) return 3;
  if (integer >= -8388608 && integer <= 8388607) return 4;
  if (integer >= -2147483648 && integer <= 2147483647) return 5;
  return 9;
}

export class PackedSize {
  bytes: number;
  /** The last entry's size: a ziplist entry starts with it (1 byte below 254, else 5). */
  private previous = 0;

  constructor(readonly format: PackedFormat) {
    this.bytes = this.empty;
  }

  private get empty(): number {
    return this.format === 'listpack' ? LISTPACK_EMPTY : ZIPLIST_EMPTY;
  }

  reset(): void {
    this.bytes = this.empty;
    this.previous = 0;
  }

  /** Appends an element of `length` bytes (`integer`: its value when it is a canonical decimal). */
  add(length: number, integer: number | null): void {
    if (this.format === 'listpack') {
      this.bytes += listpackEntrySize(length, integer);
      return;
    }
    const entry = (this.previous < 254 ? 1 : 5) + ziplistBody(length, integer);
    this.bytes += entry;
    this.previous = entry;
  }
}

/**
 * What a list node is expected to grow by when a loader pushes an element of `length` bytes: the
 * quicklist's estimate for deciding whether it still fits (7.0: 8 bytes; 6.2: a ziplist's prevlen and
 * encoding for that length).
 */
export function pushOverhead(format: PackedFormat, length: number): number {
  if (format === 'listpack') return 8; // SIZE_ESTIMATE_OVERHEAD
  return (length < 254 ? 1 : 5) + (length < 64 ? 1 : length < 16384 ? 2 : 5);
}
