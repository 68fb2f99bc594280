// The replication stream's common case, fast: a command whose bytes are all in the input buffer is read in
// one step and reported as one RE_WHOLE_COMMAND event, its arguments' bounds written to the argument
// table, instead of an event per argument. The step takes only what it can read without doubt (counts and
// lengths of plain digits, bulk strings small enough to wait for, the CRLFs in place); anything else,
// including every malformed command, it leaves to the element-by-element reader, which reports the exact
// error. Like every step it commits nothing until the whole command is read.
import { RE_WHOLE_COMMAND } from "../../src/core/resp-abi";
import { emit } from "../events";
import { R_CONT, R_NEED, R_FULL } from "../status";
import { pos, lim, offsetOf, consume } from "./input";
import { nameId } from "./command-names";

/** The step returns this when the command must be read element by element. */
export const R_BY_ELEMENT: i32 = -1;

/** The argument table: per argument u32 start, u32 end (addresses); emptied with the event buffer. */
let tableBase: usize = 0;
let tableCap: u32 = 0;
let tableUsed: u32 = 0;
/** Longest bulk string and most arguments taken; a command is waited for while less than waitBelow bytes of it are in. */
let bulkLimit: i64 = 0;
let argLimit: i64 = 0;
let waitBelow: usize = 0;

export function wholeCommandsInit(table: usize, capacity: u32, maxBulk: i64, maxArgs: i64, waitLimit: usize): void {
  tableBase = table;
  tableCap = capacity;
  tableUsed = 0;
  bulkLimit = maxBulk;
  argLimit = maxArgs < <i64>capacity ? maxArgs : <i64>capacity;
  waitBelow = waitLimit;
}

export function resetArgumentTable(): void {
  tableUsed = 0;
}

/** Where the last number read ends: the address after its CRLF; 0: more bytes needed; 1: not plain digits. */
let numberEnd: usize = 0;

/** `<digits>\r\n` at p (at most 9 digits), its value; see numberEnd. */
@inline function plainNumber(p: usize): i64 {
  // The byte at lim is a sentinel that is not a digit: the loop needs no bound.
  let q = p;
  let v: u32 = 0;
  let d = <u32>load<u8>(q) - 0x30;
  while (d <= 9) {
    v = v * 10 + d;
    d = <u32>load<u8>(++q) - 0x30;
  }
  const digits = q - p;
  if (digits - 1 < 9 && q + 2 <= lim && load<u16>(q) == 0x0a0d) numberEnd = q + 2;
  else numberEnd = digits <= 9 && (q == lim || (q + 1 == lim && load<u8>(q) == 0x0d)) ? 0 : 1;
  return <i64>v;
}

@inline function incomplete(): i32 {
  return lim - pos < waitBelow ? R_NEED : R_BY_ELEMENT;
}

/** A command (`*` at pos): read whole, or R_NEED, R_FULL (argument table full) or R_BY_ELEMENT. */
export function wholeCommandStep(): i32 {
  const argc = plainNumber(pos + 1);
  if (numberEnd <= 1) return numberEnd == 0 ? incomplete() : R_BY_ELEMENT;
  if (argc < 1 || argc > argLimit) return R_BY_ELEMENT;
  if (tableUsed + <u32>argc > tableCap) return R_FULL;
  const bounds = tableBase + <usize>tableUsed * 8;
  let slot = bounds;
  let p = numberEnd;
  for (let i = <u32>argc; i > 0; i--) {
    if (load<u8>(p) != 0x24) return p >= lim ? incomplete() : R_BY_ELEMENT;
    const n = plainNumber(p + 1);
    if (numberEnd <= 1) return numberEnd == 0 ? incomplete() : R_BY_ELEMENT;
    if (n > bulkLimit) return R_BY_ELEMENT;
    const start = numberEnd;
    const end = start + <usize>n;
    if (end + 2 > lim) return incomplete();
    if (load<u16>(end) != 0x0a0d) return R_BY_ELEMENT;
    store<u32>(slot, <u32>start);
    store<u32>(slot, <u32>end, 4);
    slot += 8;
    p = end + 2;
  }
  tableUsed += <u32>argc;
  const id = nameId(<usize>load<u32>(bounds), <usize>load<u32>(bounds, 4));
  emit(RE_WHOLE_COMMAND, 0, pos, <u32>(p - pos), <u32>argc, (<i64>id << 32) | <i64>bounds, offsetOf(pos));
  consume(p);
  return R_CONT;
}
