// The object that holds a value together with its key, as Redis 8.2 (kvobj) and Valkey 8.1+ build it
// (object.c): robj, an optional expire time, the key's header size and its sds, and a short string
// value (a type-8 sds) when everything fits in 64 bytes. The expire slot is there when the key has a TTL
// or is 128 bytes or longer, or when the allocation has room for it anyway. Redis creates the object
// knowing the key's TTL; Valkey creates it without and, for a key with a TTL and no room for it, creates
// it again with the expire time (where a short string may no longer fit).
import { sizeClass, type Quantum } from './allocator.js';

const ROBJ = 16;
const EXPIRE = 8;
const CACHE_LINE = 64;

/** Bytes an sds of this length is created with: header (1 below 32 bytes, even empty), bytes, terminator. */
export function sdsRequest(length: number): number {
  return (length < 32 ? 1 : length < 256 ? 3 : length < 65536 ? 5 : 9) + length + 1;
}

export interface EmbeddingRules {
  /** Redis 8.2: the TTL is known when the object is created; Valkey adds it afterwards. */
  expireAtCreation: boolean;
  /** Valkey 9.0: the 64-byte test counts the key's real sds header (8.1, Redis 8.2: 3 bytes whatever the key). */
  embstrKeyHeader: boolean;
}

export interface EmbeddedObject {
  /** The object's allocation. */
  bytes: number;
  /** Whether the string value is inside it (embstr) rather than in an sds of its own (raw). */
  embedsValue: boolean;
}

function create(keyLength: number, value: number | null, expire: boolean, rules: EmbeddingRules, quantum: Quantum): EmbeddedObject & { roomForExpire: boolean } {
  const keyBytes = 1 + sdsRequest(keyLength);
  const keyTerm = rules.embstrKeyHeader ? keyBytes : keyLength + 3;
  const embedsValue = value !== null && ROBJ + keyTerm + (expire ? EXPIRE : 0) + 3 + value + 1 <= CACHE_LINE;
  const reserved = expire || (!embedsValue && keyLength >= 128);
  const minimum = ROBJ + (reserved ? EXPIRE : 0) + keyBytes + (embedsValue ? 3 + value! + 1 : 0);
  const bytes = sizeClass(minimum, quantum);
  return { bytes, embedsValue, roomForExpire: reserved || bytes >= minimum + EXPIRE };
}

/** The object for a key of `keyLength` bytes and a value (`stringLength`: a string that may be embedded, else null). */
export function embeddedObject(keyLength: number, stringLength: number | null, expires: boolean, rules: EmbeddingRules, quantum: Quantum): EmbeddedObject {
  if (rules.expireAtCreation) return create(keyLength, stringLength, expires, rules, quantum);
  const first = create(keyLength, stringLength, false, rules, quantum);
  return expires && !first.roomForExpire ? create(keyLength, stringLength, true, rules, quantum) : first;
}
