// Valkey 8.1+'s hashtable (src/hashtable.c), what MEMORY USAGE counts for it: the struct, its metadata and
// 64 bytes per bucket, child buckets included. A table sized for n entries has 2^ceil(log2(ceil(n * 5/32)))
// buckets of 7 entries; a bucket that receives more chains child buckets (a full bucket gives its last
// slot to the child's pointer). Which bucket an entry lands in depends on a per-process hash seed, so
// the number of children is its expectation over a binomial spread of n entries into the buckets.

const HASHTABLE = 72;
const BUCKET = 64;
const ENTRIES_PER_BUCKET = 7;

/** Buckets of a table sized for n entries (nextBucketExp). */
export function hashtableBuckets(n: number): number {
  if (n === 0) return 0;
  const minBuckets = Math.ceil((n * 5) / 32);
  return minBuckets === 1 ? 1 : 2 ** Math.ceil(Math.log2(minBuckets));
}

/** Child buckets a bucket needs for x entries. */
function childrenFor(x: number): number {
  return x <= ENTRIES_PER_BUCKET ? 0 : Math.ceil((x - ENTRIES_PER_BUCKET) / (ENTRIES_PER_BUCKET - 1));
}

/** Expected child buckets when n entries are hashed at random into b buckets. */
export function expectedChildBuckets(n: number, b: number): number {
  if (b === 0) return 0;
  if (b === 1) return childrenFor(n);
  const p = 1 / b;
  let probability = Math.exp(n * Math.log1p(-p)); // P(X = 0)
  let expected = 0;
  let seen = probability;
  for (let x = 0; x < n && seen < 1 - 1e-12; x++) {
    probability *= ((n - x) / (x + 1)) * (p / (1 - p)); // P(X = x + 1)
    seen += probability;
    expected += probability * childrenFor(x + 1);
  }
  return b * expected;
}

/** hashtableMemUsage of a table pre-sized for and holding n entries, with `metadata` bytes. */
export function hashtableBytes(n: number, metadata: number): number {
  const buckets = hashtableBuckets(n);
  return HASHTABLE + metadata + BUCKET * (buckets + Math.round(expectedChildBuckets(n, buckets)));
}
