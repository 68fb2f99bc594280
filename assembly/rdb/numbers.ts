// Score text → double, only when the conversion is provably exact; otherwise the text goes to JS
// unchanged (integers → text live in ../decimal.ts).
import { POW10 } from "../decimal";

/** Result of parseExactDouble when it returns true. */
export let parsedDouble: f64 = 0;

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
