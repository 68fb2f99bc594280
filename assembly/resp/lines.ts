// CRLF-terminated lines and the decimal integers in them. A line is looked for from a start address; the
// result is the address of its '\r', or 0 when the caller must wait (or the error was recorded).
import { RERR_BAD_LINE, RERR_LINE_TOO_LONG, RERR_BAD_INTEGER } from "../../src/core/resp-abi";
import { R_NEED, R_ERR, fail } from "../status";
import { lim, offsetOf } from "./input";

/** Longest line (without CRLF) a step waits for; set by init from the input buffer's size. */
export let maxLine: usize = 65536;
/** Set by lineEnd when it recorded an error (as opposed to: wait for more bytes). */
export let lineFailed: bool = false;

export function setMaxLine(n: usize): void {
  maxLine = n;
}

export function lineEnd(from: usize): usize {
  lineFailed = false;
  const avail = lim - from;
  const stop = from + (avail < maxLine + 1 ? avail : maxLine + 1);
  for (let p = from; p < stop; p++) {
    if (load<u8>(p) != 0x0d) continue;
    if (p + 1 >= lim) return 0;
    if (load<u8>(p + 1) != 0x0a) return failLine(RERR_BAD_LINE, <i64>load<u8>(p + 1), p + 1);
    return p;
  }
  if (avail > maxLine) return failLine(RERR_LINE_TOO_LONG, <i64>maxLine, from);
  return 0;
}

/** Records an error found in a line; returns 0 like a line that is not there. */
export function failLine(code: i32, detail: i64, at: usize): usize {
  fail(code, detail, offsetOf(at));
  lineFailed = true;
  return 0;
}

/** What a step returns when a line it needs is not there: wait for bytes, or the recorded error. */
@inline export function waitOrFail(): i32 {
  return lineFailed ? R_ERR : R_NEED;
}

/** The value of the last integerLine. */
export let lineInteger: i64 = 0;

/**
 * Reads the line at `from` as a decimal integer into lineInteger; returns the address after its CRLF,
 * or 0 (see waitOrFail).
 */
export function integerLine(from: usize): usize {
  const e = lineEnd(from);
  if (!e) return 0;
  lineInteger = parseInteger(from, e);
  if (badInteger) {
    lineFailed = true;
    return 0;
  }
  return e + 2;
}

/** Set by parseInteger when the text was not a 64-bit decimal integer (the error is recorded). */
export let badInteger: bool = false;

/** The decimal integer in [from, to): an optional '-' and 1–19 digits that fit an i64. */
export function parseInteger(from: usize, to: usize): i64 {
  badInteger = false;
  let p = from;
  const negative = p < to && load<u8>(p) == 0x2d;
  if (negative) p++;
  if (p == to || to - p > 19) return invalid(from);
  let v: u64 = 0;
  for (; p < to; p++) {
    const d = <u32>load<u8>(p) - 0x30;
    if (d > 9) return invalid(from);
    v = v * 10 + d;
  }
  // 19 digits may exceed i64: allow up to 2^63 - 1 (or 2^63 for a negative number).
  if (v > (negative ? <u64>0x8000000000000000 : <u64>0x7fffffffffffffff)) return invalid(from);
  return negative ? -<i64>v : <i64>v;
}

function invalid(at: usize): i64 {
  fail(RERR_BAD_INTEGER, 0, offsetOf(at));
  badInteger = true;
  return 0;
}
