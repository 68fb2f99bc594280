// Conformance: every fixture written by a real Redis/Valkey (or published by other projects and loaded
// by a real server) parses to exactly the lines the server produced, however the bytes are split.
import { afterAll, describe, expect, it } from 'vitest';
import { bytesOf, EXPECTED_ERRORS, fixtures } from './helpers/fixtures.js';
import { canonicalLines, jsonlLines, parseBytes, type Split } from './helpers/feed.js';
import { RdbError } from '../src/core/errors.js';
import { useRdbCoreBuild } from '../src/core/wasm.js';

/** Fixtures whose file is deliberately broken; the oracle was made by a server told to ignore it. */
const CHECKSUM_BROKEN = new Set(['pub-librdb-invalid_chksum_v8']);

const withOracle = fixtures().filter((f) => f.expected !== null);

describe.each(withOracle)('fixture $name', (f) => {
  const data = bytesOf(f);
  const expected = [...f.expected!].sort();
  const verifyChecksum = !CHECKSUM_BROKEN.has(f.name);
  const splits: Array<[string, Split, number?]> = [
    ['whole', 'whole'],
    ['whole, 4 KiB input buffer', 'whole', 4096],
    ['random splits ≤ 7 bytes, 4 KiB input buffer', { seed: 1, max: 7 }, 4096],
    ['random splits ≤ 5000 bytes, 64 KiB input buffer', { seed: 2, max: 5000 }, 65536],
    ['random splits ≤ 100 KiB', { seed: 3, max: 100_000 }],
  ];
  if (f.size < 65536) splits.push(['one byte at a time', 'bytes', 4096]);

  it.each(splits)('%s', (_label, split, inputBufferSize) => {
    const { entries } = parseBytes(data, split, { verifyChecksum, inputBufferSize });
    expect(canonicalLines(entries)).toEqual(expected);
  });

  it.each(splits)('in-core JSON writer: %s', (_label, split, inputBufferSize) => {
    expect(jsonlLines(data, split, { verifyChecksum, inputBufferSize })).toEqual(expected);
  });
});

describe('checksums', () => {
  it('reports a wrong CRC64 as a checksum error at the checksum offset', () => {
    const f = fixtures().find((x) => x.name === 'pub-librdb-invalid_chksum_v8')!;
    const data = bytesOf(f);
    let err: unknown;
    try { parseBytes(data); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(RdbError);
    expect((err as RdbError).kind).toBe('checksum');
    expect((err as RdbError).offset).toBe(data.length - 8);
  });

  it('verifies every non-zero checksum of the corpus', () => {
    for (const f of withOracle) {
      if (CHECKSUM_BROKEN.has(f.name)) continue;
      const { metadata } = parseBytes(bytesOf(f));
      const expected = metadata.version >= 5 ? ['verified', 'zero'] : ['absent'];
      expect(expected, f.name).toContain(metadata.checksum);
    }
  });
});

describe('fixtures without an oracle', () => {
  const rest = fixtures().filter((f) => f.expected === null || f.name in EXPECTED_ERRORS);
  it.each(rest.map((f) => [f.name, f] as const))('%s parses, or fails with its documented error', (name, f) => {
    const want = EXPECTED_ERRORS[name];
    for (const split of ['whole', 'bytes'] as const) {
      let err: unknown = null;
      try { parseBytes(bytesOf(f), split, { inputBufferSize: 4096 }); } catch (e) { err = e; }
      if (want) {
        expect(err).toBeInstanceOf(RdbError);
        expect((err as RdbError).kind).toBe(want);
      } else {
        expect(err).toBeNull();
      }
    }
  });
});

describe('the portable build (no SIMD) writes the same lines', () => {
  afterAll(() => useRdbCoreBuild('auto'));
  it.each(withOracle.map((f) => [f.name, f] as const))('%s', (name, f) => {
    useRdbCoreBuild('portable');
    const lines = jsonlLines(bytesOf(f), { seed: 4, max: 3000 }, { verifyChecksum: !CHECKSUM_BROKEN.has(name) });
    useRdbCoreBuild('auto');
    expect(lines).toEqual([...f.expected!].sort());
  });
});
