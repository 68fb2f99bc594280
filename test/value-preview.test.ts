// The key preview against the fixtures' expected content (written by the servers that loaded them):
// for keys at the start, middle and end of every fixture, the previewed elements are the value's own,
// in file order, and the element count is the value's size. Limits are checked on hand-made dumps.
import { describe, expect, it } from 'vitest';
import { previewValue, type PreviewItem } from '../src/analysis/value-preview.js';
import { byteTextBytes, type ByteText } from '../src/rdb/canonical-json.js';
import { bytesOf, fixtures } from './helpers/fixtures.js';
import { handmade, str } from './helpers/handmade-rdb.js';

type Json = ByteText | number | Json[] | { [k: string]: Json };
interface Line { db: number; key: ByteText; type: string; value: Json }

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const score = (s: Json) => (s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s);

/** The expected items and size of a canonical value, in an order the preview's must be a prefix or a subset of. */
function check(line: Line, items: PreviewItem[], elements: number): void {
  const v = line.value as Json[];
  switch (line.type) {
    case 'string':
      expect(elements).toBe(byteTextBytes(line.value as ByteText).length);
      expect(items).toEqual([[line.value]]);
      break;
    case 'list':
      expect(elements).toBe(v.length);
      expect(items).toEqual(v.slice(0, items.length).map((x) => [x]));
      break;
    case 'set':
      expect(elements).toBe(v.length);
      for (const [m] of items) expect(v.some((x) => same(x, m))).toBe(true);
      break;
    case 'zset':
      expect(elements).toBe(v.length);
      for (const [m, s] of items) expect(v.some((x) => same((x as Json[])[0], m) && score((x as Json[])[1]!) === s)).toBe(true);
      break;
    case 'hash':
      expect(elements).toBe(v.length);
      for (const pair of items) expect(v.some((x) => same(x, pair))).toBe(true);
      break;
    case 'stream': {
      const entries = (line.value as { entries: Array<[string, Json[]]> }).entries;
      expect(elements).toBe(entries.length);
      expect(items).toEqual(entries.slice(0, items.length).map(([id, fields]) => [id, ...fields]));
      break;
    }
  }
}

const readable = fixtures().filter((f) => f.expected !== null && f.expected.length > 0);

describe('previewValue on the fixtures', () => {
  it.each(readable.map((f) => [f.name, f] as const))('%s', async (_, f) => {
    const data = bytesOf(f);
    const lines = f.expected!.map((l) => JSON.parse(l) as Line);
    const picked = [...new Set([0, lines.length >> 1, lines.length - 1])].map((i) => lines[i]!);
    for (const line of picked) {
      const preview = await previewValue(data, line.db, byteTextBytes(line.key), { limit: 20, maxBytes: 1 << 20 });
      expect(preview, JSON.stringify(line.key)).not.toBeNull();
      expect(preview!.type).toBe(line.type);
      expect(preview!.key).toEqual(line.key);
      check(line, preview!.items, preview!.elements);
    }
  });
});

describe('previewValue limits', () => {
  const list = (n: number) => [1, ...str('l'), n, ...Array.from({ length: n }, (_, k) => str(`item${k}`)).flat()];

  it('keeps `limit` elements, counts them all, and says it left some out', async () => {
    const preview = await previewValue(handmade(list(25)), 0, new TextEncoder().encode('l'), { limit: 20 });
    expect(preview!.elements).toBe(25);
    expect(preview!.items).toEqual(Array.from({ length: 20 }, (_, k) => [`item${k}`]));
    expect(preview!.truncated).toBe(true);
  });

  it('keeps the start of a string too long to wait for (read in chunks), and counts all of it', async () => {
    const n = 3_000_000; // over the parser's 1 MiB input buffer: streamed as chunks
    const value = new TextEncoder().encode('ab'.repeat(n / 2));
    const length = [0x80, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]; // 32-bit RDB length
    const data = handmade([0, ...str('big'), ...length, ...value]);
    const preview = await previewValue(data, 0, new TextEncoder().encode('big'), { maxBytes: 256 });
    expect(preview).toMatchObject({ type: 'string', elements: n, items: [['ab'.repeat(512)]], truncated: true });
  });

  it('cuts long strings, and finds nothing for a key that is not there (or in another database)', async () => {
    const long = 'x'.repeat(40);
    const data = handmade([0, ...str('s'), ...str(long)]);
    const preview = await previewValue(data, 0, new TextEncoder().encode('s'), { maxBytes: 8 });
    expect(preview).toMatchObject({ type: 'string', elements: 40, items: [['x'.repeat(32)]], truncated: true });
    expect(await previewValue(data, 0, new TextEncoder().encode('t'))).toBeNull();
    expect(await previewValue(data, 1, new TextEncoder().encode('s'))).toBeNull();
  });
});
