// The core's count of keys that appear twice in a db (assembly/duplicate-keys.ts, what `parse --format
// jsonl` warns of) on files large enough for each of its paths: one table for a small db; blocks
// partitioned as they fill, the last one at the end; a db in several sections gathered. The JS count
// (DuplicateKeys, the other formats') is held to the same files.
import { describe, expect, it } from 'vitest';
import { CanonicalJsonl } from '../src/rdb/canonical-jsonl.js';
import { DuplicateKeys } from '../src/rdb/duplicate-keys.js';
import { handmade, str } from './helpers/handmade-rdb.js';

type Key = readonly [db: number, name: string];

/** An RDB string of any length (32-bit length) of ASCII text. */
function longStr(s: string): number[] {
  const out = [0x80, s.length >>> 24, (s.length >>> 16) & 0xff, (s.length >>> 8) & 0xff, s.length & 0xff];
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  return out;
}

/** String keys (value "v") in the given order, with a SELECTDB wherever the db changes. */
function rdb(keys: readonly Key[]): Uint8Array {
  const body: number[] = [];
  let db = -1;
  for (const [d, name] of keys) {
    if (d !== db) body.push(0xfe, (db = d));
    body.push(0);
    for (const b of name.length < 64 ? str(name) : longStr(name)) body.push(b);
    body.push(1, 0x76);
  }
  return handmade(body);
}

function coreRepeats(file: Uint8Array, chunk = file.length, inputBufferSize?: number): Map<number, number> {
  const c = CanonicalJsonl.createSync({ duplicateKeys: true, inputBufferSize });
  const sink = () => {};
  for (let i = 0; i < file.length; i += chunk) c.write(file.subarray(i, i + chunk), sink);
  c.end(sink);
  return c.repeatedKeys();
}

function jsRepeats(keys: readonly Key[]): Map<number, number> {
  const d = new DuplicateKeys();
  const encoder = new TextEncoder();
  for (const [db, name] of keys) d.add(db, encoder.encode(name));
  return d.perDb();
}

const names = (db: number, from: number, to: number, prefix = 'key:'): Key[] =>
  Array.from({ length: to - from }, (_, i) => [db, `${prefix}${from + i}`] as const);

describe("the core's duplicate-key count", () => {
  it('finds repeats in a db of 300,000 keys: in one block, across blocks, in the last block', () => {
    const keys: Key[] = names(0, 0, 300_000);
    keys.splice(1000, 0, [0, 'key:5']); // in the first block (131,072 keys)
    keys.splice(200_000, 0, [0, 'key:17']); // in the second
    keys.push([0, 'key:299990'], [0, 'key:131071'], [0, 'key:131072']); // in the third, partial one
    keys.push(...names(1, 0, 1000), [1, 'key:3']); // the same names in db 1 are no repeats; key:3 again is
    const expected = new Map([[0, 5], [1, 1]]);
    const file = rdb(keys);
    expect(coreRepeats(file)).toEqual(expected);
    expect(coreRepeats(file, 65_536)).toEqual(expected);
    expect(jsRepeats(keys)).toEqual(expected);
  });

  it('finds no repeat among 300,000 distinct keys', () => {
    expect(coreRepeats(rdb(names(0, 0, 300_000)))).toEqual(new Map());
  });

  it('gathers a db written in several sections (SELECTDB back to it)', () => {
    const keys: Key[] = [
      ...names(0, 0, 100_000), ...names(5, 0, 1000), ...names(0, 100_000, 200_000),
      [0, 'key:42'], [0, 'key:150000'], ...names(5, 500, 501), ...names(0, 199_999, 200_000), ...names(0, 200_000, 200_010),
    ];
    const expected = new Map([[0, 3], [5, 1]]);
    expect(coreRepeats(rdb(keys))).toEqual(expected);
    expect(jsRepeats(keys)).toEqual(expected);
  });

  it('keeps its count while keys too long for the input buffer grow scratch (which moves the key log up)', () => {
    const long = (c: string) => c.repeat(1_500_000);
    const keys: Key[] = [
      ...names(0, 0, 20_000), [0, long('x')], [0, 'key:7'], [0, long('y')], [0, long('x')], ...names(0, 20_000, 40_000), [0, 'key:19999'],
    ];
    // With a 4 KiB input buffer, a key longer than 2 KiB is gathered in scratch.
    expect(coreRepeats(rdb(keys), 65_536, 4096)).toEqual(new Map([[0, 3]]));
  });

  it('tells apart keys of every length that differ in their first or last byte', () => {
    const keys: Key[] = [[0, '']];
    for (let n = 1; n <= 40; n++) {
      keys.push([0, 'a'.repeat(n)], [0, `${'a'.repeat(n - 1)}b`]);
      if (n > 1) keys.push([0, `b${'a'.repeat(n - 1)}`]);
    }
    expect(coreRepeats(rdb(keys))).toEqual(new Map());
    for (let n = 0; n <= 40; n++) keys.push([0, 'a'.repeat(n)]);
    expect(coreRepeats(rdb(keys))).toEqual(new Map([[0, 41]]));
  });
});

describe('a check that runs out of memory', () => {
  /** DuplicateKeys' core instance (private), for its test-only limits. */
  const coreOf = (d: DuplicateKeys) => (d as unknown as { core: import('../src/core/wasm.js').RdbCoreExports }).core;

  it('counts a full block it could not partition when it filled (partitioned by the check), and says it is incomplete', () => {
    const d = new DuplicateKeys();
    // Room for one block of keys (1 MiB) and what noting them needs, not for partitioning it as it fills.
    coreOf(d).duplicatesLogLimit(1.5 * 2 ** 20);
    const BLOCK = 131072;
    const enc = new TextEncoder();
    // 100 repeats spread over the block, then keys the log has no room for (not noted).
    for (let i = 0; i < BLOCK; i++) d.add(0, enc.encode(i % 1000 === 999 ? `k${i - 500}` : `k${i}`));
    for (let i = 0; i < 10; i++) d.add(0, enc.encode(`more${i}`));
    coreOf(d).duplicatesLogLimit(0); // the check itself has memory
    expect(d.perDb()).toEqual(new Map([[0, Math.floor(BLOCK / 1000)]]));
    expect(d.gap()).toEqual({ keys: BLOCK, reason: 'memory' });
  });

  it('says it is complete when it is', () => {
    const d = new DuplicateKeys();
    d.add(0, new TextEncoder().encode('a'));
    d.add(0, new TextEncoder().encode('a'));
    expect(d.perDb()).toEqual(new Map([[0, 1]]));
    expect(d.gap()).toBeNull();
  });
});
