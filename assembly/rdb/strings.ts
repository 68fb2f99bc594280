// RDB strings: raw, integer-encoded (INT8/16/32) and LZF-compressed. A string that is wholly in the input
// is handed out in place (zero copy); integer strings become decimal text in scratch; LZF strings are
// decompressed into scratch. A string too large to wait for is "big": it is then either streamed to JS
// as E_CHUNK events (mode CHUNKS, for values) or accumulated in scratch (mode WHOLE, for keys, fields
// and containers that must be walked), a piece per feed, so its size never bounds the input buffer.
import { E_CHUNK, F_CHUNKED, F_INTEGER, ERR_BAD_LENGTH, ERR_LZF_CORRUPT, ERR_LZF_LENGTH, ERR_TOO_LARGE } from "../../src/core/abi";
import { inputCap, scratchReserve, scratchPtr, scratchCommit, scratchBase, scratchTop, scratchSetKeep, SCRATCH_OK, SCRATCH_DRAIN } from "../memory";
import { emit, eventsPending, roomForStep } from "../events";
import { cur, lim, short, has, readLen, lenKind, LEN_PLAIN, LEN_INT8, LEN_INT16, LEN_INT32, LEN_LZF, offsetOf, commit, begin } from "./reader";
import { lzfDecode, lzfIn, lzfOut, LZF_OK, LZF_WINDOW } from "./lzf";
import { writeSigned } from "../decimal";
import { fail } from "../status";

export const M_CHUNKS: i32 = 0;
export const M_WHOLE: i32 = 1;
export const M_SKIP: i32 = 2; // consumed and dropped (module payloads): big ones are never buffered
/** Or-ed into a mode: never start a big string; S_SHORT instead (for speculative fast paths). */
export const M_INLINE_ONLY: i32 = 8;

export const S_READY: i32 = 0;
export const S_SHORT: i32 = 1;
export const S_BIG: i32 = 2;
export const S_FULL: i32 = 3;
export const S_ERR: i32 = 4;

/** The string read last: where it is, how long, whether it was an integer (sInt) or chunked. */
export let sPtr: usize = 0;
export let sLen: u32 = 0;
export let sFlags: u32 = 0;
export let sInt: i64 = 0;

/** A string whose bytes can stay in the input must fit in half of it (the rest of its step fits too). */
@inline function inlineMax(): u64 {
  return <u64>(inputCap >> 1);
}

/** LZF can at most expand 3 input bytes into 264 output bytes. */
const LZF_MAX_RATIO: u64 = 88;

/** Writes v as decimal text in scratch and describes it as the current string. */
export function integerString(v: i64): i32 {
  const r = scratchReserve(20, eventsPending());
  if (r == SCRATCH_DRAIN) return S_FULL;
  if (r != SCRATCH_OK) { fail(ERR_TOO_LARGE, 20, offsetOf(cur)); return S_ERR; }
  sPtr = scratchPtr();
  sLen = <u32>(writeSigned(v, sPtr) - sPtr);
  scratchCommit(sLen);
  sFlags = 0;
  sInt = v;
  return S_READY;
}

/**
 * Integer-encoded strings are handed out lazily: F_INTEGER, no bytes, the value in sInt (an event's n1),
 * and JS writes the decimal text only if it wants it.
 */
@inline function lazyInteger(v: i64): i32 {
  sPtr = 0;
  sLen = 0;
  sFlags = F_INTEGER;
  sInt = v;
  return S_READY;
}

/** Makes the current string bytes (for events whose n1 is taken by something else, e.g. a score). */
export function asText(): i32 {
  if ((sFlags & F_INTEGER) == 0) return S_READY;
  return integerString(sInt);
}

/**
 * Reads one string at the trial cursor. S_READY: sPtr/sLen describe it. S_SHORT: re-run the step later.
 * S_BIG: the header is consumed by cur and big-string streaming has been set up (commit, then let
 * bigContinue() run). S_FULL: drain events first. S_ERR: error recorded.
 */
