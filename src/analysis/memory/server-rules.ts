// What changes between the server families the memory model follows (docs/memory-model.md §12–16): the
// load rules and MEMORY USAGE terms that differ from Redis 7.0, as data the one sizer reads.

import type { ScorePrinting } from './decimal.js';
import type { PackedFormat } from './packed-size.js';

export const MEMORY_MODELS = ['redis-6.2', 'redis-7.0', 'redis-7.2', 'redis-7.4', 'redis-8.0', 'redis-8.2', 'valkey-8.0', 'valkey-8.1', 'valkey-9.0'] as const;
export type MemoryModelName = (typeof MEMORY_MODELS)[number];

export interface ServerRules {
  /** What the loader packs small values into: ziplists up to 6.2, listpacks from 7.0. */
  packedFormat: PackedFormat;
  /** 6.2: MEMORY USAGE counts ziplists, intsets and embstr strings at their exact size, not their allocation. */
  exactContainers: boolean;
  /**
   * Struct sizes: dict (96 in 6.2, 56 from 7.0), quicklistNode (32, 40), stream (40, 80, 112 in 8.2),
   * streamCG (32, 40), streamNACK (24, 32 in 8.2), listpackEx (32 in 7.4, 24 in 8.2).
   */
  dictStruct: number;
  quicklistNode: number;
  streamStruct: number;
  consumerGroup: number;
  pendingEntry: number;
  listpackEx: number;
  /** 7.0+: a hash converted from a listpack gets a dict sized for the pairs so far (6.2 grows it). */
  presizedHashConversion: boolean;
  /** 7.2+: a list whose one node is packed and within list-max-listpack-size loads as a listpack. */
  listpackLists: boolean;
  /**
   * 7.2+: a set of strings within set-max-listpack-entries/-value loads as a listpack, and a set
   * converted to a hash table gets it pre-sized to the whole set (7.0 rehashes part of it).
   */
  listpackSets: boolean;
  /** How a sorted-set score is printed into a listpack: %.17g in 7.0, the shortest digits from 7.2. */
  scorePrinting: ScorePrinting;
  /** 7.2+: a sorted set converted from a listpack gets a pre-sized dict (7.0 grows it one add at a time). */
  presizedZsetConversion: boolean;
  /** 7.4+: a list element pushed while loading that is larger than a node (8 KiB) gets a plain node of its own. */
  plainLargeListItems: boolean;
  /**
   * 7.4+: hash fields are mstr strings (headers 1/3/3/9 bytes), a field with a TTL carries 18 bytes of
   * metadata; hashes with field TTLs load as listpackex (a 32-byte struct and a listpack of field,
   * value, TTL triplets) or as a hash table grown one field at a time.
   */
  hashFieldTtl: boolean;
  /**
   * How a stream's radix trees and groups are counted: Redis estimates a rax from its nodes and adds up
   * every group and consumer; Valkey 8.1+ counts the bytes each rax has allocated and averages consumers
   * per group and groups per stream.
   */
  streamAccounting: 'redis' | 'valkey';
  /** sizeof(streamConsumer): 24, 32 from 7.2 (active_time). */
  streamConsumer: number;
  /**
   * Where the key lives and what MEMORY USAGE counts for it: its own sds plus a 24-byte dict entry
   * ('sds'); Valkey 8.0: embedded in the keyspace's dict entry, one allocation ('dict-entry'); Redis 8.2:
   * embedded in the value's object with room for its expire time, a short string value too ('kvobj');
   * Valkey 8.1 embeds it the same way but counts only the robj for values not embedded ('kvobj-uncounted').
   */
  keyEmbedding: 'sds' | 'dict-entry' | 'kvobj' | 'kvobj-uncounted';
  /** Valkey 9.0: whether a short string is embedded with its key is decided with the key's real sds header. */
  embstrKeyHeader: boolean;
  /** Redis 8.2: the object holding the key is created knowing its TTL (Valkey adds it afterwards). */
  expireAtCreation: boolean;
  /** Sets, sorted sets and hashes in hash tables: Redis's dict, or Valkey 8.1+'s hashtable (hashtable-buckets.ts). */
  tables: 'dict' | 'hashtable';
  /** Bytes of metadata a hash's hashtable carries (Valkey 9.0: 8). */
  hashTableMetadata: number;
  /** Bytes counted per set member for its entry: 24; none in Valkey (8.0: see bareSetMembers). */
  setEntry: number;
  /** Redis 8.0+: a quicklist's nodes are averaged per element, not per node. */
  listAveragePerElement: boolean;
  /** Bytes counted per sorted-set member for its dict entry: 24; 16 in Redis 8.2 (an entry without a value). */
  zsetEntry: number;
  /**
   * Valkey 8.0: a set's hash table holds the first member of each bucket bare (no entry, counted 0) and
   * gives the others a 16-byte entry without a value.
   */
  bareSetMembers: boolean;
}

const REDIS_70: ServerRules = {
  packedFormat: 'listpack',
  exactContainers: false,
  dictStruct: 56,
  quicklistNode: 40,
  streamStruct: 80,
  consumerGroup: 40,
  pendingEntry: 24,
  listpackEx: 32,
  presizedHashConversion: true,
  listpackLists: false,
  listpackSets: false,
  presizedZsetConversion: false,
  scorePrinting: 'printf17',
  plainLargeListItems: false,
  hashFieldTtl: false,
  streamAccounting: 'redis',
  streamConsumer: 24,
  keyEmbedding: 'sds',
  embstrKeyHeader: false,
  expireAtCreation: false,
  tables: 'dict',
  hashTableMetadata: 0,
  setEntry: 24,
  listAveragePerElement: false,
  zsetEntry: 24,
  bareSetMembers: false,
};
const REDIS_72: ServerRules = { ...REDIS_70, listpackLists: true, listpackSets: true, presizedZsetConversion: true, scorePrinting: 'shortest', streamConsumer: 32 };

const REDIS_62: ServerRules = {
  ...REDIS_70,
  packedFormat: 'ziplist',
  exactContainers: true,
  dictStruct: 96,
  quicklistNode: 32,
  streamStruct: 40,
  consumerGroup: 32,
  presizedHashConversion: false,
};

const REDIS_74: ServerRules = { ...REDIS_72, plainLargeListItems: true, hashFieldTtl: true };
const REDIS_80: ServerRules = { ...REDIS_74, listAveragePerElement: true };

const VALKEY_81: ServerRules = {
  ...REDIS_72, plainLargeListItems: true, keyEmbedding: 'kvobj-uncounted', tables: 'hashtable', setEntry: 0, zsetEntry: 0,
  streamAccounting: 'valkey',
};

export const SERVER_RULES: Record<MemoryModelName, ServerRules> = {
  'redis-6.2': REDIS_62,
  'redis-7.0': REDIS_70,
  'redis-7.2': REDIS_72,
  'redis-7.4': REDIS_74,
  'redis-8.0': REDIS_80,
  'redis-8.2': { ...REDIS_80, keyEmbedding: 'kvobj', expireAtCreation: true, zsetEntry: 16, streamStruct: 112, pendingEntry: 32, listpackEx: 24 },
  'valkey-8.0': { ...REDIS_72, plainLargeListItems: true, keyEmbedding: 'dict-entry', setEntry: 0, bareSetMembers: true },
  'valkey-8.1': VALKEY_81,
  'valkey-9.0': { ...VALKEY_81, keyEmbedding: 'kvobj', embstrKeyHeader: true, hashTableMetadata: 8 },
};
