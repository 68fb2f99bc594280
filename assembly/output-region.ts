// The working area of an in-module writer (canonical JSON lines, RESTORE commands) in the arena: offsets
// from arenaBase, never addresses, because the arena moves when scratch grows. [completed output
// 0..outEnd) [the current key's bytes ..regEnd). One writer per instance uses it.
import { F_INTEGER } from "../src/core/abi";
import { arenaBase, arenaUsed, arenaEnsure, setArenaUsed } from "./memory";
import { writeSigned } from "./decimal";

export let outEnd: usize = 0;
export let regStart: usize = 0;
export let regEnd: usize = 0;

export function regionReset(): void {
  outEnd = 0; regStart = 0; regEnd = 0;
  setArenaUsed(0);
}

/** Offset → address; valid until scratch next grows (the parser is not running while we write). */
@inline export function at(off: usize): usize {
  return arenaBase + off;
}

/** Makes room for n bytes after regEnd. */
export function room(n: usize): void {
  const end = regEnd + n;
  if (end > arenaUsed) {
    arenaEnsure(end - arenaUsed);
    setArenaUsed(end);
  }
}

export function setRegEnd(off: usize): void {
  regEnd = off;
}

/** A new key starts after the completed output. */
export function beginKeyRegion(): void {
  regStart = outEnd;
  regEnd = outEnd;
}

/** Drops the current key's bytes (a key with no line). */
export function dropKeyRegion(): void {
  regEnd = outEnd;
}

/** The current key's bytes are finished output (written in place). */
export function completeRegion(): void {
  outEnd = regEnd;
}

/** The line just written at lineAt (len bytes) becomes the next completed line. */
export function completeLine(lineAt: usize, len: usize): void {
  memory.copy(at(outEnd), at(lineAt), len);
  outEnd += len;
  regEnd = outEnd;
}

/** Appends an event's string (bytes, or the decimal text of a lazy integer) at regEnd; returns its length. */
export function appendEventString(ev: usize): u32 {
  const flags = <u32>load<u16>(ev, 2);
  if (flags & F_INTEGER) {
    room(24);
    const end = writeSigned(load<i64>(ev, 16), at(regEnd));
    const n = <u32>(end - at(regEnd));
    regEnd += n;
    return n;
  }
  const n = load<u32>(ev, 8);
  room(n);
  memory.copy(at(regEnd), <usize>load<u32>(ev, 4), n);
  regEnd += n;
  return n;
}

/** Appends raw bytes given as a little-endian word (n ≤ 8). */
export function appendWord(w: u64, n: usize): void {
  room(8);
  store<u64>(at(regEnd), w);
  regEnd += n;
}

export function appendByte(b: u32): void {
  room(1);
  store<u8>(at(regEnd), <u8>b);
  regEnd += 1;
}

/** Completed output: arenaBase .. arenaBase + outputLength(). */
export function outputLength(): usize {
  return outEnd;
}

/**
 * The host wrote the completed output out: the current key's bytes move to the front. Returns the shift
 * so writers can adjust offsets they keep.
 */
export function flushRegion(): usize {
  const keep = regEnd - outEnd;
  if (keep > 0) memory.copy(at(0), at(outEnd), keep);
  const shift = outEnd;
  regStart -= shift;
  regEnd -= shift;
  outEnd = 0;
  return shift;
}
