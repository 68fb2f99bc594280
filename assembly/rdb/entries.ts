// Decoding single entries of Redis's packed encodings (ziplist, listpack) at a pointer, with every read
// bounds-checked against the blob's end. An entry is either bytes (ePtr/eLen) or an integer (eInt).

export let ePtr: usize = 0;
export let eLen: u32 = 0;
export let eIsInt: bool = false;
export let eInt: i64 = 0;
/** Address just past the entry (after its backlen, for listpacks). */
export let eNext: usize = 0;

@inline function str(p: usize, n: usize, end: usize): bool {
  if (n > end - p) return false;
  ePtr = p; eLen = <u32>n; eIsInt = false; eNext = p + n;
  return true;
}

@inline function int(v: i64, next: usize): void {
  eInt = v; eIsInt = true; eNext = next;
}

/** Where a packed blob's entries lie (set by listpackBody / ziplistBody): [bodyStart, bodyEnd). */
export let bodyStart: usize = 0;
export let bodyEnd: usize = 0;

/** Checks a listpack's header (total bytes, count) and terminator; false when they do not fit. */
export function listpackBody(p: usize, n: u32): bool {
  if (n < 7 || load<u32>(p) != n || load<u8>(p + <usize>n - 1) != 0xff) return false;
  bodyStart = p + 6;
  bodyEnd = p + <usize>n - 1;
  return true;
}

/** Checks a ziplist's header (total bytes, tail, count) and terminator. */
export function ziplistBody(p: usize, n: u32): bool {
  if (n < 11 || load<u32>(p) != n || load<u8>(p + <usize>n - 1) != 0xff) return false;
  bodyStart = p + 10;
  bodyEnd = p + <usize>n - 1;
  return true;
}

/** Bytes a listpack backlen takes for an entry of `size` bytes (encoding + data). */
function backlenSize(size: usize): usize {
  if (size <= 127) return 1;
  if (size < 16383) return 2;
  if (size < 2097151) return 3;
  if (size < 268435455) return 4;
  return 5;
}

/** Decodes the listpack entry at p (not the 0xFF terminator). Returns false when it is malformed. */
export function listpackEntry(p: usize, end: usize): bool {
  if (p >= end) return false;
  const b = <u32>load<u8>(p);
  let q: usize;
  if ((b & 0x80) == 0) {
    int(<i64>(b & 0x7f), p + 1);
  } else if ((b & 0xc0) == 0x80) {
    if (!str(p + 1, b & 0x3f, end)) return false;
  } else if ((b & 0xe0) == 0xc0) {
    if (end - p < 2) return false;
    let v = <i32>(((b & 0x1f) << 8) | <u32>load<u8>(p + 1));
    if (v >= 4096) v -= 8192;
    int(<i64>v, p + 2);
  } else if ((b & 0xf0) == 0xe0) {
    if (end - p < 2) return false;
    if (!str(p + 2, ((b & 0x0f) << 8) | <u32>load<u8>(p + 1), end)) return false;
  } else if (b == 0xf0) {
    if (end - p < 5) return false;
    if (!str(p + 5, load<u32>(p + 1), end)) return false;
  } else if (b == 0xf1) {
    if (end - p < 3) return false;
    int(<i64>load<i16>(p + 1), p + 3);
  } else if (b == 0xf2) {
    if (end - p < 4) return false;
    const v = (<i32>(<u32>load<u16>(p + 1) | (<u32>load<u8>(p + 3) << 16)) << 8) >> 8;
    int(<i64>v, p + 4);
  } else if (b == 0xf3) {
    if (end - p < 5) return false;
    int(<i64>load<i32>(p + 1), p + 5);
  } else if (b == 0xf4) {
    if (end - p < 9) return false;
    int(load<i64>(p + 1), p + 9);
  } else {
    return false;
  }
  q = eNext;
  const bl = backlenSize(q - p);
  if (bl > end - q) return false;
  eNext = q + bl;
  return true;
}

/** Decodes the ziplist entry at p (not the 0xFF terminator). Returns false when it is malformed. */
export function ziplistEntry(p: usize, end: usize): bool {
  if (p >= end) return false;
  // prevlen: one byte, or 0xFE and four more
  const pl = <u32>load<u8>(p);
  if (pl == 0xff) return false;
  p += pl == 0xfe ? 5 : 1;
  if (p >= end) return false;
  const b = <u32>load<u8>(p);
  const top = b >> 6;
  if (top == 0) return str(p + 1, b & 0x3f, end);
  if (top == 1) {
    if (end - p < 2) return false;
    return str(p + 2, ((b & 0x3f) << 8) | <u32>load<u8>(p + 1), end);
  }
  if (top == 2) {
    if (b != 0x80 || end - p < 5) return false;
    return str(p + 5, bswap<u32>(load<u32>(p + 1)), end);
  }
  if (b == 0xc0) {
    if (end - p < 3) return false;
    int(<i64>load<i16>(p + 1), p + 3);
  } else if (b == 0xd0) {
    if (end - p < 5) return false;
    int(<i64>load<i32>(p + 1), p + 5);
  } else if (b == 0xe0) {
    if (end - p < 9) return false;
    int(load<i64>(p + 1), p + 9);
  } else if (b == 0xf0) {
    if (end - p < 4) return false;
    const v = (<i32>(<u32>load<u16>(p + 1) | (<u32>load<u8>(p + 3) << 16)) << 8) >> 8;
    int(<i64>v, p + 4);
  } else if (b == 0xfe) {
    if (end - p < 2) return false;
    int(<i64>load<i8>(p + 1), p + 2);
  } else if (b >= 0xf1 && b <= 0xfd) {
    int(<i64>((b & 0x0f) - 1), p + 1);
  } else {
    return false;
  }
  return true;
}
