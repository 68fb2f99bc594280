// A stream value as rdb.c saves one (STREAM_LISTPACKS 1, 2 or 3): listpack nodes keyed by their master
// ID, the length and IDs, then consumer groups with their pending entries and consumers. Each node's
// listpack is laid out as t_stream.c's streamAppendItem writes it:
//   master entry: count, deleted, field count, fields..., 0
//   each entry:   flags, ms - master ms, seq - master seq, [field count, field, value]... | values..., element count
// (flag SAMEFIELDS when the entry has the master entry's fields, in order, and then only its values).
import type { StreamValue } from '../rdb/entry.js';
import { ListpackBuilder } from './listpack-builder.js';
import type { RdbBytes } from './rdb-bytes.js';

/** Redis's defaults for stream-node-max-entries and stream-node-max-bytes. */
const NODE_MAX_ENTRIES = 100;
const NODE_MAX_BYTES = 4096;
const FLAG_NONE = 0n;
const FLAG_SAMEFIELDS = 2n;

/** Which stream layout to write: 1 (type 15, Redis 5–6.2), 2 (type 19, 7.0), 3 (type 21, 7.2 and later). */
export type StreamLayout = 1 | 2 | 3;

interface Id {
  ms: bigint;
  seq: bigint;
}

function parseId(id: string): Id {
  const dash = id.indexOf('-');
  return { ms: BigInt(id.slice(0, dash)), seq: BigInt(id.slice(dash + 1)) };
}

/** An ID as the 16 bytes rdb.c writes for node keys and pending entries: ms then seq, big-endian. */
function idBytes(id: string): Uint8Array {
  const { ms, seq } = parseId(id);
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, ms);
  view.setBigUint64(8, seq);
  return out;
}

function sameFields(fields: Uint8Array[], master: Uint8Array[]): boolean {
  if (fields.length !== master.length * 2) return false;
  for (let i = 0; i < master.length; i++) {
    const a = fields[2 * i]!;
    const b = master[i]!;
    if (a.length !== b.length) return false;
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  }
  return true;
}

interface Node {
  masterId: string;
  listpack: Uint8Array;
}

/** Cuts the entries into nodes of at most NODE_MAX_ENTRIES entries and about NODE_MAX_BYTES bytes. */
function buildNodes(entries: StreamValue['entries']): Node[] {
  const nodes: Node[] = [];
  const lp = new ListpackBuilder();
  const body = new ListpackBuilder();
  let start = 0;
  while (start < entries.length) {
    lp.reset();
    const first = entries[start]!;
    const master = parseId(first.id);
    const masterFields = first.fields.filter((_, i) => i % 2 === 0);
    let end = start;
    // The master entry's count is known only once the node is cut: build the entries, then the node.
    body.reset();
    while (end < entries.length && end - start < NODE_MAX_ENTRIES && (end === start || body.size < NODE_MAX_BYTES)) {
      const { id, fields } = entries[end]!;
      const { ms, seq } = parseId(id);
      const same = sameFields(fields, masterFields);
      body.integer(same ? FLAG_SAMEFIELDS : FLAG_NONE);
      body.integer(BigInt.asIntN(64, ms - master.ms));
      body.integer(BigInt.asIntN(64, seq - master.seq));
      if (same) for (let i = 1; i < fields.length; i += 2) body.string(fields[i]!);
      else {
        body.integer(BigInt(fields.length / 2));
        for (const f of fields) body.string(f);
      }
      body.integer(BigInt(same ? masterFields.length + 3 : fields.length + 4));
      end++;
    }
    lp.integer(BigInt(end - start));
    lp.integer(0n);
    lp.integer(BigInt(masterFields.length));
    for (const f of masterFields) lp.string(f);
    lp.integer(0n);
    lp.append(body);
    nodes.push({ masterId: first.id, listpack: lp.finish() });
    start = end;
  }
  return nodes;
}

function writeId(out: RdbBytes, id: string): void {
  const { ms, seq } = parseId(id);
  out.len(ms);
  out.len(seq);
}

/** Writes the stream value (without its type byte) in the given layout. */
export function writeStreamValue(out: RdbBytes, stream: StreamValue, layout: StreamLayout): void {
  const nodes = buildNodes(stream.entries);
  out.len(nodes.length);
  for (const node of nodes) {
    out.string(idBytes(node.masterId));
    out.string(node.listpack);
  }
  out.len(stream.length);
  writeId(out, stream.lastId);
  if (layout >= 2) {
    writeId(out, stream.firstId ?? stream.entries[0]?.id ?? '0-0');
    writeId(out, stream.maxDeletedId ?? '0-0');
    out.len(stream.entriesAdded ?? stream.length);
  }
  out.len(stream.groups.length);
  for (const group of stream.groups) {
    out.string(group.name);
    writeId(out, group.lastDeliveredId);
    // An unknown entries-read is saved as the length 2^64 - 1 (SCG_INVALID_ENTRIES_READ).
    if (layout >= 2) out.len(group.entriesRead ?? 0xffffffffffffffffn);
    out.len(group.pending.length);
    for (const p of group.pending) {
      out.raw(idBytes(p.id));
      out.int64le(p.deliveryTimeMs);
      out.len(p.deliveryCount);
    }
    out.len(group.consumers.length);
    for (const consumer of group.consumers) {
      out.string(consumer.name);
      out.int64le(consumer.seenTimeMs);
      if (layout >= 3) out.int64le(consumer.activeTimeMs ?? consumer.seenTimeMs);
      out.len(consumer.pending.length);
      for (const id of consumer.pending) out.raw(idBytes(id));
    }
  }
}
