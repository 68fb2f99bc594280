// Hostile input: truncated, mutated and hand-built bogus files end in a typed RdbError (or a valid
// result) — never a hang, a crash of the WebAssembly instance, or memory beyond a fixed bound.
import { describe, expect, it } from 'vitest';
import { RdbError } from '../src/core/errors.js';
import { bytesOf, EXPECTED_ERRORS, fixtures } from './helpers/fixtures.js';
import { jsonlLines, parseBytes, rng } from './helpers/feed.js';
import { handmade, str } from './helpers/handmade-rdb.js';

const small = fixtures().filter((f) => f.size <= 4096 && !(f.name in EXPECTED_ERRORS));
const SCRATCH_LIMIT = 8 << 20;
/** Input 1 MiB + events + scratch limit + the module's own pages: what a parser may ever hold. */
const MEMORY_BOUND = (1 << 20) + (8192 * 32) + SCRATCH_LIMIT + (1 << 20);

type Outcome = { ok: true } | { ok: false; error: RdbError };

function attempt(data: Uint8Array, verifyChecksum = true, jsonl = false): Outcome {
  try {
    if (jsonl) {
      jsonlLines(data, { seed: data.length, max: 700 }, { verifyChecksum, maxScratchBytes: SCRATCH_LIMIT });
      return { ok: true };
    }
    const { parser } = parseBytes(data, 'whole', { verifyChecksum, maxScratchBytes: SCRATCH_LIMIT });
    expect(parser.memoryBytes).toBeLessThanOrEqual(MEMORY_BOUND);
    return { ok: true };
  } catch (e) {
    if (!(e instanceof RdbError)) throw e; // a wasm trap or a JS exception would be a bug
    return { ok: false, error: e };
  }
}

describe('truncation', () => {
  it.each(small.map((f) => [f.name, f] as const))('%s: every prefix is reported as truncated at its end', (_n, f) => {
    const data = bytesOf(f);
    const rdbEnd = parseBytes(data).parser.consumed; // bytes after it (a replication EOF mark) are not RDB
    for (let n = 0; n < rdbEnd; n++) {
      const r = attempt(data.subarray(0, n));
      expect(r.ok, `prefix of ${n} bytes`).toBe(false);
      if (!r.ok) {
        // A prefix too short to show the magic is still "truncated"; a wrong magic byte is not possible here.
        expect(r.error.kind, `prefix of ${n} bytes`).toBe('truncated');
        expect(r.error.offset).toBe(n);
      }
    }
  });
});

describe('random mutations', () => {
  it('thousands of mutated small fixtures end in a result or a typed error, within the memory bound', () => {
    const next = rng(20241121);
    const kinds = new Map<string, number>();
    let ok = 0;
    const parsable = small.filter((f) => f.expected !== null || !f.name.includes('corrupt'));
    for (let round = 0; round < 4000; round++) {
      const f = parsable[round % parsable.length]!;
      const data = bytesOf(f);
      const edits = 1 + Math.floor(next() * 4);
      for (let e = 0; e < edits; e++) data[Math.floor(next() * data.length)] = Math.floor(next() * 256);
      // Half without checksum verification (to reach deep into structures), a quarter through the
      // in-core JSON writer.
      const r = attempt(data, round % 2 === 0, round % 4 === 1);
      if (r.ok) ok++;
      else kinds.set(r.error.kind, (kinds.get(r.error.kind) ?? 0) + 1);
    }
    // The mix must reach deep into the structures, not stop at the magic or the checksum.
    expect(kinds.size).toBeGreaterThan(5);
    expect(ok + [...kinds.values()].reduce((a, b) => a + b, 0)).toBe(4000);
  });
});

describe('checksum', () => {
  const checksummed = small.filter((f) => {
    const d = bytesOf(f);
    return f.expected !== null && d.length > 9 && Number(new TextDecoder().decode(d.subarray(5, 9))) >= 5 &&
      d.subarray(d.length - 8).some((b) => b !== 0);
  });

  it.each(checksummed.slice(0, 12).map((f) => [f.name, f] as const))('%s: any flipped byte is an error; a checksum error when the structure survives', (_n, f) => {
    const data = bytesOf(f);
    for (let i = 0; i < data.length; i++) {
      const copy = data.slice();
      copy[i] ^= 0x20;
      const checked = attempt(copy, true);
      expect(checked.ok, `byte ${i} flipped`).toBe(false);
      if (attempt(copy, false).ok && !checked.ok) expect(checked.error.kind, `byte ${i} flipped`).toBe('checksum');
    }
  });
});

describe('hostile lengths', () => {
  it('a 4 GiB string length in a short file is a truncation, not an allocation', () => {
    const r = attempt(handmade([0x00, ...str('k'), 0x80, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.kind).toBe('truncated');
  });

  it('a 2^62-element list is a truncation after the elements that exist', () => {
    const r = attempt(handmade([0x01, ...str('k'), 0x81, 0x40, 0, 0, 0, 0, 0, 0, 0, ...str('a')]).subarray(0, -9));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.kind).toBe('truncated');
  });

  it('an LZF string claiming more output than its input could produce is rejected before decoding', () => {
    // 0xC3 = LZF; compressed length 2, uncompressed length 2^31
    const r = attempt(handmade([0x00, ...str('k'), 0xc3, 0x02, 0x80, 0x80, 0, 0, 0, 0x00, 0x41]));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.kind).toBe('lzf-length');
  });

  it('a huge ziplist length inside a key (type 10) is bounded by the scratch limit', () => {
    const r = attempt(handmade([0x0a, ...str('k'), 0x80, 0x10, 0, 0, 0, 1, 2, 3]));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(['truncated', 'too-large']).toContain(r.error.kind);
  });

  it('an unknown type names the byte and its offset', () => {
    const r = attempt(handmade([0x1f, ...str('k')]));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.kind).toBe('unknown-type');
      expect(r.error.detail).toBe(0x1f);
      expect(r.error.offset).toBe(9);
      expect(r.error.message).toMatch(/31 \(0x1f\).*Redis RDB version 9.*offset 9/);
    }
  });
});
