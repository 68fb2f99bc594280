// Sorting a key's elements for canonical output: sets and hashes by bytes (memcmp), sorted sets by score
// then member. Each element gets a 32-byte sort entry holding its first 16 bytes as two big-endian words,
// so most comparisons never touch the element itself; runs are sorted by insertion, then merged
// bottom-up (stable, O(n log n), sequential memory access).
//
// Entry: u64 k0 @0, u64 k1 @8 (bytes 0-7 and 8-15, zero-padded), u32 record offset @16, u32 length @20
// (of the compared bytes, which start at record + RECORD_HEADER), and for sorted sets f64 score @24. Entries are
// 24 bytes, or 32 with a score: the merge passes move them, so smaller is faster.

/** Bytes per sort entry, set by setEntryLayout before entries are made. */
export let entrySize: usize = 24;
export const ENTRY_MAX: usize = 32;
export const ENTRY_OFFSET: usize = 16;
/** Bytes before a record's first string (writer.ts: u32 aLen, u32 bLen, 8-byte number). */
export const RECORD_HEADER: usize = 16;

/** Unsigned bytewise order (memcmp; a prefix sorts first). */
export function compareBytes(a: usize, an: usize, b: usize, bn: usize): i32 {
  const n = an < bn ? an : bn;
  let i: usize = 0;
  while (i + 8 <= n) {
    const x = load<u64>(a + i);
    const y = load<u64>(b + i);
    if (x != y) return bswap<u64>(x) < bswap<u64>(y) ? -1 : 1;
    i += 8;
  }
  while (i < n) {
    const d = <i32>load<u8>(a + i) - <i32>load<u8>(b + i);
    if (d != 0) return d;
    i++;
  }
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/** Big-endian word of up to 8 bytes at p (n available), zero-padded: word order = memcmp order. */
@inline function prefixWord(p: usize, n: usize): u64 {
  if (n == 0) return 0;
  let x = load<u64>(p); // may read past the element: the arena keeps slack, and the excess is masked
  if (n < 8) x &= ((<u64>1) << ((<u64>n) << 3)) - 1;
  return bswap<u64>(x);
}

let byScore: bool = false;

/** Sorted sets order by score first and need the 32-byte entries. */
export function setEntryLayout(scored: bool): void {
  byScore = scored;
  entrySize = scored ? 32 : 24;
}

/** Fills the sort entry at e for the element of n bytes at p (record offset off). */
export function setEntry(e: usize, score: f64, p: usize, n: usize, off: u32): void {
  store<u64>(e, prefixWord(p, n < 8 ? n : 8));
  store<u64>(e, n > 8 ? prefixWord(p + 8, n - 8 < 8 ? n - 8 : 8) : 0, 8);
  store<u32>(e, off, 16);
  store<u32>(e, <u32>n, 20);
  if (byScore) store<f64>(e, score, 24);
}

/** An entry for an ID (ms, seq) — numeric order is word order — referring to offset ref. */
export function setIdEntry(e: usize, ms: u64, seq: u64, ref: u32): void {
  store<u64>(e, ms);
  store<u64>(e, seq, 8);
  store<u32>(e, ref, 16);
  store<u32>(e, 16, 20);
}
let recordsBase: usize = 0;

@inline function less(a: usize, b: usize): bool {
  if (byScore) {
    const x = load<f64>(a, 24);
    const y = load<f64>(b, 24);
    if (x != y) return x < y;
  }
  const a0 = load<u64>(a);
  const b0 = load<u64>(b);
  if (a0 != b0) return a0 < b0;
  const a1 = load<u64>(a, 8);
  const b1 = load<u64>(b, 8);
  if (a1 != b1) return a1 < b1;
  const an = <usize>load<u32>(a, 20);
  const bn = <usize>load<u32>(b, 20);
  // Equal zero-padded prefixes: when either is at most 16 bytes long it is a prefix of the other.
  if (an <= 16 || bn <= 16) return an < bn;
  const ra = recordsBase + <usize>load<u32>(a, 16) + RECORD_HEADER + 16;
  const rb = recordsBase + <usize>load<u32>(b, 16) + RECORD_HEADER + 16;
  return compareBytes(ra, an - 16, rb, bn - 16) < 0;
}

@inline function copyEntry(dst: usize, src: usize): void {
  store<u64>(dst, load<u64>(src));
  store<u64>(dst, load<u64>(src, 8), 8);
  store<u64>(dst, load<u64>(src, 16), 16);
  if (byScore) store<u64>(dst, load<u64>(src, 24), 24);
}

const RUN: usize = 16;

function insertionSort(arr: usize, from: usize, to: usize, tmp: usize): void {
  const ENTRY = entrySize;
  for (let i = from + 1; i < to; i++) {
    const e = arr + i * ENTRY;
    if (!less(e, e - ENTRY)) continue;
    copyEntry(tmp, e);
    let j = i;
    while (j > from && less(tmp, arr + (j - 1) * ENTRY)) {
      copyEntry(arr + j * ENTRY, arr + (j - 1) * ENTRY);
      j--;
    }
    copyEntry(arr + j * ENTRY, tmp);
  }
}

/**
 * Sorts n entries at arr, using tmp (room for n entries) as the merge buffer. Returns where the sorted
 * entries ended up (arr or tmp). base: the address record offsets are relative to.
 */
export function sortEntries(arr: usize, n: usize, tmp: usize, base: usize): usize {
  recordsBase = base;
  if (!byScore && n > RUN) {
    radixSort(arr, n, tmp);
    return arr;
  }
  return mergeSort(arr, n, tmp);
}

/** Byte d (0-15) of an entry's 16-byte big-endian prefix. */
@inline function prefixByte(e: usize, d: usize): usize {
  const w = d < 8 ? load<u64>(e) : load<u64>(e, 8);
  return <usize>((w >> (<u64>(56 - ((d & 7) << 3)))) & 0xff);
}

const COUNTS: usize = memory.data(256 * 4, 4);
const STACK_MAX: usize = 16 * 256 + 16;
const STACK: usize = memory.data(<i32>(STACK_MAX * 12), 4); // (start u32, count u32, depth u32)

/**
 * Most-significant-byte radix sort on the prefix words for byte-ordered entries: few passes over the
 * data, and a byte shared by a whole range (a common prefix) costs one counting pass. Ranges of at most
 * RUN entries, and ranges whose 16 prefix bytes are all equal, are finished by comparison sorts.
 */
function radixSort(arr: usize, n: usize, tmp: usize): void {
  const ENTRY = entrySize;
  let top: usize = 0;
  store<u32>(STACK, 0);
  store<u32>(STACK, <u32>n, 4);
  store<u32>(STACK, 0, 8);
  top = 1;
  while (top > 0) {
    top--;
    const start = <usize>load<u32>(STACK + top * 12);
    const count = <usize>load<u32>(STACK + top * 12, 4);
    const depth = <usize>load<u32>(STACK + top * 12, 8);
    const from = arr + start * ENTRY;
    if (count <= RUN) { insertionSort(from, 0, count, tmp); continue; }
    if (depth == 16) { mergeSortInPlace(from, count, tmp); continue; }
    memory.fill(COUNTS, 0, 256 * 4);
    for (let i: usize = 0; i < count; i++) {
      const c = COUNTS + (prefixByte(from + i * ENTRY, depth) << 2);
      store<u32>(c, load<u32>(c) + 1);
    }
    if (load<u32>(COUNTS + (prefixByte(from, depth) << 2)) == <u32>count) {
      // Every entry has this byte: look at the next one.
      store<u32>(STACK + top * 12, <u32>start);
      store<u32>(STACK + top * 12, <u32>count, 4);
      store<u32>(STACK + top * 12, <u32>(depth + 1), 8);
      top++;
      continue;
    }
    // Bucket starts, then scatter into tmp and copy back; sub-ranges go on the stack.
    let sum: u32 = 0;
    for (let b: usize = 0; b < 256; b++) {
      const c = load<u32>(COUNTS + (b << 2));
      store<u32>(COUNTS + (b << 2), sum);
      if (c > 1 && top < STACK_MAX) {
        store<u32>(STACK + top * 12, <u32>start + sum);
        store<u32>(STACK + top * 12, c, 4);
        store<u32>(STACK + top * 12, <u32>(depth + 1), 8);
        top++;
      }
      sum += c;
    }
    for (let i: usize = 0; i < count; i++) {
      const e = from + i * ENTRY;
      const c = COUNTS + (prefixByte(e, depth) << 2);
      const slot = load<u32>(c);
      store<u32>(c, slot + 1);
      copyEntry(tmp + <usize>slot * ENTRY, e);
    }
    memory.copy(from, tmp, count * ENTRY);
  }
}

/** Merge sort that leaves the result at arr. */
function mergeSortInPlace(arr: usize, n: usize, tmp: usize): void {
  const out = mergeSort(arr, n, tmp);
  if (out != arr) memory.copy(arr, out, n * entrySize);
}

function mergeSort(arr: usize, n: usize, tmp: usize): usize {
  const ENTRY = entrySize;
  for (let i: usize = 0; i < n; i += RUN) insertionSort(arr, i, i + RUN < n ? i + RUN : n, tmp);
  let src = arr;
  let dst = tmp;
  for (let width = RUN; width < n; width <<= 1) {
    for (let lo: usize = 0; lo < n; lo += width << 1) {
      const mid = lo + width < n ? lo + width : n;
      const hi = lo + (width << 1) < n ? lo + (width << 1) : n;
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        const a = src + i * ENTRY;
        const b = src + j * ENTRY;
        if (less(b, a)) { copyEntry(dst + k * ENTRY, b); j++; }
        else { copyEntry(dst + k * ENTRY, a); i++; }
        k++;
      }
      while (i < mid) { copyEntry(dst + k * ENTRY, src + i * ENTRY); i++; k++; }
      while (j < hi) { copyEntry(dst + k * ENTRY, src + j * ENTRY); j++; k++; }
    }
    const t = src; src = dst; dst = t;
  }
  return src;
}
