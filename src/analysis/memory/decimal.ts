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

const TEXT = new TextEncoder();

/** canonicalInteger of a JS string of ASCII text. */
export function canonicalIntegerOfText(text: string): number | null {
  const bytes = TEXT.encode(text);
  return canonicalInteger(bytes, 0, bytes.length);
}

/** How Redis 7.0's d2string prints a score (util.c): what a listpack then stores. */
export function redisDoubleText(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  if (x > -4503599627370495 && x < 4503599627370496 && Number.isInteger(x)) return String(x);
  return percentG17(x);
}

/** C's printf("%.17g", x) for a finite, non-zero x. */
function percentG17(x: number): string {
  const [mantissa, exponentText] = x.toExponential(16).split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 17) {
    const sign = exponent < 0 ? '-' : '+';
    return `${trimZeros(mantissa)}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return trimZeros(x.toFixed(16 - exponent));
}

function trimZeros(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}
