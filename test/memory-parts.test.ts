// The memory model's building blocks against values derived by hand from jemalloc's and Redis's sources
// (docs/memory-model.md), and the Redis 7.0 sizes the notes checked on a live server.
import { describe, expect, it } from 'vitest';
import { sdsSize, sizeClass } from '../src/analysis/memory/allocator.js';
import { canonicalInteger, redisScoreText } from '../src/analysis/memory/decimal.js';
import { DictSlots } from '../src/analysis/memory/dict-slots.js';
import { listpackEntrySize } from '../src/analysis/memory/listpack-size.js';
import { raxNodes, streamIdKey } from '../src/analysis/memory/rax-nodes.js';
import { chooseMemoryModel } from '../src/analysis/memory/memory-model.js';

describe('jemalloc size classes', () => {
  it('quantum 16: 8, 16, 32, 48 ... four classes per doubling', () => {
    const classes = [1, 8, 9, 16, 17, 33, 49, 65, 129, 161, 513, 14337, 16385, 65537].map((n) => sizeClass(n, 16));
    expect(classes).toEqual([8, 8, 16, 16, 32, 48, 64, 80, 160, 192, 640, 16384, 20480, 81920]);
  });
  it('quantum 8 adds 24, 40 and 56 and is the same from 64 up', () => {
    expect([17, 25, 33, 41, 49, 57, 65, 100].map((n) => sizeClass(n, 8))).toEqual([24, 32, 40, 48, 56, 64, 80, 112]);
  });
  it('sds strings: header by length (an empty one is type 8), terminator, class', () => {
    expect([0, 1, 31, 32, 255, 256].map((n) => sdsSize(n, 16))).toEqual([8, 8, 48, 48, 320, 320]);
  });
});

describe('decimal texts Redis stores as integers', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  const of = (s: string) => canonicalInteger(bytes(s), 0, s.length);
  it('accepts canonical 64-bit decimals only', () => {
    expect(['0', '-1', '123'].map(of)).toEqual([0, -1, 123]);
    // at the ends of the range the value is a double (only its magnitude matters); the range check is exact
    expect(of('9223372036854775807')).toBeCloseTo(2 ** 63, -4);
    expect(of('-9223372036854775808')).toBeCloseTo(-(2 ** 63), -4);
    expect(['', '-', '-0', '01', '+1', '1.0', ' 1', '9223372036854775808', '-9223372036854775809', '123456789012345678901'].map(of)).toEqual(Array(10).fill(null));
  });
  it('stores scores as d2string prints them: integers within 2^62 (double2ll), else text', () => {
    expect([3, -2, 2 ** 52, 1e17, 2 ** 62, -(2 ** 62)].map((x) => redisScoreText(x).integer)).toEqual([3, -2, 2 ** 52, 1e17, 2 ** 62, -(2 ** 62)]);
    expect(redisScoreText(2 ** 63)).toEqual({ integer: null, length: 22 }); // %.17g: 9.2233720368547758e+18
  });
  it("Redis 7.0 prints the others with printf's %.17g", () => {
    // -7.25, 0.10000000000000001, 1e+20, -0, 1.0000000000000001e-05, 0.0001, 123456789.123, -1.5000000000000001e+300
    expect([-7.25, 0.1, 1e20, -0, 1e-5, 0.0001, 123456789.123, -1.5e300].map((x) => redisScoreText(x, 'printf17')))
      .toEqual([5, 19, 5, 2, 22, 6, 13, 24].map((length) => ({ integer: null, length })));
  });
  it("Redis 7.2 with fpconv_dtoa's shortest digits", () => {
    // -7.25, 0.1, 1e+20, -0, 0.00001, 0.0001, 123456789.123, -1.5e+300, 1e-7, 1234567.5, and 2^63 as its
    // 16 shortest digits padded with zeros (exponent 18 < 16 + 7), 1e+21
    expect([-7.25, 0.1, 1e20, -0, 1e-5, 0.0001, 123456789.123, -1.5e300, 1e-7, 1234567.5, 2 ** 63, 1e21].map((x) => redisScoreText(x, 'shortest')))
      .toEqual([5, 3, 5, 2, 7, 6, 13, 9, 4, 9, 19, 5].map((length) => ({ integer: null, length })));
  });
});

