// Bytes a listpack takes, from its elements (Redis src/listpack.c): a 6-byte header, the entries, an end
// byte. An element that is a canonical 64-bit decimal is stored as an integer; others as strings. Each
// entry is its encoding and data, then a back-length of that size.

export const LISTPACK_EMPTY = 7;

/** Encoding + data bytes of an integer entry. */
function integerBody(v: number): number {
  if (v >= 0 && v <= 127) return 1;
  if (v >= -4096 && v <= 4095) return 2;
  if (v >= -32768 && v <= 32767) return 3;
  if (v >= -8388608 && v <= 8388607) return 4;
  if (v >= -2147483648 && v <= 2147483647) return 5;
  return 9;
}

/** Encoding + data bytes of a string entry of the given length. */
function stringBody(length: number): number {
  if (length < 64) return 1 + length;
  if (length < 4096) return 2 + length;
  return 5 + length;
}

/** Bytes of the back-length that follows an entry body of the given size. */
function backLength(body: number): number {
  if (body <= 127) return 1;
  if (body < 16383) return 2;
  if (body < 2097151) return 3;
  if (body < 268435455) return 4;
  return 5;
}

/**
 * Bytes of one entry: `integer` is the element's value when it is a canonical decimal (its magnitude is
 * all that matters, so a double is precise enough), else null and `length` is its byte length.
 */
export function listpackEntrySize(length: number, integer: number | null): number {
  const body = integer === null ? stringBody(length) : integerBody(integer);
  return body + backLength(body);
}
