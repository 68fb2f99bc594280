// Feeding bytes to the parser in different ways: whole, one byte at a time, or at random split points.
import { RdbEventParser, type RdbParserOptions } from '../../src/core/rdb-event-parser.js';
import { EntryBuilder } from '../../src/rdb/entry-builder.js';
import { canonicalLine } from '../../src/rdb/canonical-json.js';
import type { RdbEntry, RdbMetadata } from '../../src/rdb/entry.js';
import { CanonicalJsonl, type CanonicalJsonlOptions } from '../../src/rdb/canonical-jsonl.js';

/** A small deterministic PRNG (mulberry32) so random split points are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Split = 'whole' | 'bytes' | { seed: number; max: number };

export function* chunks(data: Uint8Array, split: Split): Generator<Uint8Array> {
  if (split === 'whole') { yield data; return; }
  if (split === 'bytes') {
    for (let i = 0; i < data.length; i++) yield data.subarray(i, i + 1);
    return;
  }
  const next = rng(split.seed);
  for (let i = 0; i < data.length;) {
    const n = 1 + Math.floor(next() * split.max);
    yield data.subarray(i, i + n);
    i += n;
  }
}

export interface ParseResult {
  entries: RdbEntry[];
  metadata: RdbMetadata;
  parser: RdbEventParser;
}

/** Parses synchronously, feeding the chunks of `split`; throws the parser's RdbError. */
export function parseBytes(data: Uint8Array, split: Split = 'whole', options: RdbParserOptions = {}): ParseResult {
  const parser = RdbEventParser.createSync(options);
  const builder = new EntryBuilder();
  const sink = (b: Parameters<EntryBuilder['consume']>[0]) => builder.consume(b);
  const entries: RdbEntry[] = [];
  for (const c of chunks(data, split)) {
    parser.write(c, sink);
    entries.push(...builder.take());
  }
  parser.end(sink);
  entries.push(...builder.take());
  return { entries, metadata: builder.metadata, parser };
}

/** The canonical lines of the parsed keyspace, sorted (the fixtures' order is db, then key bytes). */
export function canonicalLines(entries: RdbEntry[]): string[] {
  return entries.map(canonicalLine).filter((l): l is string => l !== null).sort();
}

/** The canonical lines written by the in-core JSON writer (CanonicalJsonl), sorted. */
export function jsonlLines(data: Uint8Array, split: Split = 'whole', options: CanonicalJsonlOptions = {}): string[] {
  // Output is taken after every chunk (flushAt 1): the writer's state must survive being moved.
  const conv = CanonicalJsonl.createSync({ flushAt: 1, ...options });
  const parts: string[] = [];
  const decoder = new TextDecoder();
  const sink = (b: Uint8Array) => { parts.push(decoder.decode(b)); };
  for (const c of chunks(data, split)) conv.write(c, sink);
  conv.end(sink);
  return parts.join('').split('\n').filter((l) => l !== '').sort();
}
