// The parts of the report on hand-made inputs: the N largest of a stream, TTL buckets, expire times
// judged at the dump's save time.
import { describe, expect, it } from 'vitest';
import { TopN } from '../src/analysis/top-n.js';
import { ttlBucket } from '../src/analysis/ttl-buckets.js';
import { analyzeRdb } from '../src/analysis/analyze.js';
import type { RdbReport } from '../src/analysis/report.js';
import { CanonicalJsonl } from '../src/rdb/canonical-jsonl.js';
import { handmade, str } from './helpers/handmade-rdb.js';

describe('TopN', () => {
  it('keeps the n largest, largest first, ties in arrival order, and builds only what it keeps', () => {
    let built = 0;
    const top = new TopN(3, (i: number) => { built++; return `k${i}`; });
    const scores = [5, 1, 9, 5, 7, 2, 9, 5];
    scores.forEach((s, i) => top.offer(s, i));
    expect(top.sorted()).toEqual([{ score: 9, item: 'k2' }, { score: 9, item: 'k6' }, { score: 7, item: 'k4' }]);
    expect(top.threshold).toBe(7);
    expect(built).toBe(6); // k0 k1 k2 kept at first; k3 (5 > 1) replaces k1; k4, k6 go in; k5 (2) and k7 (5) do not
  });

  it('n = 0 keeps nothing; fewer items than n keeps them all', () => {
    const none = new TopN(0, (x: number) => x);
    none.offer(1, 1);
    expect(none.sorted()).toEqual([]);
    const few = new TopN(10, (x: number) => x);
    few.offer(1, 1);
    few.offer(3, 3);
    expect(few.sorted().map((x) => x.item)).toEqual([3, 1]);
    expect(few.threshold).toBe(-Infinity);
  });

  it('agrees with sorting everything on random streams', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 50; round++) {
      const scores = Array.from({ length: 200 }, () => Math.floor(rand() * 40));
      const top = new TopN(17, (i: number) => i);
      scores.forEach((s, i) => top.offer(s, i));
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

describe('expire times judged at the save time (a hand-made RDB 9)', () => {
  // ctime 1,700,000,000 s; "gone" expired a second before the save, "soon" expires 30 min after it.
  const saved = 1_700_000_000_000;
  const ms = (t: number) => [0xfc, ...Array.from({ length: 8 }, (_, i) => Number((BigInt(t) >> BigInt(8 * i)) & 0xffn))];
  const withCtime = handmade([0xfa, ...str('ctime'), ...str('1700000000')], ms(saved - 1000), [0, ...str('gone'), ...str('x')],
    ms(saved + 1_800_000), [0, ...str('soon'), ...str('y')], [0, ...str('kept'), ...str('z')]);
  const withoutCtime = handmade([0, ...str('kept'), ...str('z')], ms(saved - 1000), [0, ...str('gone'), ...str('x')]);
  const keysOf = (report: RdbReport) => report.top.byMemory.map((k) => k.key).sort();

  it('counts a key that had expired when the dump was saved as expired, and the others by their TTL', async () => {
    const report = await analyzeRdb(withCtime);
    expect(report.ttlReference).toEqual({ atMs: saved, source: 'saved' });
    expect(Object.fromEntries(report.ttl.map((b) => [b.bucket, b.keys]))).toEqual({ expired: 1, 'under-1h': 1, 'under-1d': 0, 'under-7d': 0, longer: 0, none: 1 });
  });

  it('selects expired or unexpired keys, in the report and in the fast JSONL path', async () => {
    expect(keysOf(await analyzeRdb(withCtime, { selection: { expired: true } }))).toEqual(['gone']);
    expect(keysOf(await analyzeRdb(withCtime, { selection: { expired: false } }))).toEqual(['kept', 'soon']);
    const lines: string[] = [];
    const jsonl = CanonicalJsonl.createSync({ selection: { expired: true } });
    const sink = (b: Uint8Array) => lines.push(new TextDecoder().decode(b));
    jsonl.write(withCtime, sink);
    jsonl.end(sink);
    expect(lines.join('')).toBe('{"db":0,"key":"gone","type":"string","expire_ms":1699999999000,"value":"x"}\n');
  });

  it('without a save time, measures from the analysis time', async () => {
    const report = await analyzeRdb(withoutCtime, { nowMs: saved });
    expect(report.ttlReference).toEqual({ atMs: saved, source: 'analysis' });
    expect(report.ttl.find((b) => b.bucket === 'expired')!.keys).toBe(1);
    expect(report.dump.savedAtMs).toBeNull();
  });
});
