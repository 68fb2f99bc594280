// The RDB entry model: one object per key, as Redis holds it after loading the file. Byte strings stay
// bytes (keys and values are binary-safe); 64-bit counters are numbers when exact, else bigints.

/** An integer that is a number when it fits exactly in a double (|v| < 2^53), otherwise a bigint. */
export type Int64 = number | bigint;

/** Stream entry ID as "<ms>-<seq>" (both unsigned 64-bit decimals). */
export type StreamId = string;

export type RdbValueType = 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream' | 'module';

interface EntryBase {
  db: number;
  key: Uint8Array;
  /** Absolute expire time in Unix ms, or null. */
  expireMs: Int64 | null;
  /** On-disk encoding (e.g. "listpack", "quicklist", "intset", "hashtable"). */
  encoding: string;
  /** The RDB type code as written (Valkey's own codes are reported + 256). */
  rdbType: number;
  /** LRU idle time in seconds, when the file stores it (IDLE opcode). */
  idleSeconds?: number;
  /** LFU frequency counter, when the file stores it (FREQ opcode). */
  lfuFreq?: number;
}

export interface StringEntry extends EntryBase { type: 'string'; value: Uint8Array }
export interface ListEntry extends EntryBase { type: 'list'; value: Uint8Array[] }
export interface SetEntry extends EntryBase { type: 'set'; value: Uint8Array[] }
export interface ZsetEntry extends EntryBase { type: 'zset'; value: Array<[member: Uint8Array, score: number]> }
export interface HashEntry extends EntryBase {
  type: 'hash';
  value: Array<[field: Uint8Array, value: Uint8Array]>;
  /** Fields with a TTL and their absolute expire time in Unix ms (hash field expiration). */
  fieldExpires: Array<[field: Uint8Array, expireMs: Int64]>;
}
export interface StreamEntry extends EntryBase { type: 'stream'; value: StreamValue }
export interface ModuleEntry extends EntryBase {
  type: 'module';
  /** The module type's 9-character name and encoding version, decoded from its 64-bit id. */
  moduleName: string;
  moduleVersion: number;
  moduleId: bigint;
  /** Size of the skipped module value in the file. */
  sizeBytes: number;
}

export type RdbEntry = StringEntry | ListEntry | SetEntry | ZsetEntry | HashEntry | StreamEntry | ModuleEntry;

export interface StreamValue {
  length: Int64;
  lastId: StreamId;
  /** Present for stream types that store it (Redis ≥ 7.0): */
  firstId?: StreamId;
  maxDeletedId?: StreamId;
  entriesAdded?: Int64;
  entries: Array<{ id: StreamId; fields: Uint8Array[] }>;
  groups: StreamGroup[];
}

export interface StreamGroup {
  name: Uint8Array;
  lastDeliveredId: StreamId;
  /** Present for Redis ≥ 7.0 streams; null when the server did not know it. */
  entriesRead?: Int64 | null;
  pending: Array<{ id: StreamId; consumer: Uint8Array | null; deliveryTimeMs: Int64; deliveryCount: Int64 }>;
  consumers: Array<{ name: Uint8Array; seenTimeMs: Int64; activeTimeMs?: Int64; pending: StreamId[] }>;
}

/** What the file says besides its keys. */
export interface RdbMetadata {
  version: number;
  flavor: 'redis' | 'valkey';
  /** AUX fields in file order (decoded as UTF-8). */
  aux: Array<[string, string]>;
  /** Function libraries (FUNCTION2 source code; pre-GA ones as their code). */
  functions: string[];
  moduleAux: Array<{ moduleName: string; moduleVersion: number; when: number }>;
  /** RESIZEDB hints per db. */
  resizeHints: Map<number, { keys: number; expires: number }>;
  checksum: 'verified' | 'zero' | 'absent' | 'not-checked' | null;
  /** Bytes that followed the end of the RDB and were ignored. */
  trailingBytes: number;
}