@inline export function readString(mode: i32): i32 {
  // The common case first, inlined into every caller: a 6-bit length (under 64 bytes), all bytes here.
  if (cur < lim) {
    const b = <usize>load<u8>(cur);
    if (b < 0x40 && cur + 1 + b <= lim) {
      sPtr = cur + 1;
      sLen = <u32>b;
      sFlags = 0;
      cur += 1 + b;
      return S_READY;
    }
  }
  return readStringSlow(mode);
}

function readStringSlow(mode: i32): i32 {
  const headerAt = cur;
  const n = readLen();
  if (short) return S_SHORT;
  const kind = lenKind;
  if (kind == LEN_PLAIN) {
    sFlags = 0;
    if (<u64>(lim - cur) >= n) {
      sPtr = cur;
      sLen = <u32>n;
      cur += <usize>n;
      return S_READY;
    }
    if (n + 16 <= inlineMax()) { has(<usize>n); return S_SHORT; }
    return startBig(mode, false, n, n, headerAt);
  }
  if (kind == LEN_INT8) {
    if (!has(1)) return S_SHORT;
    const v = <i64>load<i8>(cur);
    cur += 1;
    return lazyInteger(v);
  }
  if (kind == LEN_INT16) {
    if (!has(2)) return S_SHORT;
    const v = <i64>load<i16>(cur);
    cur += 2;
    return lazyInteger(v);
  }
  if (kind == LEN_INT32) {
    if (!has(4)) return S_SHORT;
    const v = <i64>load<i32>(cur);
    cur += 4;
    return lazyInteger(v);
  }
  if (kind == LEN_LZF) return readLzf(mode, headerAt);
  fail(ERR_BAD_LENGTH, headerAt < lim ? <i64>load<u8>(headerAt) : 0, offsetOf(headerAt));
  return S_ERR;
}

function readLzf(mode: i32, headerAt: usize): i32 {
  const clen = readLen();
  if (!short && lenKind != LEN_PLAIN) { fail(ERR_BAD_LENGTH, 0, offsetOf(headerAt)); return S_ERR; }
  const ulen = readLen();
  if (short) return S_SHORT;
  if (lenKind != LEN_PLAIN) { fail(ERR_BAD_LENGTH, 0, offsetOf(headerAt)); return S_ERR; }
  if (clen == 0 || ulen == 0 || ulen > clen * LZF_MAX_RATIO) {
    fail(ERR_LZF_LENGTH, <i64>ulen, offsetOf(headerAt));
    return S_ERR;
  }
  const whole = <u64>(lim - cur) >= clen;
  // Large values stream out in chunks even when their compressed bytes are all here.
  if (whole && !(mode == M_CHUNKS && ulen > inlineMax() * 4)) {
    const r = scratchReserve(<usize>ulen, eventsPending());
    if (r == SCRATCH_DRAIN) return S_FULL;
    if (r != SCRATCH_OK) { fail(ERR_TOO_LARGE, <i64>ulen, offsetOf(headerAt)); return S_ERR; }
    const out = scratchPtr();
    if (lzfDecode(cur, cur + <usize>clen, out, out + <usize>ulen, out) != LZF_OK) {
      fail(ERR_LZF_CORRUPT, 0, offsetOf(lzfIn));
      return S_ERR;
    }
    if (lzfIn != cur + <usize>clen || lzfOut != out + <usize>ulen) {
      fail(ERR_LZF_LENGTH, <i64>ulen, offsetOf(headerAt));
      return S_ERR;
    }
    scratchCommit(<usize>ulen);
    cur += <usize>clen;
    sPtr = out;
    sLen = <u32>ulen;
    sFlags = 0;
    return S_READY;
  }
  if (!whole && clen + 32 <= inlineMax()) { has(<usize>clen); return S_SHORT; }
  if (mode == M_SKIP) return startBig(mode, false, clen, clen, headerAt);
  return startBig(mode, true, clen, ulen, headerAt);
}

