// jemalloc's size classes: what `zmalloc_size` (malloc_usable_size) reports for a request, which is what
// Redis's MEMORY USAGE adds up. Four classes per doubling; the quantum (the smallest step) is 8 bytes in
// the jemalloc Redis and Valkey bundle (--with-lg-quantum=3) and 16 in a system jemalloc such as
// Debian's (docs/memory-model.md, "The allocator").

export type Quantum = 8 | 16;

/** Bytes jemalloc hands out for a request of n bytes. */
export function sizeClass(n: number, quantum: Quantum): number {
  if (n <= TABLE_MAX) return (quantum === 8 ? table8 : table16)[n]!;
  return computeSizeClass(n, quantum);
}

// Most requests are small (keys, sds strings, entries): those are looked up, one table per quantum.
const TABLE_MAX = 4096;
const tableFor = (quantum: Quantum) => Uint32Array.from({ length: TABLE_MAX + 1 }, (_, n) => computeSizeClass(n, quantum));
const table8 = tableFor(8);
const table16 = tableFor(16);

function computeSizeClass(n: number, quantum: Quantum): number {
  if (n <= 8) return 8;
  // 2^p < n <= 2^(p+1); the step is a quarter of 2^p, but never below the quantum.
  const p = n <= 2 ** 32 ? 31 - Math.clz32(n - 1) : Math.floor(Math.log2(n - 1));
  const step = Math.max(quantum, 2 ** (p - 2));
  return Math.ceil(n / step) * step;
}

/** Header bytes of an sds string of the given length as Redis creates it (an empty one gets type 8). */
export function sdsHeader(length: number): number {
  if (length === 0) return 3;
  if (length < 32) return 1;
  if (length < 256) return 3;
  if (length < 65536) return 5;
  if (length < 2 ** 32) return 9;
  return 17;
}

/** Allocated size of an sds string created at exactly its length (what the RDB loader does). */
export function sdsSize(length: number, quantum: Quantum): number {
  return sizeClass(sdsHeader(length) + length + 1, quantum);
}
