// The decimal texts Redis stores as integers: what string2ll / lpStringToInt64 accept (1-20 bytes, an
// optional '-', no leading zeros, no "-0", within the signed 64-bit range), and how a server prints a
// double into a listpack (d2string).

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

/** How a server prints a double into a listpack: Redis 7.0's printf("%.17g"), or 7.2's shortest digits (fpconv). */
export type ScorePrinting = 'printf17' | 'shortest';

/**
 * How a server stores a sorted-set score in a listpack: d2string (util.c) prints it and the listpack
 * keeps the text as an integer when it is one. Integers within ±2^62 (double2ll) are printed as such;
 * other values by printf's %.17g in Redis 7.0, by fpconv_dtoa's shortest digits from 7.2. Returns the
 * integer, or null and the text's length.
 */
export function redisScoreText(x: number, printing: ScorePrinting = 'printf17'): { integer: number | null; length: number } {
  if (Number.isInteger(x) && Math.abs(x) <= 2 ** 62) return Object.is(x, -0) ? { integer: null, length: 2 } : { integer: x, length: 0 };
  if (!Number.isFinite(x)) return { integer: null, length: Number.isNaN(x) ? 3 : x > 0 ? 3 : 4 };
  return { integer: null, length: printing === 'printf17' ? percentG17Length(x) : fpconvLength(x) };
}

/**
 * Length of fpconv_dtoa's text for a finite, non-zero x (deps/fpconv emit_digits): the shortest digits
 * that read back as x (JS finds the same ones), written plain, as a decimal, or in scientific notation.
 */
function fpconvLength(x: number): number {
  const text = Math.abs(x).toExponential(); // d[.ddd]e[+-]X, the shortest digits
  const e = text.indexOf('e');
  const ndigits = e > 1 ? e - 1 : 1;
  const exponent = Number(text.slice(e + 1));
  const k = exponent - (ndigits - 1); // x = digits * 10^k
  const sign = x < 0 ? 1 : 0;
  const exp = Math.abs(exponent);
  if (k >= 0 && exp < ndigits + 7) return sign + ndigits + k;
  if (k < 0 && (k > -7 || exp < 4)) {
    const offset = ndigits + k;
    return sign + (offset <= 0 ? ndigits + 2 - offset : ndigits + 1);
  }
  const shown = Math.min(ndigits, 18 - sign);
  return sign + (shown > 1 ? shown + 1 : 1) + 2 + (exp > 99 ? 3 : exp > 9 ? 2 : 1);
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
