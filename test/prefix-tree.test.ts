// The prefix tree on hand-made key sets: the counts below are worked out by hand from the keys.
import { describe, expect, it } from 'vitest';
import { PrefixTree, segmentHash, type PrefixNode } from '../src/analysis/prefix-tree.js';

const enc = new TextEncoder();

/** Each key is added from the middle of a buffer padded with separators, which must not count. */
function tree(keys: Array<[string | Uint8Array, number]>, options = {}): PrefixTree {
  const t = new PrefixTree(options);
  for (const [k, bytes] of keys) {
    const key = typeof k === 'string' ? enc.encode(k) : k;
    const padded = new Uint8Array(key.length + 4).fill(0x3a);
    padded.set(key, 2);
    t.add(padded, 2, 2 + key.length, bytes);
  }
  return t;
}

/** The tree as [prefix, keys, memory, children...] for compact comparisons. */
type Shape = [string, number, number, ...Shape[]];
const shape = (n: PrefixNode): Shape => [n.prefix, n.keys, n.memory, ...n.children.map(shape)];

describe('PrefixTree', () => {
  const keys: Array<[string, number]> = [
    ['user:1:name', 100], ['user:1:mail', 50], ['user:2:name', 30], ['session:abc', 500], ['config', 7], ['user:', 3],
  ];

  it('counts every key under the root and under each prefix that ends at a separator', () => {
    expect(shape(tree(keys).report().root)).toEqual(
      ['', 6, 690,
        ['session:', 1, 500],
        ['user:', 3, 180,
          ['user:1:', 2, 150],
          ['user:2:', 1, 30]]]);
  });

  it('takes several separators, and stops at maxDepth', () => {
    const t = tree([['a:b/c:d', 10], ['a:b/e', 5], ['a/x', 1]], { separators: ':/', maxDepth: 2 });
    expect(shape(t.report().root)).toEqual(['', 3, 16, ['a:', 2, 15, ['a:b/', 2, 15]], ['a/', 1, 1]]);
  });

  it('admits no prefix beyond maxNodes: their keys count in the deepest admitted ancestor, counts stay exact', () => {
    const t = tree([['a:1:x', 1], ['a:2:x', 2], ['b:1', 4], ['a:1:y', 8], ['a:3:x', 16]], { maxNodes: 3 });
    const report = t.report();
    expect(report.truncated).toBe(true);
    expect(report.nodes).toBe(3);
    // a:, a:1:, a:2: were admitted; b: and a:3: were not (b:1 stays at the root, a:3:x under a:).
    expect(shape(report.root)).toEqual(['', 5, 31, ['a:', 4, 27, ['a:1:', 2, 9], ['a:2:', 1, 2]]]);
  });

  it('sorts children by memory, then by prefix, and cuts each level to maxChildren', () => {
    const t = tree([['c:1', 5], ['b:1', 5], ['a:1', 1], ['d:1', 9]]);
    expect(t.report(3).root.children.map((c) => c.prefix)).toEqual(['d:', 'b:', 'c:']);
  });

  it('keeps binary prefixes apart and shows them as UTF-8', () => {
    const t = tree([[Uint8Array.of(0x80, 0x3a, 0x31), 1], [Uint8Array.of(0x81, 0x3a, 0x31), 2], ['é:1', 4]]);
    const prefixes = t.report().root.children.map((c) => [c.prefix, c.memory]);
    expect(prefixes).toEqual([['é:', 4], ['\ufffd:', 2], ['\ufffd:', 1]]);
  });

  it('keeps apart two prefixes whose segments share a hash', () => {
    // Birthday search: among ~2^15 segments two share a 30-bit hash.
    const byHash = new Map<number, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; !pair; i++) {
      const segment = `s${i}:`;
      const other = byHash.get(segmentHash(enc.encode(segment)));
      if (other) pair = [other, segment];
      else byHash.set(segmentHash(enc.encode(segment)), segment);
    }
    const [a, b] = pair;
    expect(a).not.toBe(b);
    const t = tree([[`${a}1`, 1], [`${b}1`, 2], [`${a}2`, 4], [`${b}2:z`, 8]]);
    expect(shape(t.report().root)).toEqual(['', 4, 15, [b, 2, 10, [`${b}2:`, 1, 8]], [a, 2, 5]]);
  });

  it('refuses separators that are not single ASCII characters', () => {
    expect(() => new PrefixTree({ separators: '' })).toThrow(RangeError);
    expect(() => new PrefixTree({ separators: '→' })).toThrow(/not an ASCII character/);
  });
});
