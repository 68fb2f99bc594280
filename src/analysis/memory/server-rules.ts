// What changes between the server families the memory model follows (docs/memory-model.md §12–16): the
// load rules and MEMORY USAGE terms that differ from Redis 7.0, as data the one sizer reads.

import type { ScorePrinting } from './decimal.js';
import type { PackedFormat } from './packed-size.js';

export const MEMORY_MODELS = ['redis-6.2', 'redis-7.0', 'redis-7.2', 'redis-7.4', 'redis-8.0', 'redis-8.2', 'valkey-8.0'] as const;
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
  /** sizeof(streamConsumer): 24, 32 from 7.2 (active_time). */
  streamConsumer: number;
  /**
   * Where the key lives and what MEMORY USAGE counts for it: its own sds plus a 24-byte dict entry
   * ('sds'); Valkey 8.0: embedded in the keyspace's dict entry, one allocation ('dict-entry'); Redis 8.2:
   * embedded in the value's object with room for its expire time, a short string value too ('kvobj').
   */
  keyEmbedding: 'sds' | 'dict-entry' | 'kvobj';
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
  streamConsumer: 24,
  keyEmbedding: 'sds',
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

export const SERVER_RULES: Record<MemoryModelName, ServerRules> = {
  'redis-6.2': REDIS_62,
  'redis-7.0': REDIS_70,
  'redis-7.2': REDIS_72,
  'redis-7.4': REDIS_74,
  'redis-8.0': REDIS_80,
  'redis-8.2': { ...REDIS_80, keyEmbedding: 'kvobj', zsetEntry: 16, streamStruct: 112, pendingEntry: 32, listpackEx: 24 },
  'valkey-8.0': { ...REDIS_72, plainLargeListItems: true, keyEmbedding: 'dict-entry', bareSetMembers: true },
};
