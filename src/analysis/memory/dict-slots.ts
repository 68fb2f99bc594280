// How many bucket slots a Redis 7.0 dict (dict.c) has after a known series of expands and adds: the
// number MEMORY USAGE multiplies by 8. A dict grows by an incremental rehash into a second table; while
// it lasts both tables count, and it advances one bucket per add. A value dict is never touched after
// the load, so a rehash still running when a key's load ends stays that way. Which buckets are empty
// depends on a per-process hash seed, so the number of adds a rehash needs is taken as its expectation:
// the number of non-empty buckets, S * (1 - (1 - 1/S)^m) for m entries in S buckets
// (docs/memory-model.md, "How dict bucket arrays are sized").

const INITIAL_SIZE = 4;

/** The table size an expand to n entries asks for: 4, or the next power of two >= n. */
function tableSizeFor(n: number): number {
  if (n <= INITIAL_SIZE) return INITIAL_SIZE;
  return 2 ** Math.ceil(Math.log2(n));
}

export class DictSlots {
  private table0 = 0;
  private table1 = 0;
  private used = 0;
  private stepsNeeded = 0;
  private stepsDone = 0;

  get slots(): number {
    return this.table0 + this.table1;
  }

  private get rehashing(): boolean {
    return this.table1 !== 0;
  }

  /** dictExpand / dictTryExpand(n). */
  expand(n: number): void {
    if (this.rehashing || this.used > n) return;
    const size = tableSizeFor(n);
    if (size === this.table0) return;
    if (this.table0 === 0) {
      this.table0 = size;
      return;
    }
    this.table1 = size;
    this.stepsNeeded = Math.round(DictSlots.expectedNonEmpty(this.table0, this.used));
    this.stepsDone = 0;
  }

  /** dictAdd of a new entry. */
  add(): void {
    if (this.rehashing && ++this.stepsDone >= this.stepsNeeded) {
      this.table0 = this.table1;
      this.table1 = 0;
    }
    if (!this.rehashing) {
      if (this.table0 === 0) this.expand(INITIAL_SIZE);
      else if (this.used >= this.table0) this.expand(this.used + 1);
    }
    this.used++;
  }

  /** Buckets expected to hold at least one of m entries hashed at random into s buckets. */
  static expectedNonEmpty(s: number, m: number): number {
    return s * (1 - (1 - 1 / s) ** m);
  }

  /** A dict pre-sized to n and then filled with n entries: max(4, next power of two >= n) slots. */
  static presized(n: number): number {
    return tableSizeFor(n);
  }
}
