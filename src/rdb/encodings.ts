// Names for RDB type codes: the Redis value type each one holds and its on-disk encoding.
import type { RdbValueType } from './entry.js';

const VALKEY = 256;

/** RDB type codes (Redis rdb.h; Valkey's own codes + 256, as E_KEY reports them). */
export const RDB_TYPE = {
  STRING: 0, LIST: 1, SET: 2, ZSET: 3, HASH: 4, ZSET_2: 5, MODULE_2: 7,
  HASH_ZIPMAP: 9, LIST_ZIPLIST: 10, SET_INTSET: 11, ZSET_ZIPLIST: 12, HASH_ZIPLIST: 13, LIST_QUICKLIST: 14,
  STREAM_LISTPACKS: 15, HASH_LISTPACK: 16, ZSET_LISTPACK: 17, LIST_QUICKLIST_2: 18, STREAM_LISTPACKS_2: 19,
  SET_LISTPACK: 20, STREAM_LISTPACKS_3: 21, HASH_METADATA_PRE_GA: 22, HASH_LISTPACK_EX_PRE_GA: 23,
  HASH_METADATA: 24, HASH_LISTPACK_EX: 25, STREAM_LISTPACKS_4: 26, VALKEY_HASH_2: VALKEY + 22,
} as const;

const TYPES: Record<number, [RdbValueType, string]> = {
  0: ['string', 'string'],
  1: ['list', 'linkedlist'],
  2: ['set', 'hashtable'],
  3: ['zset', 'skiplist'],
  4: ['hash', 'hashtable'],
  5: ['zset', 'skiplist'],
  7: ['module', 'module'],
  9: ['hash', 'zipmap'],
  10: ['list', 'ziplist'],
  11: ['set', 'intset'],
  12: ['zset', 'ziplist'],
  13: ['hash', 'ziplist'],
  14: ['list', 'quicklist'],
  15: ['stream', 'stream'],
  16: ['hash', 'listpack'],
  17: ['zset', 'listpack'],
  18: ['list', 'quicklist'],
  19: ['stream', 'stream'],
  20: ['set', 'listpack'],
  21: ['stream', 'stream'],
  22: ['hash', 'hashtable'],
  23: ['hash', 'listpackex'],
  24: ['hash', 'hashtable'],
  25: ['hash', 'listpackex'],
  26: ['stream', 'stream'],
  [VALKEY + 22]: ['hash', 'hashtable'],
};

export function valueTypeOf(rdbType: number): RdbValueType {
  return TYPES[rdbType]?.[0] ?? 'module';
}

export function encodingOf(rdbType: number): string {
  return TYPES[rdbType]?.[1] ?? `type-${rdbType}`;
}

const MODULE_CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Decodes a 64-bit module type id: 9 six-bit characters, then a 10-bit encoding version. */
export function decodeModuleId(id: bigint): { name: string; version: number } {
  const version = Number(id & 1023n);
  let rest = id >> 10n;
  let name = '';
  for (let i = 0; i < 9; i++) {
    name = MODULE_CHARSET[Number(rest & 63n)] + name;
    rest >>= 6n;
  }
  return { name, version };
}
