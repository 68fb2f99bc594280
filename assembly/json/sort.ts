// Heapsort of u32 record offsets with a caller-chosen order: no recursion, no allocation, O(n log n).

/** Unsigned bytewise order (memcmp; a prefix sorts first). */
export function compareBytes(a: usize, an: usize, b: usize, bn: usize): i32 {
  const n = an < bn ? an : bn;
  let i: usize = 0;
  while (i + 8 <= n) {
    const x = load<u64>(a + i);
    const y = load<u64>(b + i);
    if (x != y) {
      // the first differing byte decides: compare big-endian
      return bswap<u64>(x) < bswap<u64>(y) ? -1 : 1;
    }
    i += 8;
  }
  while (i < n) {
    const d = <i32>load<u8>(a + i) - <i32>load<u8>(b + i);
    if (d != 0) return d;
    i++;
  }
  return an < bn ? -1 : an > bn ? 1 : 0;
}

export const BY_A: i32 = 0; // the records' first string
export const BY_SCORE_THEN_A: i32 = 1; // the records' number as f64, ties by the first string

// Record layout shared with writer.ts: u32 aLen @0, u32 bLen @4, f64/i64 num @8, then A, then B at 32.
@inline function before(base: usize, r: u32, s: u32, order: i32): bool {
  const ra = base + <usize>r;
  const sa = base + <usize>s;
  if (order == BY_SCORE_THEN_A) {
    const x = load<f64>(ra, 8);
    const y = load<f64>(sa, 8);
    if (x < y) return true;
    if (x > y) return false;
  }
  return compareBytes(ra + 32, <usize>load<u32>(ra), sa + 32, <usize>load<u32>(sa)) < 0;
}

function siftDown(arr: usize, start: usize, end: usize, base: usize, order: i32): void {
  let root = start;
  while (true) {
    let child = root * 2 + 1;
    if (child >= end) return;
    const c = load<u32>(arr + (child << 2));
    if (child + 1 < end) {
      const c2 = load<u32>(arr + ((child + 1) << 2));
      if (before(base, c, c2, order)) child++;
    }
    const r = load<u32>(arr + (root << 2));
    const big = load<u32>(arr + (child << 2));
    if (!before(base, r, big, order)) return;
    store<u32>(arr + (root << 2), big);
    store<u32>(arr + (child << 2), r);
    root = child;
  }
}

/** Sorts n record offsets (relative to base) at arr. */
export function sortRecords(arr: usize, n: usize, base: usize, order: i32): void {
  if (n < 2) return;
  for (let start = (n - 2) / 2 + 1; start > 0; start--) siftDown(arr, start - 1, n, base, order);
  for (let end = n - 1; end > 0; end--) {
    const t = load<u32>(arr);
    store<u32>(arr, load<u32>(arr + (end << 2)));
    store<u32>(arr + (end << 2), t);
    siftDown(arr, 0, end, base, order);
  }
}
