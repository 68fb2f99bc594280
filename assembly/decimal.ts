// Decimal numbers shared by the parser (integer strings that must be text) and the JSON writer.

/** Exact powers of ten as doubles (10^22 is the largest exact one). */
export const POW10: StaticArray<f64> = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
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