// ---------------------------------------------------------------- big strings

export let bigActive: bool = false;
let bigMode: i32 = 0;
let bigLzf: bool = false;
let bigInLeft: u64 = 0; // input bytes of the string still to come (raw bytes or compressed bytes)
let bigTotal: u64 = 0; // final length of the string
let bigDone: u64 = 0; // output bytes produced so far
let bigStart: usize = 0; // WHOLE: scratch offset of the string; CHUNKS+LZF: scratch offset of the window
let bigWinPos: usize = 0; // CHUNKS+LZF: write offset inside the window
let bigWinSent: usize = 0; // CHUNKS+LZF: window bytes already handed out as chunks
let bigAt: i64 = 0; // absolute offset of the string header, for errors

/** Output window of streamed LZF strings: 8 KiB of history plus room for new output. */
const LZF_STREAM_WINDOW: usize = LZF_WINDOW + 256 * 1024;
/** Most output one LZF instruction produces (a back-reference of 7 + 255 + 2 bytes). */
const LZF_MAX_OUTPUT: usize = 264;
/** WHOLE strings grow scratch by at most this much at a time, as their bytes arrive. */
const GROW_STEP: u64 = 1 << 20;

function startBig(mode: i32, lzf: bool, inLen: u64, outLen: u64, headerAt: usize): i32 {
  if (mode & M_INLINE_ONLY) { short = true; return S_SHORT; }
  if (mode == M_WHOLE && outLen > <u64>0xffffffff) {
    fail(ERR_TOO_LARGE, <i64>outLen, offsetOf(headerAt));
    return S_ERR;
  }
  bigActive = true;
  bigMode = mode;
  bigLzf = lzf;
  bigInLeft = inLen;
  bigTotal = outLen;
  bigDone = 0;
  bigAt = offsetOf(headerAt);
  bigStart = scratchTop;
  bigWinPos = 0;
  bigWinSent = 0;
  if (mode == M_WHOLE || lzf) {
    if (mode == M_CHUNKS) {
      const r = scratchReserve(LZF_STREAM_WINDOW, false);
      if (r != SCRATCH_OK) { bigActive = false; fail(ERR_TOO_LARGE, <i64>LZF_STREAM_WINDOW, bigAt); return S_ERR; }
      scratchCommit(LZF_STREAM_WINDOW);
    }
    scratchSetKeep(scratchTop);
  }
  return S_BIG;
}

/**
 * Advances the big string with the bytes available. Returns S_READY when it is complete (sPtr/sLen/
 * sFlags describe it: F_CHUNKED for streamed strings), S_SHORT when it needs more input, S_FULL when
 * events must be drained, S_ERR on corruption.
 */
export function bigContinue(): i32 {
  if (bigMode == M_CHUNKS && !roomForStep()) return S_FULL;
  begin();
  const r = bigLzf ? bigLzfStep() : bigRawStep();
  commit();
  if (r != S_READY) return r;
  bigActive = false;
  if (bigMode == M_WHOLE) {
    sPtr = scratchBase + bigStart;
    sLen = <u32>bigTotal;
    sFlags = 0;
  } else if (bigMode == M_SKIP) {
    sPtr = 0;
    sLen = 0;
    sFlags = 0;
  } else {
    sPtr = 0;
    sLen = 0;
    sFlags = F_CHUNKED;
    scratchSetKeep(0);
  }
  return S_READY;
}

/** The WHOLE string in scratch is no longer needed once its consumer has emitted its events. */
export function releaseWholeString(): void {
  scratchSetKeep(0);
}

