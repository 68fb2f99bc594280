// Conformance: every fixture written by a real Redis/Valkey (or published by other projects and loaded
// by a real server) parses to exactly the lines the server produced, however the bytes are split.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesOf, EXPECTED_ERRORS, fixture, fixtures } from './helpers/fixtures.js';
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

// Redis 8.6 streams (type 26, RDB 13): no server here could write our oracle, so the expectations are
// librdb's. For stream_v13_idmp: its JSON (the entries) and the commands it sends an 8.6 target (ids,
// counters, groups, each pending entry's consumer, delivery time and count). For stream_v13, which has
// neither: what Redis does when XREADGROUP serves a consumer (t_stream.c sets the consumer's active time and
// the entry's delivery time from the same clock read; a consumer never served keeps active time -1).
describe('Redis 8.6 streams (STREAM_LISTPACKS_4) keep consumers\' active times', () => {
  const decode = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));
  const streams = (name: string, split: Split) =>
    parseBytes(bytesOf(fixture(name)), split, { inputBufferSize: 4096 }).entries.flatMap((e) => (e.type === 'stream' ? [e] : []));

  /** The RESP file as arrays of text arguments (its arguments are all ASCII). */
  function commandsOf(path: string): string[][] {
    const d = readFileSync(path, 'latin1');
    const out: string[][] = [];
    for (let i = 0; i < d.length;) {
      const header = /^\*(\d+)\r\n/.exec(d.slice(i))!;
      i += header[0].length;
      const args: string[] = [];
      for (let n = Number(header[1]); n > 0; n--) {
        const len = /^\$(\d+)\r\n/.exec(d.slice(i))!;
        i += len[0].length;
        args.push(d.slice(i, i + Number(len[1])));
        i += Number(len[1]) + 2;
      }
      out.push(args);
    }
    return out;
  }

  it.each(['whole', 'bytes'] as const)('stream_v13_idmp is what librdb expects (%s)', (split) => {
    const f = fixture('pub-librdb-stream_v13_idmp');
    // librdb writes its keys as members without the enclosing object.
    const upstream = JSON.parse(`{${readFileSync(f.path.replace(/\.rdb$/, '.upstream.json'), 'utf8')}}`) as
      Record<string, { entries: Array<{ id: string; items: Record<string, string> }> }>;
    const commands = commandsOf(f.path.replace(/\.rdb$/, '.upstream-8.6.resp'));
    const key = Object.keys(upstream)[0]!;
    const groups = commands.filter((c) => c[0] === 'XGROUP');
    const claims = commands.filter((c) => c[0] === 'XCLAIM');
    const setId = commands.find((c) => c[0] === 'XSETID')!;
    const pendingOf = (group: string) => claims.filter((c) => c[2] === group);

    const got = streams(f.name, split);
    expect(got.map((e) => decode(e.key))).toEqual([key]);
    const v = got[0]!.value;
    expect(v.entries.map((e) => [e.id, e.fields.map(decode)]))
      .toEqual(upstream[key]!.entries.map((e) => [e.id, Object.entries(e.items).flat()]));
    expect(v.entries.map((e) => [e.id, ...e.fields.map(decode)]))
      .toEqual(commands.filter((c) => c[0] === 'XADD').map((c) => c.slice(2)));
    expect([v.lastId, v.entriesAdded, v.maxDeletedId]).toEqual([setId[2], Number(setId[4]), setId[6]]);
    expect(v.groups.map((g) => [decode(g.name), g.lastDeliveredId, g.entriesRead]))
      .toEqual(groups.map((c) => [c[3], c[4], Number(c[6])]));
    for (const g of v.groups) {
      const claimed = pendingOf(decode(g.name)!);
      expect(g.pending.map((p) => [p.id, decode(p.consumer), p.deliveryTimeMs, p.deliveryCount]))
        .toEqual(claimed.map((c) => [c[5], c[3], Number(c[7]), Number(c[9])]));
      expect(g.consumers.map((c) => [decode(c.name), c.pending, c.activeTimeMs]))
        .toEqual(claimed.map((c) => [c[3], [c[5]], Number(c[7])]));
    }
  });

  it.each(['whole', 'bytes'] as const)('stream_v13: each consumer was last active when its last entry was delivered (%s)', (split) => {
    const got = streams('pub-librdb-stream_v13', split);
    expect(got.length).toBeGreaterThan(20);
    let served = 0;
    for (const e of got) {
      for (const g of e.value.groups) {
        for (const c of g.consumers) {
          const times = g.pending.filter((p) => decode(p.consumer) === decode(c.name)).map((p) => Number(p.deliveryTimeMs));
          expect(c.activeTimeMs, `${decode(e.key)} ${decode(c.name)}`).toBe(times.length > 0 ? Math.max(...times) : -1);
          expect(Number(c.seenTimeMs)).toBeGreaterThanOrEqual(Number(c.activeTimeMs));
          served += times.length;
        }
      }
    }
    expect(served).toBeGreaterThan(20);
  });
});
