// RDB entries → DUMP payloads for RESTORE on a target server: the type byte, the value in the plainest
// layout every server since Redis 4.0 loads (a server re-encodes small values into its compact forms as it
// loads them, as it does for a replica's snapshot), the target's RDB version and the CRC64 of it all.
//   string → STRING, list → LIST (linked list), set → SET, zset → ZSET_2 (binary scores),
//   hash → HASH, or with field TTLs HASH_METADATA (Redis ≥ 7.4) / HASH_2 (Valkey ≥ 9.0),
//   stream → STREAM_LISTPACKS 1/2/3 (the newest layout both the entry and the target carry).
// A hash with field TTLs bound for a target without them keeps its fields and loses their TTLs (counted
// in droppedFieldTtls); module values have no payload (only the module could rebuild them).
import { Crc64 } from '../core/crc64.js';
import type { HashEntry, RdbEntry, StreamEntry } from '../rdb/entry.js';
import { RdbBytes } from './rdb-bytes.js';
import { writeStreamValue, type StreamLayout } from './stream-value.js';
import { hashWithTtlTypeOf, streamLayoutOf, type ServerFormat } from './server-format.js';

const TYPE_STRING = 0;
const TYPE_LIST = 1;
const TYPE_SET = 2;
const TYPE_HASH = 4;
const TYPE_ZSET_2 = 5;
const STREAM_TYPES: Record<StreamLayout, number> = { 1: 15, 2: 19, 3: 21 };
const REDIS_HASH_METADATA = 24;

/** Why an entry has no payload for this target. */
export class UnrestorableEntry extends Error {
  override name = 'UnrestorableEntry';
}

export class DumpPayloadEncoder {
  private readonly out = new RdbBytes();
  private readonly crc = new Crc64();
  private readonly streamLayout: StreamLayout | null;
  private readonly hashWithTtlType: number | null;
  private dropped = 0;

  constructor(private readonly target: ServerFormat) {
    this.streamLayout = streamLayoutOf(target);
    this.hashWithTtlType = hashWithTtlTypeOf(target);
  }

  /** Hashes whose field TTLs were left out, because the target has no field expiration. */
  get droppedFieldTtls(): number {
    return this.dropped;
  }

  /**
   * The payload of one entry: a view valid until the next call. Throws UnrestorableEntry for a module
   * value, or a stream bound for a server older than streams.
   */
  encode(entry: RdbEntry): Uint8Array {
    const out = this.out;
    out.reset();
    switch (entry.type) {
      case 'string':
        out.byte(TYPE_STRING);
        out.string(entry.value);
        break;
      case 'list':
      case 'set':
        out.byte(entry.type === 'list' ? TYPE_LIST : TYPE_SET);
        out.len(entry.value.length);
        for (const item of entry.value) out.string(item);
        break;
      case 'zset':
        out.byte(TYPE_ZSET_2);
        out.len(entry.value.length);
        for (const [member, score] of entry.value) {
          out.string(member);
          out.double(score);
        }
        break;
      case 'hash':
        this.hash(entry);
        break;
      case 'stream':
        this.stream(entry);
        break;
      case 'module':
        throw new UnrestorableEntry(`module value (${entry.moduleName}): only the module itself could rebuild it`);
    }
    return this.seal(this.target.rdbVersion);
  }

  /** Appends the footer, the RDB version and the CRC64 of everything before it. */
  private seal(rdbVersion: number): Uint8Array {
    this.out.uint16le(rdbVersion);
    this.out.int64le(this.crc.update(0n, this.out.bytes()));
    return this.out.bytes();
  }

  private hash(entry: HashEntry): void {
    const out = this.out;
    const ttls = entry.fieldExpires.length > 0 ? new Map(entry.fieldExpires.map(([f, ms]) => [latin1(f), BigInt(ms)])) : null;
    const type = ttls ? this.hashWithTtlType : null;
    if (ttls && type === null) this.dropped++;
    out.byte(type ?? TYPE_HASH);
    if (type === REDIS_HASH_METADATA) {
      // The smallest field expire time first; each field's TTL is then 0 (none) or its time - min + 1.
      let min = -1n;
      for (const ms of ttls!.values()) if (min < 0n || ms < min) min = ms;
      out.int64le(min);
      out.len(entry.value.length);
      for (const [field, value] of entry.value) {
        const ms = ttls!.get(latin1(field));
        out.len(ms === undefined ? 0 : ms - min + 1n);
        out.string(field);
        out.string(value);
      }
      return;
    }
    out.len(entry.value.length);
    for (const [field, value] of entry.value) {
      out.string(field);
      out.string(value);
      // Valkey's HASH_2: each field's expire time after its value, -1 for none.
      if (type !== null) out.int64le(ttls!.get(latin1(field)) ?? -1n);
    }
  }

  private stream(entry: StreamEntry): void {
    const target = this.streamLayout;
    if (target === null) throw new UnrestorableEntry(`stream: the target (${this.target.flavor} ${this.target.version}) has no streams`);
    const value = entry.value;
    const carried: StreamLayout = value.firstId === undefined ? 1
      : value.groups.some((g) => g.consumers.some((c) => c.activeTimeMs === undefined)) ? 2 : 3;
    const layout = Math.min(target, carried) as StreamLayout;
    this.out.byte(STREAM_TYPES[layout]);
    writeStreamValue(this.out, value, layout);
  }
}

const latin1Decoder = new TextDecoder('latin1');

/** Field bytes as a map key (one char per byte, so distinct bytes stay distinct). */
function latin1(bytes: Uint8Array): string {
  return latin1Decoder.decode(bytes);
}
