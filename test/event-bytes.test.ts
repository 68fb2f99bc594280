// EventBytes, the writer of change events' JSON: byte strings come out as JSON.stringify writes their text
// (or {"b64"} when they are not UTF-8), and an event taken stays intact while later ones fill new slabs.
import { describe, expect, it } from 'vitest';
import { EventBytes } from '../src/pipeline/event-bytes.js';
import { rng } from './helpers/feed.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** What a byte string's JSON is by definition (docs/event-schema.md, "Byte strings"). */
function expectedJson(bytes: Uint8Array): string {
  try {
    return JSON.stringify(strictUtf8.decode(bytes));
  } catch {
    return `{"b64":"${Buffer.from(bytes).toString('base64')}"}`;
  }
}

function byteStringJson(bytes: Uint8Array): string {
  const out = new EventBytes();
  out.byteString(bytes);
  return out.take().toString('utf8');
}

describe('EventBytes.byteString', () => {
  it('writes every control character, quote and backslash as JSON.stringify escapes them', () => {
    const all = Uint8Array.from({ length: 0x80 }, (_, i) => i);
    expect(byteStringJson(all)).toBe(expectedJson(all));
    for (let b = 0; b < 0x80; b++) expect(byteStringJson(Uint8Array.of(0x61, b, 0x62))).toBe(expectedJson(Uint8Array.of(0x61, b, 0x62)));
  });

  it('keeps UTF-8 text as it is, and writes bytes that are not UTF-8 as base64', () => {
    for (const text of ['', 'é', '日本語 "quoted"\n', '😀\\', '\u2028\u007f']) {
      expect(byteStringJson(Buffer.from(text))).toBe(JSON.stringify(text));
    }
    // A lone surrogate's encoding, a stray continuation byte, a truncated sequence, 0xFF.
    for (const bytes of [[0xed, 0xa0, 0x80], [0x80], [0x61, 0xe6, 0x97], [0x00, 0xff, 0x80, 0x6b]]) {
      expect(byteStringJson(Uint8Array.from(bytes))).toBe(expectedJson(Uint8Array.from(bytes)));
    }
    expect(byteStringJson(Uint8Array.of(0x00, 0xff, 0x80, 0x6b))).toBe('{"b64":"AP+Aaw=="}');
  });

  it('equals the definition for random byte strings', () => {
    const random = rng(11);
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * 40);
      // Mostly ASCII, with control characters, quotes and bytes of multi-byte sequences among them.
      const bytes = Uint8Array.from({ length }, () => (random() < 0.8 ? 0x20 + Math.floor(random() * 0x60) : Math.floor(random() * 256)));
      expect(byteStringJson(bytes), Buffer.from(bytes).toString('hex')).toBe(expectedJson(bytes));
    }
  });
});

describe('EventBytes', () => {
  it('writes integers as their decimal digits', () => {
    const out = new EventBytes();
    const numbers = [0, 7, 10, 99, 100, 2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER];
    for (const n of numbers) {
      out.integer(n);
      expect(out.take().toString('latin1')).toBe(String(n));
    }
  });

  it('keeps each event it took intact while later events fill new slabs, one bigger than a slab among them', () => {
    const out = new EventBytes();
    const expected: string[] = [];
    const taken: Buffer[] = [];
    for (let i = 0; i < 3000; i++) {
      const value = Buffer.from(`${i}:${'x'.repeat(i === 1500 ? 1 << 20 : i % 300)}"\n`);
      out.text('{"n":');
      out.integer(i);
      out.text(',"value":');
      out.byteString(value);
      out.byte(0x7d);
      expected.push(`{"n":${i},"value":${JSON.stringify(value.toString())}}`);
      taken.push(out.take());
    }
    expect(taken.map((body) => body.toString('utf8'))).toEqual(expected);
  });

  it('writes again what it wrote from one position to another, also once the event moved to a new slab', () => {
    const out = new EventBytes();
    out.text('["');
    const from = out.position;
    out.text('key');
    const to = out.position;
    out.text('",');
    out.byteString(Buffer.alloc(200_000, 0x61)); // past a slab: the event moves
    out.text(',"');
    out.repeat(from, to);
    out.text('"]');
    expect(JSON.parse(out.take().toString('utf8'))).toEqual(['key', 'a'.repeat(200_000), 'key']);
  });

  it('reads back the text written since a position (an id)', () => {
    const out = new EventBytes();
    out.text('{"id":"');
    const start = out.position;
    out.text('abc-');
    out.integer(42);
    expect(out.latin1Since(start)).toBe('abc-42');
  });
});