describe('listpack entries', () => {
  it('integers by range, strings by length, plus the back-length', () => {
    expect([0, 127, 128, -4096, 4096, 32767, 8388607, 2147483647, 2 ** 31].map((v) => listpackEntrySize(0, v))).toEqual([2, 2, 3, 3, 4, 4, 5, 6, 10]);
    expect([0, 63, 64, 125, 126, 4095, 4096].map((n) => listpackEntrySize(n, null))).toEqual([2, 65, 67, 128, 130, 4099, 4103]);
  });
});

describe('dict slots (Redis 7.0 dict.c)', () => {
  it('a dict converted with 4 entries, a 5th added, asked for 5 more, then filled: 24 slots (seen on the server)', () => {
    const d = new DictSlots();
    d.expand(4);
    for (let i = 0; i < 5; i++) d.add();
    d.expand(5);
    for (let i = 0; i < 5; i++) d.add();
    expect(d.slots).toBe(24);
  });
  it('grown one add at a time: 129 entries leave a rehash from 128 to 256 running (384, seen on the server)', () => {
    const d = new DictSlots();
    for (let i = 0; i < 129; i++) d.add();
    expect(d.slots).toBe(384);
    expect(DictSlots.presized(129)).toBe(256);
    expect(DictSlots.presized(3)).toBe(4);
  });
});

describe('rax nodes of stream IDs', () => {
  it('an empty rax is its head; one key is a compressed node and a leaf; keys differing in the last byte branch there', () => {
    expect(raxNodes([])).toBe(1);
    expect(raxNodes([streamIdKey(1n, 0n)])).toBe(2);
    // shared 15 bytes (one compressed node), a branching node, two leaves
    expect(raxNodes([streamIdKey(1n, 0n), streamIdKey(1n, 1n)])).toBe(4);
  });
});

describe('choosing the memory model from the writer', () => {
  const chosen = (aux: Array<[string, string]>) => {
    const m = chooseMemoryModel(aux);
    return [m.name, m.reason];
  };
  it("takes the writer's family, or the nearest one and says so", () => {
    expect(chosen([['redis-ver', '6.2.14']])).toEqual(['redis-6.2', 'written by Redis 6.2.14']);
    expect(chosen([['redis-ver', '5.0.7']])).toEqual(['redis-6.2', 'written by Redis 5.0.7 (no model of its own: the nearest, redis-6.2)']);
    expect(chosen([['redis-ver', '7.0.15']])[0]).toBe('redis-7.0');
    expect(chosen([['redis-ver', '7.2.4']])[0]).toBe('redis-7.2');
    expect(chosen([['redis-ver', '7.4.1']])[0]).toBe('redis-7.4');
    expect(chosen([['redis-ver', '8.0.2']])).toEqual(['redis-8.0', 'written by Redis 8.0.2']);
    expect(chosen([['redis-ver', '8.2.1']])).toEqual(['redis-8.2', 'written by Redis 8.2.1']);
    expect(chosen([['redis-ver', '8.4.0']])).toEqual(['redis-8.2', 'written by Redis 8.4.0 (no model of its own: the nearest, redis-8.2)']);
    // Valkey writes redis-ver 7.2.4 as well; valkey-ver decides.
    expect(chosen([['redis-ver', '7.2.4'], ['valkey-ver', '8.0.1']])).toEqual(['valkey-8.0', 'written by Valkey 8.0.1']);
    expect(chosen([['redis-ver', '7.2.4'], ['valkey-ver', '7.2.5']])).toEqual(['redis-7.2', 'written by Valkey 7.2.5']);
    expect(chosen([['valkey-ver', '8.1.2']])).toEqual(['valkey-8.1', 'written by Valkey 8.1.2']);
    expect(chosen([['valkey-ver', '9.0.0']])).toEqual(['valkey-9.0', 'written by Valkey 9.0.0']);
    expect(chosen([['valkey-ver', '9.1.0']])[1]).toBe('written by Valkey 9.1.0 (no model of its own: the nearest, valkey-9.0)');
    expect(chosen([])).toEqual(['redis-7.0', 'the dump does not say which server wrote it']);
  });
  it('a named model wins, an unknown name is refused', () => {
    expect(chooseMemoryModel([['redis-ver', '7.0.15']], { model: 'redis-6.2', quantum: 16 })).toEqual({ name: 'redis-6.2', quantum: 16, reason: 'chosen' });
    expect(() => chooseMemoryModel([], { model: 'redis-9.9' as never })).toThrow(/unknown memory model redis-9.9/);
  });
});
