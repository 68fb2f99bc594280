// The measurer hands out one reused record per key whose key is a view of the parser's memory. When a
// key's events span calls into the parser (small chunks, a full event buffer) that memory is reused, so
// the records must come out the same however the input is cut. The reference is the whole file, read
// with an event buffer large enough that no fixture key spans two batches.
import { describe, expect, it } from 'vitest';
import { RdbEventParser } from '../src/core/rdb-event-parser.js';
import type { EventBatch } from '../src/core/event-batch.js';
import { KeyMeasurer, type KeyRecord } from '../src/analysis/key-measurer.js';
import { chooseMemoryModel, createSizer } from '../src/analysis/memory/memory-model.js';
import { bytesOf, fixtures } from './helpers/fixtures.js';
import { chunks, type Split } from './helpers/feed.js';
import { handmade, str } from './helpers/handmade-rdb.js';

function measure(data: Uint8Array, split: Split, eventCapacity: number): KeyRecord[] {
  const records: KeyRecord[] = [];
  const measurer = new KeyMeasurer((m) => createSizer(chooseMemoryModel(m.aux)), (r) => records.push(r.toRecord()));
  const parser = RdbEventParser.createSync({ blobEvents: true, eventCapacity, verifyChecksum: false });
  const sink = (b: EventBatch) => measurer.consume(b);
  for (const chunk of chunks(data, split)) parser.write(chunk, sink);
  parser.end(sink);
  return records;
}

const readable = fixtures().filter((f) => f.expected !== null);

describe('KeyMeasurer records do not depend on how the input is cut', () => {
  it.each(readable.map((f) => [f.name, f] as const))('%s', (_, f) => {
    const data = bytesOf(f);
    const whole = measure(data, 'whole', 1 << 16);
    expect(measure(data, { seed: data.length, max: 97 }, 64)).toEqual(whole);
  });

  it('one byte at a time, with the smallest event buffer', () => {
    const f = readable.reduce((a, b) => (b.size > a.size ? b : a));
    const data = bytesOf(f);
    expect(measure(data, 'bytes', 64)).toEqual(measure(data, 'whole', 1 << 16));
  });
});

describe('KeyMeasurer lengths', () => {
  /** An RDB string stored as a 32-bit integer (encoding 0xC2, little-endian). */
  const int32 = (v: number) => [0xc2, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];

  it('a string stored as an integer is as long as its decimal text', () => {
    const values = [0, 9, 10, 99, 100, -1, -10, 99999999, 100000000, 999999999, 1000000000, 2147483647, -2147483648];
    const data = handmade(...values.map((v, i) => [0, ...str(`k${i}`), ...int32(v)]));
    const lengths = measure(data, 'whole', 1 << 16).map((r) => r.elements);
    expect(lengths).toEqual(values.map((v) => String(v).length));
  });
});
