// The cursor over the input buffer. A parse step reads with a trial cursor (`cur`) and commits it to
// `pos` only when everything the step needs was there; when a read runs past the data (`short`), the
// step is abandoned and re-run from the same `pos` after the caller feeds more bytes. This is what makes
// the parser resumable at any byte without an explicit state for every field.
import { inputBase } from "../memory";
import { crcUpdate } from "./crc64";

/** Committed read position (absolute address in linear memory). */
export let pos: usize = 0;
/** End of the valid input bytes. */
export let lim: usize = 0;
/** Trial cursor of the running step. */
export let cur: usize = 0;
/** Set when a trial read ran past `lim`. */
export let short: bool = false;
/** Absolute stream offset of inputBase (grows as consumed bytes are discarded). */
export let base: i64 = 0;

/** Running CRC64 over every byte before crcPos, or before stream offset crcStop if that comes first. */
export let crc: u64 = 0;
export let crcPos: usize = 0;
export let crcOn: bool = false;
export let crcStop: i64 = i64.MAX_VALUE;

/** stopAt: stream offset where the running CRC stops (another thread checksums the rest); -1: never. */
export function readerReset(withCrc: bool, stopAt: i64): void {
  pos = inputBase; lim = inputBase; cur = inputBase; short = false; base = 0;
  crc = 0; crcPos = inputBase; crcOn = withCrc; crcStop = stopAt < 0 ? i64.MAX_VALUE : stopAt;
}

/** Absolute stream offset of an address in the input buffer. */
@inline export function offsetOf(p: usize): i64 {
  return base + <i64>(p - inputBase);
}

export function crcCatchUp(upTo: usize): void {
  if (upTo <= crcPos) return;
  const room = crcStop - offsetOf(crcPos);
  if (crcOn && room > 0) crc = crcUpdate(crc, crcPos, room < <i64>(upTo - crcPos) ? <usize>room : upTo - crcPos);
  crcPos = upTo;
}

/** Moves unconsumed bytes to the start of the input buffer; returns the free space after them. */
export function compact(cap: u32): u32 {
  crcCatchUp(pos);
  const keep = lim - pos;
  if (pos > inputBase) {
    if (keep > 0) memory.copy(inputBase, pos, keep);
    base += <i64>(pos - inputBase);
    pos = inputBase;
    lim = inputBase + keep;
    crcPos = inputBase;
  }
  cur = pos;
  return cap - <u32>keep;
}

export function appended(n: u32): void {
  lim += n;
}

@inline export function begin(): void {
  cur = pos;
  short = false;
}

@inline export function commit(): void {
  pos = cur;
}

@inline export function avail(): usize {
  return lim - cur;
}

@inline export function has(n: usize): bool {
  if (cur + n <= lim) return true;
  short = true;
  return false;
}

export function u8r(): u32 {
  if (!has(1)) return 0;
  const v = <u32>load<u8>(cur);
  cur += 1;
  return v;
}

export function u16le(): u32 {
  if (!has(2)) return 0;
  const v = <u32>load<u16>(cur);
  cur += 2;
  return v;
}

export function u32le(): u32 {
  if (!has(4)) return 0;
  const v = load<u32>(cur);
  cur += 4;
  return v;
}

export function u64le(): u64 {
  if (!has(8)) return 0;
  const v = load<u64>(cur);
  cur += 8;
  return v;
}

export function u64be(): u64 {
  if (!has(8)) return 0;
  const v = bswap<u64>(load<u64>(cur));
  cur += 8;
  return v;
}

export function f64le(): f64 {
  if (!has(8)) return 0;
  const v = load<f64>(cur);
  cur += 8;
  return v;
}

export function f32le(): f32 {
  if (!has(4)) return 0;
  const v = load<f32>(cur);
  cur += 4;
  return v;
}

/** Kinds of RDB length headers (lenKind after readLen). */
export const LEN_PLAIN: i32 = 0;
export const LEN_INT8: i32 = 1;
export const LEN_INT16: i32 = 2;
export const LEN_INT32: i32 = 3;
export const LEN_LZF: i32 = 4;
export const LEN_BAD: i32 = 5;

export let lenKind: i32 = LEN_PLAIN;
/** The byte that started the last length header, for error messages. */
export let lenByte: u32 = 0;

/**
 * Reads an RDB length: 00xxxxxx (6 bits), 01xxxxxx + 1 byte (14 bits), 0x80 + u32 BE, 0x81 + u64 BE,
 * or 11xxxxxx for a specially encoded string (lenKind tells which).
 */
export function readLen(): u64 {
  lenKind = LEN_PLAIN;
  if (!has(1)) return 0;
  const b = <u32>load<u8>(cur);
  lenByte = b;
  const kind = b >> 6;
  if (kind == 0) { cur += 1; return <u64>(b & 0x3f); }
  if (kind == 1) {
    if (!has(2)) return 0;
    const v = ((b & 0x3f) << 8) | <u32>load<u8>(cur + 1);
    cur += 2;
    return <u64>v;
  }
  if (kind == 2) {
    if (b == 0x80) {
      if (!has(5)) return 0;
      const v = bswap<u32>(load<u32>(cur + 1));
      cur += 5;
      return <u64>v;
    }
    if (b == 0x81) {
      if (!has(9)) return 0;
      const v = bswap<u64>(load<u64>(cur + 1));
      cur += 9;
      return v;
    }
    lenKind = LEN_BAD;
    return 0;
  }
  cur += 1;
  const enc = b & 0x3f;
  if (enc == 0) lenKind = LEN_INT8;
  else if (enc == 1) lenKind = LEN_INT16;
  else if (enc == 2) lenKind = LEN_INT32;
  else if (enc == 3) lenKind = LEN_LZF;
  else lenKind = LEN_BAD;
  return 0;
}

/** Moves the trial cursor past n bytes (false, and `short`, when they have not all arrived). */
export function skip(n: usize): bool {
  if (!has(n)) return false;
  cur += n;
  return true;
}
