// RDB object type codes and opcodes (src/rdb.h of Redis and Valkey). Codes 22-23 mean different things
// in Redis and Valkey files; the header's magic decides (see normalizeType in parser.ts).

export const T_STRING: u32 = 0;
export const T_LIST: u32 = 1;
export const T_SET: u32 = 2;
export const T_ZSET: u32 = 3;
export const T_HASH: u32 = 4;
export const T_ZSET_2: u32 = 5;
export const T_MODULE_PRE_GA: u32 = 6;
export const T_MODULE_2: u32 = 7;
export const T_HASH_ZIPMAP: u32 = 9;
export const T_LIST_ZIPLIST: u32 = 10;
export const T_SET_INTSET: u32 = 11;
export const T_ZSET_ZIPLIST: u32 = 12;
export const T_HASH_ZIPLIST: u32 = 13;
export const T_LIST_QUICKLIST: u32 = 14;
export const T_STREAM_LISTPACKS: u32 = 15;
export const T_HASH_LISTPACK: u32 = 16;
export const T_ZSET_LISTPACK: u32 = 17;
export const T_LIST_QUICKLIST_2: u32 = 18;
export const T_STREAM_LISTPACKS_2: u32 = 19;
export const T_SET_LISTPACK: u32 = 20;
export const T_STREAM_LISTPACKS_3: u32 = 21;
export const T_HASH_METADATA_PRE_GA: u32 = 22;
export const T_HASH_LISTPACK_EX_PRE_GA: u32 = 23;
export const T_HASH_METADATA: u32 = 24;
export const T_HASH_LISTPACK_EX: u32 = 25;
export const T_STREAM_LISTPACKS_4: u32 = 26; // Redis 8.6 (RDB 13): stream with an IDMP trailer

/** Whether a type code is a stream (any of its layouts). */
@inline export function isStreamType(t: u32): bool {
  return t == T_STREAM_LISTPACKS || t == T_STREAM_LISTPACKS_2 || t == T_STREAM_LISTPACKS_3 || t == T_STREAM_LISTPACKS_4;
}
/** Valkey's own codes are reported shifted by 256 so they never collide with Redis's. */
export const T_VALKEY_BASE: u32 = 256;
export const T_VALKEY_HASH_2: u32 = T_VALKEY_BASE + 22;

export const OP_KEY_META_OR_SLOT_IMPORT: u32 = 0xf3; // Redis 13: KEY_META; Valkey: SLOT_IMPORT
export const OP_SLOT_INFO: u32 = 0xf4;
export const OP_FUNCTION_PRE_GA: u32 = 0xf6;
export const OP_FUNCTION2: u32 = 0xf5;
export const OP_MODULE_AUX: u32 = 0xf7;
export const OP_IDLE: u32 = 0xf8;
export const OP_FREQ: u32 = 0xf9;
export const OP_AUX: u32 = 0xfa;
export const OP_RESIZEDB: u32 = 0xfb;
export const OP_EXPIRETIME_MS: u32 = 0xfc;
export const OP_EXPIRETIME: u32 = 0xfd;
export const OP_SELECTDB: u32 = 0xfe;
export const OP_EOF: u32 = 0xff;

// Module value opcodes (self-describing module serialization, RDB_MODULE_OPCODE_*).
export const MOD_EOF: u64 = 0;
export const MOD_SINT: u64 = 1;
export const MOD_UINT: u64 = 2;
export const MOD_FLOAT: u64 = 3;
export const MOD_DOUBLE: u64 = 4;
export const MOD_STRING: u64 = 5;

// Quicklist 2 node containers.
export const QL_PLAIN: u64 = 1;
export const QL_PACKED: u64 = 2;
