// Names for RDB type codes: the Redis value type each one holds and its on-disk encoding.
import type { RdbValueType } from './entry.js';

const VALKEY = 256;

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
