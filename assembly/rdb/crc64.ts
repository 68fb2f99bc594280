// CRC-64/Jones (reflected polynomial 0x95ac9329ac4bc9b5, init 0, no final xor) as Redis computes it over
// an RDB. Sliced by 8 (eight 256-entry tables, 16 KiB, consume 8 bytes per step), and run over four
// lanes at once: a single CRC is one long dependency chain, four independent ones keep the CPU busy. The
// lanes are joined with the linear "shift by LANE zero bytes" operator (zlib's crc32_combine idea, 64-bit).
// (Sixteen slices and three lanes measured the same or slower: the tables then crowd the L1 cache.)

const SLICES: usize = 8;
const tables: usize = memory.data(<i32>(SLICES * 256 * 8), 8);
const POLY: u64 = 0x95ac9329ac4bc9b5;

/** Bytes per lane; four lanes are processed per round. */
const LANE: usize = 8192;
/** 64 columns of the GF(2) matrix that appends LANE zero bytes to a CRC. */
const shiftLane: usize = memory.data(64 * 8, 8);
const work: usize = memory.data(2 * 64 * 8, 8);

export function crcInit(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c: u64 = <u64>n;
    for (let k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
    store<u64>(tables + (<usize>n << 3), c);
  }
  for (let n: u32 = 0; n < 256; n++) {
    let c = load<u64>(tables + (<usize>n << 3));
    for (let t: usize = 1; t < SLICES; t++) {
      c = load<u64>(tables + (((<usize>c) & 0xff) << 3)) ^ (c >> 8);
      store<u64>(tables + (t << 11) + (<usize>n << 3), c);
    }
  }
  initShift();
}

function gf2Times(mat: usize, vec: u64): u64 {
  let sum: u64 = 0;
  let i: usize = 0;
  while (vec != 0) {
    if (vec & 1) sum ^= load<u64>(mat + (i << 3));
    vec >>= 1;
    i++;
  }
  return sum;
}

function gf2Square(dst: usize, src: usize): void {
  for (let n: usize = 0; n < 64; n++) store<u64>(dst + (n << 3), gf2Times(src, load<u64>(src + (n << 3))));
}

/** Writes at m the operator that appends one zero bit to a CRC. */
function oneZeroBit(m: usize): void {
  store<u64>(m, POLY);
  for (let n: usize = 1; n < 64; n++) store<u64>(m + (n << 3), (<u64>1) << <u64>(n - 1));
}

/** Builds the operator for one zero bit, then squares it up to 8 * LANE zero bits. */
function initShift(): void {
  let a = work;
  let b = work + 64 * 8;
  oneZeroBit(a);
  let bits: usize = 1;
  while (bits < 8 * LANE) {
    gf2Square(b, a);
    const t = a; a = b; b = t;
    bits <<= 1;
  }
  memory.copy(shiftLane, a, 64 * 8);
}

/**
 * Given the CRC of some bytes A, the CRC of A followed by n zero bytes; XOR the CRC of n bytes B (computed
 * from 0) to get the CRC of A followed by B. Lets two threads checksum two halves of a file.
 */
export function crcShift(crc: u64, n: u64): u64 {
  let a = work;
  let b = work + 64 * 8;
  oneZeroBit(a);
  for (let i = 0; i < 3; i++) { // 1 bit → 8 bits
    gf2Square(b, a);
    const t = a; a = b; b = t;
  }
  while (n != 0) {
    if (n & 1) crc = gf2Times(a, crc);
    n >>= 1;
    if (n != 0) {
      gf2Square(b, a);
      const t = a; a = b; b = t;
    }
  }
  return crc;
}

@inline function entry(t: usize, b: u64): u64 {
  return load<u64>(tables + (t << 11) + ((<usize>b & 0xff) << 3));
}

@inline function step8(crc: u64, p: usize): u64 {
  const x = crc ^ load<u64>(p);
  return entry(7, x) ^ entry(6, x >> 8) ^ entry(5, x >> 16) ^ entry(4, x >> 24) ^
         entry(3, x >> 32) ^ entry(2, x >> 40) ^ entry(1, x >> 48) ^ entry(0, x >> 56);
}

export function crcUpdate(crc: u64, p: usize, n: usize): u64 {
  const end = p + n;
  while (p + 4 * LANE <= end) {
    let a = crc;
    let b: u64 = 0;
    let c: u64 = 0;
    let e: u64 = 0;
    const stop = p + LANE;
    while (p < stop) {
      a = step8(a, p);
      b = step8(b, p + LANE);
      c = step8(c, p + 2 * LANE);
      e = step8(e, p + 3 * LANE);
      p += 8;
    }
    crc = gf2Times(shiftLane, gf2Times(shiftLane, gf2Times(shiftLane, a) ^ b) ^ c) ^ e;
    p += 3 * LANE;
  }
  while (p + 8 <= end) {
    crc = step8(crc, p);
    p += 8;
  }
  while (p < end) {
    crc = entry(0, crc ^ <u64>load<u8>(p)) ^ (crc >> 8);
    p++;
  }
  return crc;
}
