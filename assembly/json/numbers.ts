// Numbers as canonical JSON (FORMAT.md §4): exact integers, and sorted-set scores as ECMAScript's
// Number::toString writes them (shortest round-trip digits). Scores are found here when it can be proven
// cheaply (at most 15 significant digits, checked by an exact conversion back); the rest are formatted
// by the host (JavaScript's own String(x)).

import { POW10, writeUnsigned, writeSigned } from "../decimal";

@external("host", "formatScore")
declare function hostFormatScore(x: f64, dst: usize): u32;

@inline function scaled(d: f64, p: i32): f64 {
  return p >= 0 ? d / unchecked(POW10[p]) : d * unchecked(POW10[-p]);
}

/** Decimal digits of the shortest representation found by shortestDigits, and its exponent. */
let sdDigits: u64 = 0;
let sdCount: i32 = 0;
let sdExp: i32 = 0; // x = 0.DIGITS × 10^sdExp

/** floor(log10(a)) for 1e-22 ≤ a < 1e23 by comparing with exact powers of ten; i32.MIN_VALUE outside. */
function decimalExponent(a: f64): i32 {
  if (a >= 1) {
    if (a >= 1e23) return i32.MIN_VALUE;
    let e = 0;
    while (e < 22 && a >= unchecked(POW10[e + 1])) e++;
    return e;
  }
  if (a < 1e-22) return i32.MIN_VALUE;
  let e = 1;
  while (a * unchecked(POW10[e]) < 1) e++;
  return -e;
}

/**
 * Finds the shortest digits (at most 15) that convert back to a exactly. If such digits D exist, a
 * rounded to 15 significant digits is D followed by zeros (a is within half an ulp of D, far less than
 * half a unit in the 15th digit), so the 15-digit rounding — computed approximately, then checked
 * exactly for it and its neighbours — yields D once its trailing zeros are stripped. False when no
 * candidate converts back (the shortest form needs 16 or 17 digits) or the check cannot be exact.
 */
function shortestDigits(a: f64): bool {
  const e10 = decimalExponent(a);
  if (e10 == i32.MIN_VALUE) return false;
  const p = 14 - e10; // 15 significant digits: d ≈ a × 10^p
  if (p > 22 || p < -22) return false;
  const guess = Math.round(p >= 0 ? a * unchecked(POW10[p]) : a / unchecked(POW10[-p]));
  let best: u64 = 0;
  let bestLen: i32 = 99;
  let bestP: i32 = 0;
  let ties = 0;
  for (let delta: i32 = -1; delta <= 1; delta++) {
    const d = guess + <f64>delta;
    if (d < 1 || d >= 9007199254740992.0) continue;
    // d < 2^53 and 10^|p| ≤ 10^22 are exact, so this single operation is correctly rounded.
    if (scaled(d, p) != a) continue;
    let digits = <u64>d;
    let q = p;
    while (digits % 10 == 0) { digits /= 10; q--; }
    let n: i32 = 0;
    for (let t = digits; t != 0; t /= 10) n++;
    if (n < bestLen) { best = digits; bestLen = n; bestP = q; ties = 0; }
    else if (n == bestLen) ties++;
  }
  if (bestLen == 99 || ties > 0) return false;
  sdDigits = best;
  sdCount = bestLen;
  sdExp = bestLen - bestP;
  return true;
}

/** Writes sdDigits (sdCount digits, exponent sdExp) in ECMAScript Number::toString layout. */
function layoutDigits(d: usize): usize {
  const k = sdCount;
  const n = sdExp;
  const digits = d + 40; // scratch space past what the layout writes first
  writeUnsigned(sdDigits, digits);
  if (k <= n && n <= 21) {
    memory.copy(d, digits, k);
    d += k;
    for (let i = k; i < n; i++) store<u8>(d++, 48);
    return d;
  }
  if (0 < n && n <= 21) {
    memory.copy(d, digits, n);
    store<u8>(d + n, 46);
    memory.copy(d + n + 1, digits + n, k - n);
    return d + k + 1;
  }
  if (-6 < n && n <= 0) {
    store<u16>(d, 0x2e30); // "0."
    d += 2;
    for (let i = 0; i < -n; i++) store<u8>(d++, 48);
    memory.copy(d, digits, k);
    return d + k;
  }
  store<u8>(d++, load<u8>(digits));
  if (k > 1) {
    store<u8>(d++, 46);
    memory.copy(d, digits + 1, k - 1);
    d += k - 1;
  }
  store<u8>(d++, 101); // e
  const e = n - 1;
  store<u8>(d++, e < 0 ? 45 : 43);
  return writeUnsigned(<u64>(e < 0 ? -e : e), d);
}

/** Writes a sorted-set score (room: 64 bytes): "inf"/"-inf" as strings, -0 as 0. */
export function writeScore(x: f64, d: usize): usize {
  if (x == Infinity) { store<u32>(d, 0x666e6922); store<u8>(d + 4, 0x22); return d + 5; } // "inf"
  if (x == -Infinity) { store<u32>(d, 0x6e692d22); store<u16>(d + 4, 0x2266); return d + 6; } // "-inf"
  if (x == 0) { store<u8>(d, 48); return d + 1; }
  const a = Math.abs(x);
  if (a < 9007199254740992.0 && Math.floor(a) == a) return writeSigned(<i64>x, d);
  let at = d;
  if (x < 0) store<u8>(at++, 45);
  if (a == a && shortestDigits(a)) return layoutDigits(at);
  return d + hostFormatScore(x, d);
}
