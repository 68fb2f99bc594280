// LZF decompression (the format of Redis's lzf_c.c): a control byte below 32 starts a literal run of
// ctrl+1 bytes; otherwise the top 3 bits give a back-reference length (7 = read one more length byte)
// and the low 5 bits plus the next byte an offset of up to 8 KiB back into the output.
// Decoding is split into whole instructions so it can stop and resume at any instruction boundary.

/** Largest distance a back-reference can reach, i.e. how much output history streaming must keep. */
export const LZF_WINDOW: usize = 8192;

export const LZF_OK: i32 = 0; // stopped: input used up, or an instruction is incomplete, or output full
export const LZF_CORRUPT: i32 = 1;

/** Results of lzfDecode: how far input and output got. */
export let lzfIn: usize = 0;
export let lzfOut: usize = 0;

/**
 * Decodes instructions from [src, srcEnd) into [dst, dstEnd), where output history reaches back to
 * histStart. Stops before an instruction that is not wholly in the input or does not fit the output.
 */
export function lzfDecode(src: usize, srcEnd: usize, dst: usize, dstEnd: usize, histStart: usize): i32 {
  let ip = src;
  let op = dst;
  while (ip < srcEnd) {
    const ctrl = <usize>load<u8>(ip);
    if (ctrl < 32) {
      const run = ctrl + 1;
      if (ip + 1 + run > srcEnd || op + run > dstEnd) break;
      if (op + 32 <= dstEnd) {
        // Copy a whole 32-byte block: cheaper than a sized copy; the excess is overwritten next.
        store<u64>(op, load<u64>(ip + 1));
        store<u64>(op, load<u64>(ip + 9), 8);
        store<u64>(op, load<u64>(ip + 17), 16);
        store<u64>(op, load<u64>(ip + 25), 24);
      } else {
        memory.copy(op, ip + 1, run);
      }
      ip += 1 + run;
      op += run;
      continue;
    }
    let len = ctrl >> 5;
    let need: usize = 2;
    if (len == 7) need = 3;
    if (ip + need > srcEnd) break;
    let k: usize = 1;
    if (len == 7) {
      len += <usize>load<u8>(ip + 1);
      k = 2;
    }
    const back = ((ctrl & 0x1f) << 8) + <usize>load<u8>(ip + k) + 1;
    len += 2;
    if (back > op - histStart) {
      lzfIn = ip; lzfOut = op;
      return LZF_CORRUPT;
    }
    if (op + len > dstEnd) break;
    // Overlapping copies repeat the pattern, so copy byte by byte when the distance is short.
    let ref = op - back;
    const end = op + len;
    if (back >= 8 && end + 8 <= dstEnd) {
      // Word copies are safe for overlapping references at least a word back: each word read was
      // completely written before.
      while (op < end) { store<u64>(op, load<u64>(ref)); op += 8; ref += 8; }
      op = end;
    } else {
      while (op < end) { store<u8>(op, load<u8>(ref)); op++; ref++; }
    }
    ip += need;
  }
  lzfIn = ip;
  lzfOut = op;
  return LZF_OK;
}
