// E_BLOB events (blobEvents option): every packed container is reported, before its elements, with its
// size as the file stores it; hand-built files give the sizes, fixtures the stream master IDs.
import { describe, expect, it } from 'vitest';
import * as abi from '../src/core/abi.js';
import { RdbEventParser } from '../src/core/rdb-event-parser.js';
import type { EventBatch } from '../src/core/event-batch.js';
import { chunks, type Split } from './helpers/feed.js';
import { bytesOf, fixtures } from './helpers/fixtures.js';
import { blob, handmadeVersion, listpack, str } from './helpers/handmade-rdb.js';

/** Every event as [kind, detail]: E_BLOB as "blob <kind> <bytes>", elements as their text. */
function events(data: Uint8Array, split: Split, blobEvents = true): string[] {
  const parser = RdbEventParser.createSync({ blobEvents });
  const out: string[] = [];
  const sink = (b: EventBatch) => {
    for (let i = 0; i < b.count; i++) {
      const kind = b.kind(i);
      if (kind === abi.E_BLOB) {
        const id = b.aux(i) === abi.BLOB_STREAM_LISTPACK ? ` ${b.n1Unsigned(i)}-${b.n2Unsigned(i)}` : '';
        out.push(`blob ${b.aux(i)} ${b.len(i)}${id}`);
      } else if (kind === abi.E_LIST_ITEM || kind === abi.E_SET_MEMBER || kind === abi.E_HASH_FIELD || kind === abi.E_HASH_VALUE) {
        out.push(`item ${b.text(i)}`);
      } else if (kind === abi.E_KEY) {
        out.push('key');
      } else if (kind === abi.E_STREAM_ENTRY) {
        out.push(`entry ${b.n1Unsigned(i)}-${b.n2Unsigned(i)}`);
      }
    }
  };
  for (const c of chunks(data, split)) parser.write(c, sink);
  parser.end(sink);
  return out;
}

// RDB 10 (Redis 7.0): an intset set, a listpack hash, and a quicklist 2 list with a plain and a packed node.
const file = handmadeVersion(10,
  // intset, 2-byte integers 1, 2, 3: header 8 + 3 * 2 = 14 bytes
  [11, ...str('s'), ...blob([2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 3, 0])],
  // listpack "a" "b": header 6 + 2 entries of 3 bytes + end byte = 13
  [16, ...str('h'), ...blob(listpack('a', 'b'))],
  // quicklist 2: a plain node "xyz", then a packed node holding "q" (6 + 3 + 1 = 10 bytes)
  [18, ...str('l'), 2, 1, ...str('xyz'), 2, ...blob(listpack('q'))],
);
const expected = [
  'key', `blob ${abi.BLOB_INTSET} 14`, 'item 1', 'item 2', 'item 3',
  'key', `blob ${abi.BLOB_LISTPACK} 13`, 'item a', 'item b',
  'key', `blob ${abi.BLOB_PLAIN} 0`, 'item xyz', `blob ${abi.BLOB_LISTPACK} 10`, 'item q',
];

describe('E_BLOB events', () => {
  it('report each container with its byte length before its elements (hand-built RDB 10)', () => {
    expect(listpack('a', 'b')).toHaveLength(13);
    for (const split of ['whole', 'bytes', { seed: 3, max: 5 }] as Split[]) {
      expect(events(file, split), JSON.stringify(split)).toEqual(expected);
    }
  });

  it('are not emitted unless asked for', () => {
    expect(events(file, 'whole', false)).toEqual(expected.filter((e) => !e.startsWith('blob')));
  });

  it("report a stream listpack's master ID: after the previous listpack's entries, at or before its own first entry", () => {
    const streams = fixtures().filter((f) => /stream_listpacks_[12]|stream_listoacks_3/.test(f.name));
    expect(streams.length).toBeGreaterThan(0);
    const id = (text: string) => text.split('-').map(BigInt) as [bigint, bigint];
    const before = (a: string, b: string) => { const [x, y] = [id(a), id(b)]; return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]); };
    for (const f of streams) {
      let previous: string | null = null;
      let master: string | null = null;
      let checked = 0;
      for (const e of events(bytesOf(f), 'whole')) {
        const [what, , bytes, masterId] = e.split(' ');
        if (what === 'key') previous = null;
        else if (what === 'blob' && e.startsWith(`blob ${abi.BLOB_STREAM_LISTPACK} `)) {
          expect(Number(bytes), f.name).toBeGreaterThan(7);
          master = masterId!;
          if (previous) expect(before(previous, master), `${f.name}: ${previous} < ${master}`).toBe(true);
        } else if (what === 'entry') {
          const entry = e.slice(6);
          if (master) {
            expect(before(entry, master), `${f.name}: ${master} <= ${entry}`).toBe(false);
            master = null;
            checked++;
          }
          previous = entry;
        }
      }
      expect(checked, f.name).toBeGreaterThan(0);
    }
  });
});
