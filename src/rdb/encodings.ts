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

const T = RDB_TYPE;
const TYPES: Record<number, [RdbValueType, string]> = {
  [T.STRING]: ['string', 'string'],
  [T.LIST]: ['list', 'linkedlist'],
  [T.SET]: ['set', 'hashtable'],
  [T.ZSET]: ['zset', 'skiplist'],
  [T.HASH]: ['hash', 'hashtable'],
  [T.ZSET_2]: ['zset', 'skiplist'],
  [T.MODULE_2]: ['module', 'module'],
  [T.HASH_ZIPMAP]: ['hash', 'zipmap'],
  [T.LIST_ZIPLIST]: ['list', 'ziplist'],
  [T.SET_INTSET]: ['set', 'intset'],
  [T.ZSET_ZIPLIST]: ['zset', 'ziplist'],
  [T.HASH_ZIPLIST]: ['hash', 'ziplist'],
  [T.LIST_QUICKLIST]: ['list', 'quicklist'],
  [T.STREAM_LISTPACKS]: ['stream', 'stream'],
  [T.HASH_LISTPACK]: ['hash', 'listpack'],
  [T.ZSET_LISTPACK]: ['zset', 'listpack'],
  [T.LIST_QUICKLIST_2]: ['list', 'quicklist'],
  [T.STREAM_LISTPACKS_2]: ['stream', 'stream'],
  [T.SET_LISTPACK]: ['set', 'listpack'],
  [T.STREAM_LISTPACKS_3]: ['stream', 'stream'],
  [T.HASH_METADATA_PRE_GA]: ['hash', 'hashtable'],
  [T.HASH_LISTPACK_EX_PRE_GA]: ['hash', 'listpackex'],
  [T.HASH_METADATA]: ['hash', 'hashtable'],
  [T.HASH_LISTPACK_EX]: ['hash', 'listpackex'],
  [T.STREAM_LISTPACKS_4]: ['stream', 'stream'],
  [T.VALKEY_HASH_2]: ['hash', 'hashtable'],
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
