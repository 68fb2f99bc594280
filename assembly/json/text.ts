// Byte strings as canonical JSON (FORMAT.md §3): a JSON string when the bytes are strict UTF-8, escaped
// exactly like ECMAScript JSON.stringify; otherwise {"b64":"..."} (RFC 4648 with padding).

/** Room a byte string of n bytes may need once written (worst case: every byte as \u00XX). */
@inline export function jsonBytesBound(n: usize): usize {
  return n * 6 + 16;
}

const HI: u64 = 0x8080808080808080;
const ONES: u64 = 0x0101010101010101;

/** True when every byte is printable ASCII other than '"' and '\': then the bytes are the JSON text. */
function isPlain(p: usize, n: usize): bool {
  const end = p + n;
  while (p + 8 <= end) {
    const x = load<u64>(p);
    const quote = x ^ (0x22 * ONES);
    const slash = x ^ (0x5c * ONES);
    const bad = (x | ((x - 0x20 * ONES) & ~x) | ((quote - ONES) & ~quote) | ((slash - ONES) & ~slash)) & HI;
    if (bad != 0) return false;
    p += 8;
  }
  while (p < end) {
    const c = <u32>load<u8>(p);
    if (c < 0x20 || c >= 0x80 || c == 0x22 || c == 0x5c) return false;
    p++;
  }
  return true;
}

@inline function cont(p: usize): bool {
  return (<u32>load<u8>(p) & 0xc0) == 0x80;
}

/** Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
function isUtf8(p: usize, n: usize): bool {
  const end = p + n;
  while (p < end) {
    const c = <u32>load<u8>(p);
    if (c < 0x80) { p++; continue; }
    if (c >= 0xc2 && c <= 0xdf) {
      if (p + 2 > end || !cont(p + 1)) return false;
      p += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      if (p + 3 > end || !cont(p + 1) || !cont(p + 2)) return false;
      const c1 = <u32>load<u8>(p + 1);
      if (c == 0xe0 && c1 < 0xa0) return false; // overlong
      if (c == 0xed && c1 > 0x9f) return false; // surrogate
      p += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      if (p + 4 > end || !cont(p + 1) || !cont(p + 2) || !cont(p + 3)) return false;
      const c1 = <u32>load<u8>(p + 1);
      if (c == 0xf0 && c1 < 0x90) return false; // overlong
      if (c == 0xf4 && c1 > 0x8f) return false; // above U+10FFFF
      p += 4;
    } else {
      return false;
    }
  }
  return true;
}

const HEX: usize = memory.data<u8>([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]);
const B64: usize = memory.data<u8>([
  65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90,
  97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118,
  119, 120, 121, 122, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 43, 47]);

function escaped(p: usize, n: usize, d: usize): usize {
  const end = p + n;
  store<u8>(d++, 0x22);
  while (p < end) {
    const c = <u32>load<u8>(p++);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) { store<u8>(d++, <u8>c); continue; }
    store<u8>(d++, 0x5c);
    if (c == 0x22 || c == 0x5c) store<u8>(d++, <u8>c);
    else if (c == 0x08) store<u8>(d++, 0x62); // b
    else if (c == 0x09) store<u8>(d++, 0x74); // t
    else if (c == 0x0a) store<u8>(d++, 0x6e); // n
    else if (c == 0x0c) store<u8>(d++, 0x66); // f
    else if (c == 0x0d) store<u8>(d++, 0x72); // r
    else {
      store<u8>(d, 0x75); // u
      store<u16>(d + 1, 0x3030); // 00
      store<u8>(d + 3, load<u8>(HEX + (c >> 4)));
      store<u8>(d + 4, load<u8>(HEX + (c & 15)));
      d += 5;
    }
  }
  store<u8>(d++, 0x22);
  return d;
}

/** Two base64 characters for every 12-bit value (built on first use). */
const B64_PAIRS: usize = memory.data(4096 * 2, 2);
let pairsReady = false;

function buildPairs(): void {
  for (let v: u32 = 0; v < 4096; v++) {
    store<u16>(B64_PAIRS + (<usize>v << 1), <u16>(<u32>load<u8>(B64 + (v >> 6)) | (<u32>load<u8>(B64 + (v & 63)) << 8)));
  }
  pairsReady = true;
}

@inline function pair(v: u64): u64 {
  return <u64>load<u16>(B64_PAIRS + ((<usize>v & 4095) << 1));
}

/**
 * Twelve input bytes become sixteen characters per step (Muła's method with wasm SIMD): each 24-bit
 * group is spread over a 32-bit lane, cut into four 6-bit values by shifts, and mapped to characters
 * by adding a per-range offset looked up with a byte shuffle. Reads 16 bytes per 12 used.
 */