function bigRawStep(): i32 {
  while (bigInLeft > 0) {
    const have = <u64>(lim - cur);
    if (have == 0) return S_SHORT;
    const take = <usize>(have < bigInLeft ? have : bigInLeft);
    if (bigMode == M_CHUNKS) {
      if (!roomForStep()) return S_FULL;
      emit(E_CHUNK, 0, cur, <u32>take, 0, 0, 0);
    } else if (bigMode == M_WHOLE) {
      const r = scratchReserve(take, false);
      if (r != SCRATCH_OK) { fail(ERR_TOO_LARGE, <i64>bigTotal, bigAt); return S_ERR; }
      memory.copy(scratchPtr(), cur, take);
      scratchCommit(take);
      scratchSetKeep(scratchTop);
    }
    cur += take;
    bigInLeft -= <u64>take;
    bigDone += <u64>take;
  }
  return S_READY;
}

function bigLzfStep(): i32 {
  while (true) {
    if (bigInLeft == 0) {
      if (bigMode == M_CHUNKS) flushWindow();
      if (bigDone != bigTotal) { fail(ERR_LZF_LENGTH, <i64>bigTotal, bigAt); return S_ERR; }
      return S_READY;
    }
    const have = <u64>(lim - cur);
    const srcEnd = cur + <usize>(have < bigInLeft ? have : bigInLeft);
    let dst: usize, dstEnd: usize, hist: usize;
    if (bigMode == M_WHOLE) {
      // Grow the string in scratch as its output appears, so a bogus length allocates nothing.
      const left = bigTotal - bigDone;
      const grow = <usize>(left < GROW_STEP ? left : GROW_STEP);
      const r = scratchReserve(grow, false);
      if (r != SCRATCH_OK) { fail(ERR_TOO_LARGE, <i64>bigTotal, bigAt); return S_ERR; }
      hist = scratchBase + bigStart;
      dst = scratchPtr();
      dstEnd = dst + grow;
    } else {
      hist = scratchBase + bigStart;
      if (LZF_STREAM_WINDOW - bigWinPos < LZF_MAX_OUTPUT) {
        // The window is full and every byte of it was handed out; keep the last 8 KiB as history.
        if (bigWinSent < bigWinPos) { flushWindow(); return S_FULL; }
        memory.copy(hist, hist + bigWinPos - LZF_WINDOW, LZF_WINDOW);
        bigWinPos = LZF_WINDOW;
        bigWinSent = LZF_WINDOW;
      }
      dst = hist + bigWinPos;
      const room = <u64>(LZF_STREAM_WINDOW - bigWinPos);
      const left = bigTotal - bigDone;
      dstEnd = dst + <usize>(left < room ? left : room);
    }
    if (lzfDecode(cur, srcEnd, dst, dstEnd, hist) != LZF_OK) {
      fail(ERR_LZF_CORRUPT, 0, offsetOf(lzfIn));
      return S_ERR;
    }
    const used = lzfIn - cur;
    const made = lzfOut - dst;
    cur = lzfIn;
    bigInLeft -= <u64>used;
    bigDone += <u64>made;
    if (bigMode == M_WHOLE) {
      scratchCommit(made);
      scratchSetKeep(scratchTop);
    } else {
      bigWinPos += made;
    }
    if (made == 0 && used == 0) {
      // No whole instruction fits: either more input is needed, or the output is complete/full.
      if (bigDone == bigTotal) { fail(ERR_LZF_LENGTH, <i64>bigTotal, bigAt); return S_ERR; }
      if (bigMode == M_CHUNKS && LZF_STREAM_WINDOW - bigWinPos < LZF_MAX_OUTPUT) continue;
      if (srcEnd - cur >= 33) { fail(ERR_LZF_CORRUPT, 0, offsetOf(cur)); return S_ERR; }
      if (bigMode == M_CHUNKS) { flushWindow(); }
      return S_SHORT;
    }
  }
  return S_READY;
}

function flushWindow(): void {
  if (bigWinPos > bigWinSent && roomForStep()) {
    emit(E_CHUNK, 0, scratchBase + bigStart + bigWinSent, <u32>(bigWinPos - bigWinSent), 0, 0, 0);
    bigWinSent = bigWinPos;
  }
}
