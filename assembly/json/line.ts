// The start of every canonical line: {"db":N,"key":K,"type":"T","expire_ms":E,"value":
import { writeJsonBytes } from "./text";
import { writeSigned } from "../decimal";

/** Writes up to 8 bytes given as a little-endian word; returns d + n (the room has slack). */
@inline export function word(d: usize, w: u64, n: usize): usize {
  store<u64>(d, w);
  return d + n;
}

const TYPE_NAMES: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, // unused
  115, 116, 114, 105, 110, 103, 0, 0, // string
  108, 105, 115, 116, 0, 0, 0, 0, // list
  115, 101, 116, 0, 0, 0, 0, 0, // set
  122, 115, 101, 116, 0, 0, 0, 0, // zset
  104, 97, 115, 104, 0, 0, 0, 0, // hash
  115, 116, 114, 101, 97, 109, 0, 0, // stream
]);
const TYPE_LENS: usize = memory.data<u8>([0, 6, 4, 3, 4, 4, 6]);

/** Value types the writer handles (index into TYPE_NAMES). */
export const VT_STRING: u32 = 1;
export const VT_LIST: u32 = 2;
export const VT_SET: u32 = 3;
export const VT_ZSET: u32 = 4;
export const VT_HASH: u32 = 5;
export const VT_STREAM: u32 = 6;

export function writeLineHead(d: usize, db: i64, key: usize, keyLen: usize, vt: u32, hasExpire: bool, expireMs: i64): usize {
  d = word(d, 0x3a226264227b, 6); // {"db":
  d = writeSigned(db, d);
  d = word(d, 0x3a2279656b222c, 7); // ,"key":
  d = writeJsonBytes(key, keyLen, d);
  d = word(d, 0x3a2265707974222c, 8); // ,"type":
  d = word(d, 0x22, 1); // "
  d = word(d, load<u64>(TYPE_NAMES + (<usize>vt << 3)), <usize>load<u8>(TYPE_LENS + vt));
  d = word(d, 0x7269707865222c22, 8); // ","expir
  d = word(d, 0x3a22736d5f65, 6); // e_ms":
  if (hasExpire) d = writeSigned(expireMs, d);
  else d = word(d, 0x6c6c756e, 4); // null
  d = word(d, 0x2265756c6176222c, 8); // ,"value"
  return word(d, 0x3a, 1); // :
}
