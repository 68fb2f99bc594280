// The small parts of the report on hand-made inputs: the N largest of a stream, TTL buckets.
import { describe, expect, it } from 'vitest';
import { TopN } from '../src/analysis/top-n.js';
import { ttlBucket } from '../src/analysis/ttl-buckets.js';

describe('TopN', () => {
  it('keeps the n largest, largest first, ties in arrival order, and builds only what it keeps', () => {
    const top = new TopN<string>(3);
    let built = 0;
    const scores = [5, 1, 9, 5, 7, 2, 9, 5];
    scores.forEach((s, i) => top.offer(s, () => { built++; return `k${i}`; }));
    expect(top.sorted()).toEqual([{ score: 9, item: 'k2' }, { score: 9, item: 'k6' }, { score: 7, item: 'k4' }]);
    expect(top.threshold).toBe(7);
    expect(built).toBe(6); // k0 k1 k2 kept at first; k3 (5 > 1) replaces k1; k4, k6 go in; k5 (2) and k7 (5) do not
  });

  it('n = 0 keeps nothing; fewer items than n keeps them all', () => {
    const none = new TopN<number>(0);
    none.offer(1, () => 1);
    expect(none.sorted()).toEqual([]);
    const few = new TopN<number>(10);
    few.offer(1, () => 1);
    few.offer(3, () => 3);
    expect(few.sorted().map((x) => x.item)).toEqual([3, 1]);
    expect(few.threshold).toBe(-Infinity);
  });

  it('agrees with sorting everything on random streams', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 50; round++) {
      const scores = Array.from({ length: 200 }, () => Math.floor(rand() * 40));
      const top = new TopN<number>(17);
      scores.forEach((s, i) => top.offer(s, () => i));
      const expected = scores.map((score, item) => ({ score, item })).sort((a, b) => b.score - a.score || a.item - b.item).slice(0, 17);
      expect(top.sorted()).toEqual(expected);
    }
  });
});

describe('ttlBucket', () => {
  const saved = 1_700_000_000_000;
  it.each([
    [null, 'none'], [saved - 1, 'expired'], [saved, 'under-1h'], [saved + 3_599_999, 'under-1h'], [saved + 3_600_000, 'under-1d'],
    [saved + 86_399_999, 'under-1d'], [saved + 86_400_000, 'under-7d'], [saved + 7 * 86_400_000, 'longer'], [BigInt(saved) * 1000n, 'longer'],
  ] as const)('expire %s -> %s', (expire, bucket) => {
    expect(ttlBucket(expire, saved)).toBe(bucket);
  });
});
