// Number ↔ text conversions the core needs without the AssemblyScript runtime: integers are written as
// decimal text into scratch (so every element reaches JS as bytes), and score text is converted to a
// double only when the conversion is provably exact; otherwise the text goes to JS unchanged.
import { scratchPtr, scratchCommit } from "../memory";

/** Writes the decimal text of v at scratchPtr() (caller reserved 20 bytes); returns its length. */
export function writeDecimal(v: i64): u32 {
  const at = scratchPtr();
  let u: u64 = v < 0 ? <u64>(-v) : <u64>v; // -(i64.MIN) wraps to itself, which as u64 is right
  let n: u32 = 0;
  do {
    n++;
    u /= 10;
  } while (u != 0);
  const neg: u32 = v < 0 ? 1 : 0;
  const len = n + neg;
  u = v < 0 ? <u64>(-v) : <u64>v;
  let p = at + len;
  do {
    p--;
    store<u8>(p, <u8>(48 + <u32>(u % 10)));
    u /= 10;
  } while (u != 0);
  if (neg) store<u8>(at, 45);
  scratchCommit(len);
  return len;
}

/** Result of parseExactDouble when it returns true. */
export let parsedDouble: f64 = 0;

const POW10: StaticArray<f64> = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

@inline function lower(c: u32): u32 { return c | 0x20; }

/**
 * Parses decimal text (as strtod would) when the result is certainly exact: at most 15 significant
 * digits and a decimal exponent within ±22 (both factors exact doubles, one correctly rounded
 * operation), or inf/-inf. Returns false when JS must convert the text.
 */
export function parseExactDouble(p: usize, len: u32): bool {
  const end = p + len;
  if (len == 0) return false;
  let neg = false;
  let c = <u32>load<u8>(p);
  if (c == 45 || c == 43) { neg = c == 45; p++; }
  if (end - p == 3 && lower(load<u8>(p)) == 105 && lower(load<u8>(p + 1)) == 110 && lower(load<u8>(p + 2)) == 102) {
    parsedDouble = neg ? -Infinity : Infinity;
    return true;
  }
  let mant: u64 = 0;
  let digits: i32 = 0;
  let exp: i32 = 0;
  let seenDigit = false;
  let seenDot = false;
  while (p < end) {
    c = <u32>load<u8>(p);
    if (c >= 48 && c <= 57) {
      seenDigit = true;
      if (mant != 0 || c != 48) {
        if (digits >= 15) return false;
        mant = mant * 10 + <u64>(c - 48);
        digits++;
      }
      if (seenDot) exp--;
    } else if (c == 46 && !seenDot) {
      seenDot = true;
    } else break;
    p++;
  }
  if (!seenDigit) return false;
  if (p < end) {
    c = <u32>load<u8>(p);
    if (c != 101 && c != 69) return false;
    p++;
    let eneg = false;
    if (p < end && (load<u8>(p) == 45 || load<u8>(p) == 43)) { eneg = load<u8>(p) == 45; p++; }
    if (p == end) return false;
    let e: i32 = 0;
    while (p < end) {
      c = <u32>load<u8>(p);
      if (c < 48 || c > 57 || e > 10000) return false;
      e = e * 10 + <i32>(c - 48);
      p++;
    }
    exp += eneg ? -e : e;
  }
  let v = <f64>mant;
  if (mant != 0) {
    if (exp < -22 || exp > 22) return false;
    v = exp < 0 ? v / unchecked(POW10[-exp]) : v * unchecked(POW10[exp]);
  }
  parsedDouble = neg ? -v : v;
  return true;
}
