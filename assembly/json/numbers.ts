// Numbers as canonical JSON (FORMAT.md §4): exact integers, and sorted-set scores as ECMAScript's
// Number::toString writes them (shortest round-trip digits). Scores are found here when it can be proven
// cheaply (at most 15 significant digits, checked by an exact conversion back); the rest are formatted
// by the host (JavaScript's own String(x)).

@external("host", "formatScore")
declare function hostFormatScore(x: f64, dst: usize): u32;

const POW10: StaticArray<f64> = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/** "00" to "99": two digits per division. */
const PAIRS: usize = memory.data<u8>([48,48,48,49,48,50,48,51,48,52,48,53,48,54,48,55,48,56,48,57,49,48,49,49,49,50,49,51,49,52,49,53,49,54,49,55,49,56,49,57,50,48,50,49,50,50,50,51,50,52,50,53,50,54,50,55,50,56,50,57,51,48,51,49,51,50,51,51,51,52,51,53,51,54,51,55,51,56,51,57,52,48,52,49,52,50,52,51,52,52,52,53,52,54,52,55,52,56,52,57,53,48,53,49,53,50,53,51,53,52,53,53,53,54,53,55,53,56,53,57,54,48,54,49,54,50,54,51,54,52,54,53,54,54,54,55,54,56,54,57,55,48,55,49,55,50,55,51,55,52,55,53,55,54,55,55,55,56,55,57,56,48,56,49,56,50,56,51,56,52,56,53,56,54,56,55,56,56,56,57,57,48,57,49,57,50,57,51,57,52,57,53,57,54,57,55,57,56,57,57]);

@inline function digitCount32(v: u32): usize {
  if (v < 10) return 1;
  if (v < 100) return 2;
  if (v < 1000) return 3;
  if (v < 10000) return 4;
  if (v < 100000) return 5;
  if (v < 1000000) return 6;
  if (v < 10000000) return 7;
  if (v < 100000000) return 8;
  if (v < 1000000000) return 9;
  return 10;
}

/** Writes v (below 2^32) ending at `end`, two digits at a time with 32-bit division. */
@inline function backwards32(v: u32, end: usize): void {
  let p = end;
  while (v >= 100) {
    const q = v / 100;
    p -= 2;
    store<u16>(p, load<u16>(PAIRS + (<usize>(v - q * 100) << 1)));
    v = q;
  }
  if (v >= 10) store<u16>(p - 2, load<u16>(PAIRS + (<usize>v << 1)));
  else store<u8>(p - 1, <u8>(48 + v));
}

/** Writes the decimal digits of u at d; returns the end. */
export function writeUnsigned(u: u64, d: usize): usize {
  if (u <= 0xffffffff) {
    const n = digitCount32(<u32>u);
    backwards32(<u32>u, d + n);
    return d + n;
  }
  // Above 2^32: peel 9-digit groups with 64-bit division (rare: IDs, timestamps).
  const low = <u32>(u % 1000000000);
  const end = writeUnsigned(u / 1000000000, d);
  for (let i: usize = 0; i < 9; i++) store<u8>(end + i, 48);
  backwards32(low, end + 9);
  return end + 9;
}

export function writeSigned(v: i64, d: usize): usize {
  if (v < 0) {
    store<u8>(d, 45);
    return writeUnsigned(<u64>(-v), d + 1); // -(i64.MIN) wraps to 2^63 as u64, which is right
  }
  return writeUnsigned(<u64>v, d);
}

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
