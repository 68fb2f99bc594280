// The decimal texts Redis stores as integers: what string2ll / lpStringToInt64 accept (1-20 bytes, an
// optional '-', no leading zeros, no "-0", within the signed 64-bit range), and how Redis 7.0 prints a
// double (d2string: integer digits below 2^52, else printf's %.17g).

const INT64_MAX_DIGITS = '9223372036854775807';
const INT64_MIN_DIGITS = '9223372036854775808';

/**
 * The integer the bytes [start, end) spell in canonical decimal, or null. Its magnitude is exact enough
 * for sizing (a double); the range check itself is exact.
 */
export function canonicalInteger(bytes: Uint8Array, start: number, end: number): number | null {
  const length = end - start;
  if (length < 1 || length > 20) return null;
  const negative = bytes[start] === 0x2d;
  const first = negative ? start + 1 : start;
  const digits = end - first;
  if (digits < 1 || digits > 19) return null;
  if (bytes[first] === 0x30 && (digits > 1 || negative)) return null;
  let value = 0;
  for (let i = first; i < end; i++) {
    const d = bytes[i]! - 0x30;
    if (d < 0 || d > 9) return null;
    value = value * 10 + d;
  }
  if (digits === 19 && !withinInt64(bytes, first, negative)) return null;
  return negative ? -value : value;
}

function withinInt64(bytes: Uint8Array, first: number, negative: boolean): boolean {
  const limit = negative ? INT64_MIN_DIGITS : INT64_MAX_DIGITS;
  for (let k = 0; k < 19; k++) {
    const d = bytes[first + k]!;
    const l = limit.charCodeAt(k);
    if (d !== l) return d < l;
  }
  return true;
}

/**
 * How Redis 7.0 stores a sorted-set score in a listpack: d2string (util.c) prints it (integer digits
 * below 2^52, else printf's %.17g) and the listpack keeps the text as an integer when it is one. Returns
 * the integer, or null and the text's length.
 */
export function redisScoreText(x: number): { integer: number | null; length: number } {
  if (Number.isInteger(x) && Math.abs(x) < 1e17) return Object.is(x, -0) ? { integer: null, length: 2 } : { integer: x, length: 0 };
  if (!Number.isFinite(x)) return { integer: null, length: Number.isNaN(x) ? 3 : x > 0 ? 3 : 4 };
  return { integer: null, length: percentG17Length(x) };
}

/** Length of C's printf("%.17g", x) for a finite, non-zero x, from its 17 significant digits. */
function percentG17Length(x: number): number {
  const text = x.toExponential(16); // [-]d.dddddddddddddddde[+-]X
  const sign = x < 0 ? 1 : 0;
  const e = text.indexOf('e');
  const exponent = Number(text.slice(e + 1));
  let digits = 17; // significant digits once trailing zeros are trimmed
  while (digits > 1 && text.charCodeAt(e - 1 - (17 - digits)) === 0x30) digits--;
  if (exponent < -4 || exponent >= 17) {
    const exponentDigits = Math.max(2, String(Math.abs(exponent)).length);
    return sign + digits + (digits > 1 ? 1 : 0) + 2 + exponentDigits;
  }
  if (exponent >= 0) {
    const whole = exponent + 1;
    return sign + Math.max(whole, digits) + (digits > whole ? 1 : 0);
  }
  return sign + 2 + (-exponent - 1) + digits; // "0." then zeros, then the digits
}