function base64Simd(p: usize, end: usize, d: usize): usize {
  // Bytes per 4-byte lane as [b2, b1, b0, 0]: the lane's value is then the 24-bit group b0 b1 b2.
  const SPREAD = i8x16(2, 1, 0, -1, 5, 4, 3, -1, 8, 7, 6, -1, 11, 10, 9, -1);
  // What to add to a 6-bit value to get its character, by range: 26-51, 52-61 (x10), 62, 63, 0-25.
  const SHIFTS = i8x16(71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0);
  while (p + 16 <= end) {
    const v = i8x16.swizzle(v128.load(p), SPREAD);
    const m = i32x4.splat(63);
    const idx = v128.or(
      v128.or(v128.and(i32x4.shr_u(v, 18), m), i32x4.shl(v128.and(i32x4.shr_u(v, 12), m), 8)),
      v128.or(i32x4.shl(v128.and(i32x4.shr_u(v, 6), m), 16), i32x4.shl(v128.and(v, m), 24)));
    // 0 for 26-51, 1-12 for 52-63, 13 for 0-25: the index of the offset to add.
    const range = v128.or(i8x16.sub_sat_u(idx, i8x16.splat(51)), v128.and(i8x16.lt_u(idx, i8x16.splat(26)), i8x16.splat(13)));
    v128.store(d, i8x16.add(idx, i8x16.swizzle(SHIFTS, range)));
    p += 12;
    d += 16;
  }
  b64In = p;
  return d;
}
let b64In: usize = 0;

function base64(p: usize, n: usize, d: usize): usize {
  if (!pairsReady) buildPairs();
  store<u64>(d, 0x223a22343662227b); // {"b64":"
  d += 8;
  const end = p + n;
  if (ASC_FEATURE_SIMD) {
    // The SIMD build (build/rdb.simd.wasm) only; the portable build does all of it below.
    d = base64Simd(p, end, d);
    p = b64In;
  }
  // Six input bytes (one big-endian word's top 48 bits) become eight characters.
  while (p + 8 <= end) {
    const v = bswap<u64>(load<u64>(p)) >> 16;
    store<u64>(d, pair(v >> 36) | (pair(v >> 24) << 16) | (pair(v >> 12) << 32) | (pair(v) << 48));
    p += 6;
    d += 8;
  }
  while (p + 3 <= end) {
    const v = (<u32>load<u8>(p) << 16) | (<u32>load<u8>(p + 1) << 8) | <u32>load<u8>(p + 2);
    store<u8>(d, load<u8>(B64 + (v >> 18)));
    store<u8>(d + 1, load<u8>(B64 + ((v >> 12) & 63)));
    store<u8>(d + 2, load<u8>(B64 + ((v >> 6) & 63)));
    store<u8>(d + 3, load<u8>(B64 + (v & 63)));
    p += 3;
    d += 4;
  }
  const rest = end - p;
  if (rest > 0) {
    const v = (<u32>load<u8>(p) << 16) | (rest == 2 ? <u32>load<u8>(p + 1) << 8 : 0);
    store<u8>(d, load<u8>(B64 + (v >> 18)));
    store<u8>(d + 1, load<u8>(B64 + ((v >> 12) & 63)));
    store<u8>(d + 2, rest == 2 ? load<u8>(B64 + ((v >> 6) & 63)) : 0x3d);
    store<u8>(d + 3, 0x3d);
    d += 4;
  }
  store<u16>(d, 0x7d22); // "}
  return d + 2;
}

/**
 * Short plain strings: check and copy 8 bytes at a time in one pass (the room reserved for escaping
 * absorbs the over-copy). Returns the end, or 0 when a byte needs more than a copy.
 */
function plainShort(p: usize, n: usize, d: usize): usize {
  store<u8>(d, 0x22);
  for (let i: usize = 0; i < n; i += 8) {
    let x = load<u64>(p + i);
    if (n - i < 8) {
      // Bytes past the end count as spaces.
      const keep = ((<u64>1) << ((<u64>(n - i)) << 3)) - 1;
      x = (x & keep) | (0x2020202020202020 & ~keep);
    }
    const quote = x ^ (0x22 * ONES);
    const slash = x ^ (0x5c * ONES);
    if (((x | ((x - 0x20 * ONES) & ~x) | ((quote - ONES) & ~quote) | ((slash - ONES) & ~slash)) & HI) != 0) return 0;
    store<u64>(d + 1 + i, x);
  }
  store<u8>(d + 1 + n, 0x22);
  return d + n + 2;
}

/** Writes the JSON form of the n bytes at p to d (room: jsonBytesBound(n)); returns the end. */
export function writeJsonBytes(p: usize, n: usize, d: usize): usize {
  if (n <= 64) {
    const end = plainShort(p, n, d);
    if (end != 0) return end;
  } else if (isPlain(p, n)) {
    store<u8>(d, 0x22);
    memory.copy(d + 1, p, n);
    store<u8>(d + 1 + n, 0x22);
    return d + n + 2;
  }
  if (!isUtf8(p, n)) return base64(p, n, d);
  return escaped(p, n, d);
}
