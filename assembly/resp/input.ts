// The RESP core's view of its input buffer. A step reads from `pos` with plain addresses and moves `pos`
// only when everything it needs was there; otherwise it returns R_NEED and runs again, from the same
// `pos`, once more bytes arrived. Compaction moves the unconsumed tail to the front of the buffer.
import { inputBase } from "../memory";

/** First unconsumed byte (absolute address in linear memory). */
export let pos: usize = 0;
/** End of the valid input bytes; the byte at lim is always 0 (a sentinel: never a digit, CR or LF). */
export let lim: usize = 0;
/** Stream offset of inputBase: bytes discarded by earlier compactions. */
export let base: i64 = 0;

export function inputReset(): void {
  pos = inputBase;
  setLim(inputBase);
  base = 0;
}

/** Stream offset (bytes fed since init) of an address in the input buffer. */
@inline export function offsetOf(p: usize): i64 {
  return base + <i64>(p - inputBase);
}

export function consume(to: usize): void {
  pos = to;
}

export function appendInput(n: u32): void {
  setLim(lim + n);
}

/** Moves the unconsumed bytes to the start of the buffer; returns the free space after them. */
export function compactInput(cap: u32): u32 {
  const keep = lim - pos;
  if (pos > inputBase) {
    if (keep > 0) memory.copy(inputBase, pos, keep);
    base += <i64>(pos - inputBase);
    pos = inputBase;
    setLim(inputBase + keep);
  }
  return cap - <u32>keep;
}

@inline function setLim(to: usize): void {
  lim = to;
  store<u8>(lim, 0);
}
