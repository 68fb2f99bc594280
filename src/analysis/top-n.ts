// The N largest items of a stream by a score, in O(N) memory: a min-heap whose root is the smallest kept
// item, replaced when a larger one arrives. Ties keep the item that arrived first, so the result does not
// depend on anything but the input order. Items are built by `make` from what is offered, and only when
// kept: a stream of millions of small ones allocates nothing (not even a closure per offer).

export class TopN<A, T> {
  private readonly scores: number[] = [];
  private readonly items: T[] = [];
  private readonly arrivals: number[] = [];
  private arrived = 0;

  constructor(readonly n: number, private readonly make: (offered: A) => T) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`TopN: n must be an integer >= 0, got ${n}`);
  }

  /** Offers an item; it is built only if it is kept. */
  offer(score: number, offered: A): void {
    const arrival = this.arrived++;
    if (this.n === 0) return;
    if (this.scores.length < this.n) {
      this.scores.push(score);
      this.items.push(this.make(offered));
      this.arrivals.push(arrival);
      this.up(this.scores.length - 1);
    } else if (score > this.scores[0]!) {
      this.scores[0] = score;
      this.items[0] = this.make(offered);
      this.arrivals[0] = arrival;
      this.down(0);
    }
  }

  /** The smallest score kept, or -Infinity while fewer than n items were offered. */
  get threshold(): number {
    return this.scores.length < this.n ? -Infinity : this.scores[0]!;
  }

  /** The kept items, largest score first (equal scores: earlier arrival first). */
  sorted(): Array<{ score: number; item: T }> {
    return this.scores
      .map((score, i) => ({ score, item: this.items[i]!, arrival: this.arrivals[i]! }))
      .sort((a, b) => b.score - a.score || a.arrival - b.arrival)
      .map(({ score, item }) => ({ score, item }));
  }

  /** Whether heap slot a holds a "smaller" item than slot b (a lower score, or an equal one that came later). */
  private below(a: number, b: number): boolean {
    return this.scores[a]! < this.scores[b]! || (this.scores[a] === this.scores[b] && this.arrivals[a]! > this.arrivals[b]!);
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.below(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < this.scores.length && this.below(l, least)) least = l;
      if (r < this.scores.length && this.below(r, least)) least = r;
      if (least === i) return;
      this.swap(i, least);
      i = least;
    }
  }

  private swap(a: number, b: number): void {
    [this.scores[a], this.scores[b]] = [this.scores[b]!, this.scores[a]!];
    [this.items[a], this.items[b]] = [this.items[b]!, this.items[a]!];
    [this.arrivals[a], this.arrivals[b]] = [this.arrivals[b]!, this.arrivals[a]!];
  }
}
