// The RDB state machine: header, opcodes, and every value type. Each step reads with the trial cursor
// and commits only when complete (see reader.ts); states after a "big" string (strings.ts) resume with
// the string in sPtr/sLen. Packed encodings are handed to containers.ts, streams to stream.ts.
import {
  E_HEADER, E_AUX_KEY, E_AUX_VALUE, E_SELECT_DB, E_RESIZE_DB, E_SLOT_INFO, E_FUNCTION, E_MODULE_AUX, E_KEY,
  E_KEY_END, E_VALUE, E_SLOT_IMPORT, E_SLOT_RANGE, E_LIST_ITEM, E_SET_MEMBER, E_HASH_FIELD, E_HASH_VALUE, E_MODULE_VALUE, E_EOF,
  F_EXPIRE, F_IDLE, F_FREQ, F_INTEGER, F_CHUNKED,
  FN_LIBRARY, FN_PRE_GA_NAME, FN_PRE_GA_ENGINE, FN_PRE_GA_DESCRIPTION, FN_PRE_GA_CODE,
  FLAVOR_REDIS, FLAVOR_VALKEY, CK_NONE, CK_ZERO, CK_VERIFIED, CK_SKIPPED, MODE_DUMP,
  ERR_BAD_MAGIC, ERR_UNSUPPORTED_VERSION, ERR_UNKNOWN_TYPE, ERR_BAD_LENGTH, ERR_CHECKSUM, ERR_BAD_SCORE,
  ERR_QUICKLIST_CORRUPT, ERR_UNSUPPORTED_TYPE, ERR_MODULE_CORRUPT, ERR_BAD_VALUE, BLOB_PLAIN,
} from "../../src/core/abi";
import { emit, roomForStep } from "../events";
import { scratchBase, scratchTop, scratchSetKeep } from "../memory";
import {
  pos, cur, lim, short, begin, commit, readLen, lenKind, LEN_PLAIN, u8r, u16le, u32le, u64le, f64le,
  has, skip, offsetOf, crc, crcCatchUp,
} from "./reader";
import {
  readString, asText, bigActive, bigContinue, releaseWholeString, sPtr, sLen, sFlags, sInt,
  S_READY, S_SHORT, S_BIG, S_FULL, M_CHUNKS, M_WHOLE, M_INLINE_ONLY,
} from "./strings";
import {
  walkActive, walkStart, walkContinue, C_ZIPLIST, C_LISTPACK, C_INTSET, C_ZIPMAP,
  ROLE_LIST, ROLE_SET, ROLE_ZSET, ROLE_HASH, ROLE_HASH_TTL,
} from "./containers";
import { emitElement, emitScored, emitScoredText, keyElems, resetKeyElems, countElem, emitBlob, emitValueSpan } from "./emitters";
import { streamBegin, streamStep } from "./stream";
import { moduleBegin, moduleStep, moduleBytes } from "./module";
import * as T from "./types";
import { R_CONT, R_NEED, R_FULL, R_DONE, R_ERR, fail, clearError } from "../status";

// Phases.
const P_HEADER = 0;
const P_OPCODE = 1;
const P_VALUE = 2;
const P_MODULE_AUX = 3;
const P_DONE = 4;
const P_DUMP_FOOTER = 5;
const P_KEY_META = 6; // Redis 13 KEY_META: module-serialized metadata classes before a key
const P_SLOT_IMPORT = 7; // Valkey SLOT_IMPORT: slot ranges of an unfinished import

let phase: i32 = P_HEADER;
let mode: i32 = 0;
let verify: bool = true;
export let version: u32 = 0;
export let flavor: u32 = FLAVOR_REDIS;
/** After the EOF opcode of a file whose checksum is not skipped by the writer: the stored checksum and how
 * many bytes it covers (-1: nothing to verify), for hosts that verify it elsewhere (a second thread). */
export let trailerChecksum: u64 = 0;
export let trailerCovers: i64 = -1;

// The key being read.
let vtype: u32 = 0; // normalized type (types.ts; Valkey codes shifted)
let vstate: i32 = 0;
let count: u64 = 0; // elements (or nodes) left
let fieldTtl: i64 = 0; // HASH_METADATA: expire of the field whose value comes next
let minExpire: i64 = 0; // HASH_METADATA: base of the relative field TTLs
let keyAt: i64 = 0;
let moduleId: i64 = 0;

// Attributes announced by opcodes before the next key.
let nextExpire: i64 = 0;
let nextIdle: i64 = 0;
let nextFlags: u32 = 0;

// Value states.
const V_KEY = 0;
const V_KEY_DONE = 1;
const V_STRING = 2;
const V_STRING_DONE = 3;
const V_COUNT = 4;
const V_ITEM = 5;
const V_ITEM_DONE = 6;
const V_ZMEMBER = 7;
const V_ZSCORE = 8; // score of a member that arrived in chunks
const V_HFIELD = 9;
const V_HFIELD_DONE = 10;
const V_HVALUE = 11;
const V_HVALUE_DONE = 12;
const V_BLOB = 13; // a single packed blob is the whole value
const V_BLOB_DONE = 14;
const V_NODE = 15; // quicklist node
const V_NODE_DONE = 16;
const V_WALK_END = 17; // after a packed blob's walk: next node or the end of the key
const V_STREAM = 18;
const V_MODULE = 19;
const V_MIN_EXPIRE = 20; // HASH_METADATA / HASH_LISTPACK_EX: minimum field expire before the body
const V_END = 21;
const V_AUX_VALUE = 22;
const V_AUX_VALUE_DONE = 23;
const V_FUNCTION = 24;
const V_FUNCTION_DONE = 25;
const V_FUNCTION_FLAG = 26; // pre-GA FUNCTION: whether a description follows
const V_MODULE_ID = 27;
const V_QL2_CONTAINER = 28; // quicklist 2 node: PLAIN (one element) or PACKED (a listpack)
const V_AUX_KEY = 29;
const V_AUX_KEY_DONE = 30;
const V_WALK_FAILED = 31; // a packed blob's header was invalid (the error is already recorded)

export function parserInit(m: i32, verifyChecksum: bool, dumpVersion: u32, dumpFlavor: u32): void {
  mode = m;
  verify = verifyChecksum;
  trailerChecksum = 0;
  trailerCovers = -1;
  nextFlags = 0;
  if (m == MODE_DUMP) {
    version = dumpVersion;
    flavor = dumpFlavor;
    phase = P_OPCODE;
  } else {
    phase = P_HEADER;
  }
}

export function finished(): bool {
  return phase == P_DONE;
}

/** Runs steps until input runs out (R_NEED), events must be drained (R_FULL), the end or an error. */
export function run(): i32 {
  while (true) {
    let r: i32;
    if (bigActive) {
      const s = bigContinue();
      if (s == S_READY) continue;
      r = s == S_SHORT ? R_NEED : s == S_FULL ? R_FULL : R_ERR;
      return r;
    }
    if (walkActive) {
      r = walkContinue();
      if (r != R_CONT) return r;
      if (!walkActive) scratchSetKeep(0);
      continue;
    }
    if (phase == P_OPCODE) r = opcodeStep();
    else if (phase == P_VALUE) r = valueStep();
    else if (phase == P_HEADER) r = headerStep();
    else if (phase == P_MODULE_AUX) r = moduleAuxStep();
    else if (phase == P_DUMP_FOOTER) r = dumpFooterStep();
    else if (phase == P_KEY_META) r = keyMetaStep();
    else if (phase == P_SLOT_IMPORT) r = slotImportStep();
    else return R_DONE;
    if (r != R_CONT) return r;
  }
  return R_ERR;
}

// ---------------------------------------------------------------- header and opcodes

@inline function isDigit(c: u32): bool {
  return c >= 48 && c <= 57;
}

const MAGIC_REDIS: u64 = 0x5349444552; // "REDIS", little-endian
const MAGIC_VALKEY: u64 = 0x59454b4c4156; // "VALKEY"

/** True when the bytes seen so far can still begin `magic` (of `n` bytes). */
function couldBe(magic: u64, n: usize, p: usize, have: usize): bool {
  const upTo = have < n ? have : n;
  for (let i: usize = 0; i < upTo; i++) {
    if (<u64>load<u8>(p + i) != ((magic >> (i * 8)) & 0xff)) return false;
  }
  return true;
}

function headerStep(): i32 {
  begin();
  const p = cur;
  const have = lim - p;
  const redis = couldBe(MAGIC_REDIS, 5, p, have);
  const valkey = couldBe(MAGIC_VALKEY, 6, p, have);
  if (!redis && !valkey) return fail(ERR_BAD_MAGIC, 0, offsetOf(p));
  if (!has(9)) return R_NEED;
  flavor = redis ? FLAVOR_REDIS : FLAVOR_VALKEY;
  let digits: u32 = 0;
  for (let i: usize = redis ? 5 : 6; i < 9; i++) {
    const c = <u32>load<u8>(p + i);
    if (!isDigit(c)) return fail(ERR_BAD_MAGIC, 0, offsetOf(p + i));
    digits = digits * 10 + (c - 48);
  }
  version = digits;
  if (!versionSupported()) return fail(ERR_UNSUPPORTED_VERSION, <i64>version, offsetOf(p + 5));
  cur += 9;
  commit();
  emit(E_HEADER, 0, 0, 0, flavor, <i64>version, 0);
  phase = P_OPCODE;
  return R_CONT;
}

/**
 * Redis RDB 1-15 (types beyond what a version defines are reported as unknown types) and Valkey's own
 * format numbers (80-81); Valkey also writes REDIS0011 files.
 */
function versionSupported(): bool {
  if (flavor == FLAVOR_REDIS) return version >= 1 && version <= 15;
  return version >= 80 && version <= 81;
}

function opcodeStep(): i32 {
  if (!roomForStep()) return R_FULL;
  begin();
  const at = cur;
  const op = u8r();
  if (short) return R_NEED;
  // A DUMP payload is one value (Redis 13+ may put KEY_META before it).
  if (mode == MODE_DUMP && !(op == T.OP_KEY_META_OR_SLOT_IMPORT && flavor == FLAVOR_REDIS)) {
    if (!isValueType(op)) return fail(ERR_UNKNOWN_TYPE, <i64>op, offsetOf(at));
    return startKey(op, at);
  }
  switch (op) {
    case T.OP_EOF: return eofStep(at);
    case T.OP_SELECTDB: {
      const db = readLen();
      if (short) return R_NEED;
      if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at + 1));
      commit();
      emit(E_SELECT_DB, 0, 0, 0, 0, <i64>db, 0);
      return R_CONT;
    }
    case T.OP_RESIZEDB: {
      const a = readLen();
      const k1 = lenKind;
      const b = readLen();
      if (short) return R_NEED;
      if (k1 != LEN_PLAIN || lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at + 1));
      commit();
      emit(E_RESIZE_DB, 0, 0, 0, 0, <i64>a, <i64>b);
      return R_CONT;
    }
    case T.OP_EXPIRETIME: {
      const s = u32le();
      if (short) return R_NEED;
      commit();
      nextExpire = <i64>s * 1000;
      nextFlags |= F_EXPIRE;
      return R_CONT;
    }
    case T.OP_EXPIRETIME_MS: {
      const ms = u64le();
      if (short) return R_NEED;
      commit();
      nextExpire = <i64>ms;
      nextFlags |= F_EXPIRE;
      return R_CONT;
    }
    case T.OP_IDLE: {
      const idle = readLen();
      if (short) return R_NEED;
      if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at + 1));
      commit();
      nextIdle = <i64>idle;
      nextFlags = (nextFlags & ~F_FREQ) | F_IDLE;
      return R_CONT;
    }
    case T.OP_FREQ: {
      const f = u8r();
      if (short) return R_NEED;
      commit();
      nextIdle = <i64>f;
      nextFlags = (nextFlags & ~F_IDLE) | F_FREQ;
      return R_CONT;
    }
    case T.OP_AUX: {
      commit();
      phase = P_VALUE;
      vstate = V_AUX_KEY;
      return R_CONT;
    }
    case T.OP_SLOT_INFO: {
      if (flavor != FLAVOR_REDIS) break;
      const slot = readLen();
      const k1 = lenKind;
      const size = readLen();
      const k2 = lenKind;
      const exp = readLen();
      if (short) return R_NEED;
      if (k1 != LEN_PLAIN || k2 != LEN_PLAIN || lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at + 1));
      commit();
      emit(E_SLOT_INFO, 0, 0, 0, <u32>slot, <i64>size, <i64>exp);
      return R_CONT;
    }
    case T.OP_FUNCTION2: {
      commit();
      phase = P_VALUE;
      vstate = V_FUNCTION;
      fnPart = FN_LIBRARY;
      return R_CONT;
    }
    case T.OP_FUNCTION_PRE_GA: {
      commit();
      phase = P_VALUE;
      vstate = V_FUNCTION;
      fnPart = FN_PRE_GA_NAME;
      return R_CONT;
    }
    case T.OP_KEY_META_OR_SLOT_IMPORT: {
      if (flavor == FLAVOR_VALKEY) {
        commit();
        phase = P_SLOT_IMPORT;
        slotImportState = SI_NAME;
        return R_CONT;
      }
      if (version < 13) break;
      const n = readLen();
      if (short) return R_NEED;
      if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at + 1));
      commit();
      metaClassesLeft = n;
      metaInClass = false;
      phase = n > 0 ? P_KEY_META : P_OPCODE;
      return R_CONT;
    }
    case T.OP_MODULE_AUX: {
      const id = readLen();
      const k1 = lenKind;
      const whenOp = readLen();
      const k2 = lenKind;
      const when = readLen();
      if (short) return R_NEED;
      if (k1 != LEN_PLAIN || k2 != LEN_PLAIN || lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at + 1));
      if (whenOp != T.MOD_UINT) return fail(ERR_MODULE_CORRUPT, <i64>whenOp, offsetOf(at + 1));
      commit();
      emit(E_MODULE_AUX, 0, 0, 0, 0, <i64>id, <i64>when);
      moduleBegin();
      phase = P_MODULE_AUX;
      return R_CONT;
    }
    default:
      if (op < 32 && wholeKeyStep(op, at)) return R_CONT;
      if (isValueType(op)) return startKey(op, at);
  }
  return fail(ERR_UNKNOWN_TYPE, <i64>op, offsetOf(at));
}

function eofStep(at: usize): i32 {
  let stored: u64 = 0;
  const hasChecksum = version >= 5 || flavor == FLAVOR_VALKEY;
  if (hasChecksum) {
    stored = u64le();
    if (short) return R_NEED;
  }
  // The checksum covers every byte up to and including the EOF opcode.
  crcCatchUp(at + 1);
  const computed = crc;
  commit();
  let outcome: u32 = CK_NONE;
  if (hasChecksum) {
    if (stored == 0) outcome = CK_ZERO;
    else if (!verify) {
      outcome = CK_SKIPPED;
      trailerChecksum = stored;
      trailerCovers = offsetOf(at + 1);
    }
    else if (stored != computed) return fail(ERR_CHECKSUM, <i64>computed, offsetOf(at + 1));
    else outcome = CK_VERIFIED;
  }
  emit(E_EOF, 0, 0, 0, outcome, <i64>stored, 0);
  phase = P_DONE;
  return R_DONE;
}

let fnPart: u32 = 0;

function moduleAuxStep(): i32 {
  const r = moduleStep();
  if (r != R_DONE) return r;
  phase = P_OPCODE;
  return R_CONT;
}

let metaClassesLeft: u64 = 0;
let metaInClass: bool = false;

/** KEY_META classes: a 4-byte class spec, then the class's data in module opcodes up to EOF. */
function keyMetaStep(): i32 {
  if (!metaInClass) {
    begin();
    if (!skip(4)) return R_NEED;
    commit();
    moduleBegin();
    metaInClass = true;
    return R_CONT;
  }
  const r = moduleStep();
  if (r != R_DONE) return r;
  metaInClass = false;
  metaClassesLeft--;
  if (metaClassesLeft == 0) phase = P_OPCODE;
  return R_CONT;
}

const SI_NAME = 0;
const SI_NAME_DONE = 1;
const SI_RANGE = 2;
let slotImportState: i32 = SI_NAME;
let slotRangesLeft: u64 = 0;

/** Valkey SLOT_IMPORT: job name, number of ranges, then (start, end) slot pairs. */
function slotImportStep(): i32 {
  if (!roomForStep()) return R_FULL;
  begin();
  const at = cur;
  if (slotImportState == SI_NAME) {
    let r = readString(M_WHOLE);
    if (r == S_READY) r = asText();
    if (r != S_READY) {
      if (r == S_BIG) { commit(); slotImportState = SI_NAME_DONE; return R_CONT; }
      return r == S_SHORT ? R_NEED : r == S_FULL ? R_FULL : R_ERR;
    }
  }
  if (slotImportState != SI_RANGE) {
    const namePtr = sPtr, nameLen = sLen;
    const n = readLen();
    if (short) return R_NEED;
    if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at));
    commit();
    emit(E_SLOT_IMPORT, 0, namePtr, nameLen, 0, <i64>n, 0);
    releaseWholeString();
    slotRangesLeft = n;
    slotImportState = SI_RANGE;
  } else {
    const a = readLen();
    const k = lenKind;
    const b = readLen();
    if (short) return R_NEED;
    if (k != LEN_PLAIN || lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at));
    commit();
    emit(E_SLOT_RANGE, 0, 0, 0, 0, <i64>a, <i64>b);
    slotRangesLeft--;
  }
  if (slotRangesLeft == 0) phase = P_OPCODE;
  return R_CONT;
}

function dumpFooterStep(): i32 {
  begin();
  const at = cur;
  const ver = u16le();
  const stored = u64le();
  if (short) return R_NEED;
  crcCatchUp(at + 2);
  const computed = crc;
  commit();
  if (verify && stored != computed) return fail(ERR_CHECKSUM, <i64>computed, offsetOf(at + 2));
  emit(E_EOF, 0, 0, 0, verify ? CK_VERIFIED : CK_SKIPPED, <i64>stored, <i64>ver);
  phase = P_DONE;
  return R_DONE;
}

// ---------------------------------------------------------------- keys and values

function isValueType(op: u32): bool {
  return normalizeType(op) != 0xffffffff;
}

/** Maps an on-disk type byte to the type code reported to JS, or 0xffffffff when unknown. */
function normalizeType(op: u32): u32 {
  if (op == 8) return 0xffffffff;
  if (flavor == FLAVOR_VALKEY) {
    if (op == 22) return T.T_VALKEY_HASH_2;
    return op < 22 ? op : 0xffffffff;
  }
  if (op == T.T_STREAM_LISTPACKS_4) return version >= 13 ? op : 0xffffffff;
  return op <= 25 ? op : 0xffffffff;
}

/** Types whose whole value is one packed blob (walked by containers.ts). */
@inline function isBlobType(t: u32): bool {
  return (t >= T.T_HASH_ZIPMAP && t <= T.T_HASH_ZIPLIST) || t == T.T_HASH_LISTPACK || t == T.T_ZSET_LISTPACK ||
    t == T.T_SET_LISTPACK;
}

/**
 * The common case in one step: a string key whose value is a string or one packed blob, all in the
 * input. Returns false (having changed nothing) when the key is anything else; the general path runs.
 */
function wholeKeyStep(op: u32, at: usize): bool {
  const t = normalizeType(op);
  if (t != T.T_STRING && !isBlobType(t)) return false;
  const afterType = cur;
  let ok = readString(M_WHOLE | M_INLINE_ONLY) == S_READY && asText() == S_READY;
  const keyPtr = sPtr, keyLen = sLen;
  const valueAt = offsetOf(cur);
  ok = ok && readString((t == T.T_STRING ? M_CHUNKS : M_WHOLE) | M_INLINE_ONLY) == S_READY;
  if (!ok) {
    // Leave no trace: the general path re-reads from the key (errors are re-found there too).
    cur = afterType;
    short = false;
    clearError();
    return false;
  }
  commit();
  vtype = t;
  keyAt = offsetOf(at);
  resetKeyElems();
  const flags = nextFlags;
  emit(E_KEY, flags, keyPtr, keyLen, t, (flags & F_EXPIRE) ? nextExpire : 0, (flags & (F_IDLE | F_FREQ)) ? nextIdle : 0);
  emitValueSpan(valueAt);
  nextFlags = 0;
  phase = P_VALUE;
  if (t == T.T_STRING) {
    emitElement(E_VALUE, sPtr, sLen, sFlags, sInt);
    emit(E_KEY_END, 0, 0, 0, t, 1, offsetOf(pos));
    phase = P_OPCODE;
  } else if (startWalk(false) != R_CONT) {
    phase = P_VALUE; // the walk recorded the error; the next step reports it
    vstate = V_WALK_FAILED;
  }
  return true;
}

function startKey(op: u32, at: usize): i32 {
  vtype = normalizeType(op);
  if (vtype == T.T_MODULE_PRE_GA) return fail(ERR_UNSUPPORTED_TYPE, <i64>op, offsetOf(at));
  commit();
  keyAt = offsetOf(at);
  phase = P_VALUE;
  resetKeyElems();
  if (mode == MODE_DUMP) {
    // DUMP payloads carry no key: the caller knows it.
    sPtr = 0;
    sLen = 0;
    keyEmit();
    return firstValueState();
  }
  vstate = V_KEY;
  return R_CONT;
}

/**
 * Handles a string read that did not complete: S_SHORT → R_NEED, S_FULL → R_FULL, S_BIG → commit the
 * header and continue in `after` once big-string streaming finished.
 */
function stringNotReady(r: i32, after: i32): i32 {
  if (r == S_SHORT) return R_NEED;
  if (r == S_FULL) return R_FULL;
  if (r == S_BIG) {
    commit();
    vstate = after;
    return R_CONT;
  }
  return R_ERR;
}

/** Emits the string just read (a lazy integer keeps its value in n1). */
function emitCurrentString(kind: u32, aux: u32): void {
  emit(kind, sFlags, sPtr, sLen, aux, (sFlags & F_INTEGER) ? sInt : 0, 0);
}

/** E_KEY once the key's string is read (the reader stands at the value's first byte). */
function keyEmit(): void {
  const flags = nextFlags;
  emit(E_KEY, flags, sPtr, sLen, vtype, (flags & F_EXPIRE) ? nextExpire : 0, (flags & (F_IDLE | F_FREQ)) ? nextIdle : 0);
  emitValueSpan(offsetOf(cur));
  nextFlags = 0;
  releaseWholeString();
}

function valueStep(): i32 {
  if (!roomForStep()) return R_FULL;
  begin();
  switch (vstate) {
    case V_KEY: {
      let r = readString(M_WHOLE);
      if (r == S_READY) r = asText();
      if (r != S_READY) return stringNotReady(r, V_KEY_DONE);
      commit();
      keyEmit();
      return firstValueState();
    }
    case V_KEY_DONE: {
      keyEmit();
      return firstValueState();
    }
    case V_STRING: {
      const r = readString(M_CHUNKS);
      if (r != S_READY) return stringNotReady(r, V_STRING_DONE);
      commit();
    } // fallthrough
    case V_STRING_DONE: {
      emitElement(E_VALUE, sPtr, sLen, sFlags, sInt);
      vstate = V_END;
      return R_CONT;
    }
    case V_MIN_EXPIRE: {
      const t = u64le();
      if (short) return R_NEED;
      commit();
      minExpire = <i64>t;
      vstate = vtype == T.T_HASH_METADATA ? V_COUNT : V_BLOB;
      return R_CONT;
    }
    case V_COUNT: {
      const at = cur;
      count = readLen();
      if (short) return R_NEED;
      if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at));
      commit();
      vstate = count == 0 ? V_END : collectionItemState();
      return R_CONT;
    }
    case V_ITEM: {
      const r = readString(M_CHUNKS);
      if (r != S_READY) return stringNotReady(r, V_ITEM_DONE);
      commit();
    } // fallthrough
    case V_ITEM_DONE: {
      emitElement(vtype == T.T_SET ? E_SET_MEMBER : E_LIST_ITEM, sPtr, sLen, sFlags, sInt);
      return nextItem(vtype == T.T_LIST_QUICKLIST_2 ? V_QL2_CONTAINER : V_ITEM);
    }
    case V_ZMEMBER: {
      let r = readString(M_CHUNKS);
      if (r == S_READY) r = asText();
      if (r != S_READY) return stringNotReady(r, V_ZSCORE);
      return zsetScore(sPtr, sLen, sFlags);
    }
    case V_ZSCORE: return zsetScore(0, 0, F_CHUNKED);
    case V_HFIELD: {
      const at = cur;
      fieldTtl = 0;
      if (vtype == T.T_HASH_METADATA || vtype == T.T_HASH_METADATA_PRE_GA) {
        const ttl = readLen();
        if (short) return R_NEED;
        if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at));
        if (vtype == T.T_HASH_METADATA) fieldTtl = ttl == 0 ? 0 : <i64>ttl + minExpire - 1;
        else fieldTtl = <i64>ttl;
      }
      const r = readString(M_WHOLE);
      if (r != S_READY) return stringNotReady(r, V_HFIELD_DONE);
      commit();
    } // fallthrough
    case V_HFIELD_DONE: {
      emitCurrentString(E_HASH_FIELD, 0);
      releaseWholeString();
      vstate = V_HVALUE;
      return R_CONT;
    }
    case V_HVALUE: {
      let r = readString(M_CHUNKS);
      if (r != S_READY) return stringNotReady(r, V_HVALUE_DONE);
      if (vtype == T.T_VALKEY_HASH_2 && !readValkeyFieldExpiry()) return short ? R_NEED : R_ERR;
      if (fieldTtl != 0 && (r = asText()) != S_READY) return stringNotReady(r, V_HVALUE);
      commit();
      return hashValueEmit(sPtr, sLen, sFlags);
    }
    case V_HVALUE_DONE: {
      if (vtype == T.T_VALKEY_HASH_2) {
        if (!readValkeyFieldExpiry()) return short ? R_NEED : R_ERR;
        commit();
      }
      return hashValueEmit(sPtr, sLen, sFlags);
    }
    case V_QL2_CONTAINER: {
      const at = cur;
      const container = readLen();
      if (short) return R_NEED;
      if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at));
      if (container != T.QL_PLAIN && container != T.QL_PACKED) return fail(ERR_QUICKLIST_CORRUPT, <i64>container, offsetOf(at));
      commit();
      if (container == T.QL_PLAIN) emitBlob(BLOB_PLAIN, 0);
      vstate = container == T.QL_PLAIN ? V_ITEM : V_NODE;
      return R_CONT;
    }
    case V_BLOB:
    case V_NODE: {
      const r = readString(M_WHOLE);
      if (r != S_READY) return stringNotReady(r, vstate == V_BLOB ? V_BLOB_DONE : V_NODE_DONE);
      commit();
      return startWalk(vstate == V_NODE);
    }
    case V_BLOB_DONE: return startWalk(false);
    case V_NODE_DONE: return startWalk(true);
    case V_WALK_FAILED: return R_ERR;
    case V_WALK_END: {
      if (vtype == T.T_LIST_QUICKLIST) return nextItem(V_NODE);
      if (vtype == T.T_LIST_QUICKLIST_2) return nextItem(V_QL2_CONTAINER);
      vstate = V_END;
      return R_CONT;
    }
    case V_STREAM: {
      const r = streamStep();
      if (r == R_DONE) { vstate = V_END; return R_CONT; }
      return r;
    }
    case V_MODULE_ID: {
      const at = cur;
      const id = readLen();
      if (short) return R_NEED;
      if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at));
      commit();
      moduleId = <i64>id;
      moduleBegin();
      vstate = V_MODULE;
      return R_CONT;
    }
    case V_MODULE: {
      const r = moduleStep();
      if (r != R_DONE) return r;
      emit(E_MODULE_VALUE, 0, 0, 0, 0, moduleId, moduleBytes);
      vstate = V_END;
      return R_CONT;
    }
    case V_END: {
      emit(E_KEY_END, 0, 0, 0, vtype, keyElems, offsetOf(pos));
      phase = mode == MODE_DUMP ? P_DUMP_FOOTER : P_OPCODE;
      return R_CONT;
    }
    case V_AUX_KEY: {
      const r = readString(M_WHOLE);
      if (r != S_READY) return stringNotReady(r, V_AUX_KEY_DONE);
      commit();
    } // fallthrough
    case V_AUX_KEY_DONE: {
      emitCurrentString(E_AUX_KEY, 0);
      releaseWholeString();
      vstate = V_AUX_VALUE;
      return R_CONT;
    }
    case V_AUX_VALUE: {
      const r = readString(M_WHOLE);
      if (r != S_READY) return stringNotReady(r, V_AUX_VALUE_DONE);
      commit();
    } // fallthrough
    case V_AUX_VALUE_DONE: {
      emitCurrentString(E_AUX_VALUE, 0);
      releaseWholeString();
      phase = P_OPCODE;
      return R_CONT;
    }
    case V_FUNCTION_FLAG: {
      const at = cur;
      const hasDescription = readLen();
      if (short) return R_NEED;
      if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at));
      commit();
      fnPart = hasDescription != 0 ? FN_PRE_GA_DESCRIPTION : FN_PRE_GA_CODE;
      vstate = V_FUNCTION;
      return R_CONT;
    }
    case V_FUNCTION: {
      const r = readString(M_WHOLE);
      if (r != S_READY) return stringNotReady(r, V_FUNCTION_DONE);
      commit();
    } // fallthrough
    case V_FUNCTION_DONE: {
      emitCurrentString(E_FUNCTION, fnPart);
      releaseWholeString();
      return nextFunctionPart();
    }
  }
  return fail(ERR_BAD_VALUE, <i64>vstate, offsetOf(cur));
}

/** Valkey HASH_2 stores each field's expire after its value: 8 bytes, -1 for none. */
function readValkeyFieldExpiry(): bool {
  const at = cur;
  const t = <i64>u64le();
  if (short) return false;
  if (t < -1) { fail(ERR_BAD_VALUE, t, offsetOf(at)); return false; }
  fieldTtl = t == -1 ? 0 : t;
  return true;
}

function hashValueEmit(ptr: usize, len: u32, flags: u32): i32 {
  // n1 holds the field's expire time when it has one (the value was then made text), else a lazy integer.
  if (fieldTtl != 0) emit(E_HASH_VALUE, flags | F_EXPIRE, ptr, len, 0, fieldTtl, 0);
  else emit(E_HASH_VALUE, flags, ptr, len, 0, (flags & F_INTEGER) ? sInt : 0, 0);
  countElem();
  return nextItem(V_HFIELD);
}

/**
 * The pre-GA FUNCTION opcode (Redis 7.0 release candidates) holds name, engine, an optional description
 * (behind a 0/1 length flag) and code; FUNCTION2 holds only the library code.
 */
function nextFunctionPart(): i32 {
  if (fnPart == FN_LIBRARY || fnPart == FN_PRE_GA_CODE) {
    phase = P_OPCODE;
    return R_CONT;
  }
  if (fnPart == FN_PRE_GA_ENGINE) {
    vstate = V_FUNCTION_FLAG;
    return R_CONT;
  }
  fnPart++;
  vstate = V_FUNCTION;
  return R_CONT;
}

function firstValueState(): i32 {
  const t = vtype;
  if (t == T.T_STRING) vstate = V_STRING;
  else if (t == T.T_LIST || t == T.T_SET || t == T.T_ZSET || t == T.T_ZSET_2 || t == T.T_HASH ||
           t == T.T_HASH_METADATA_PRE_GA || t == T.T_VALKEY_HASH_2 ||
           t == T.T_LIST_QUICKLIST || t == T.T_LIST_QUICKLIST_2) vstate = V_COUNT;
  else if (t == T.T_HASH_METADATA || t == T.T_HASH_LISTPACK_EX) vstate = V_MIN_EXPIRE;
  else if (T.isStreamType(t)) {
    streamBegin(t);
    vstate = V_STREAM;
  } else if (t == T.T_MODULE_2) vstate = V_MODULE_ID;
  else vstate = V_BLOB;
  return R_CONT;
}
function collectionItemState(): i32 {
  const t = vtype;
  if (t == T.T_LIST || t == T.T_SET) return V_ITEM;
  if (t == T.T_ZSET || t == T.T_ZSET_2) return V_ZMEMBER;
  if (t == T.T_LIST_QUICKLIST) return V_NODE;
  if (t == T.T_LIST_QUICKLIST_2) return V_QL2_CONTAINER;
  return V_HFIELD;
}

function nextItem(again: i32): i32 {
  count--;
  vstate = count > 0 ? again : V_END;
  return R_CONT;
}

/** Reads a sorted-set score (binary for ZSET_2, else length-prefixed text) and emits the member. */
function zsetScore(mPtr: usize, mLen: u32, mFlags: u32): i32 {
  const at = cur;
  if (vtype == T.T_ZSET_2) {
    const d = f64le();
    if (short) return R_NEED;
    commit();
    emitScored(mPtr, mLen, mFlags, d);
    return nextItem(V_ZMEMBER);
  }
  const n = u8r();
  if (short) return R_NEED;
  let d: f64 = 0;
  if (n == 253) d = NaN;
  else if (n == 254) d = Infinity;
  else if (n == 255) d = -Infinity;
  else {
    if (!has(n)) return R_NEED;
    const text = cur;
    cur += n;
    commit();
    emitScoredText(mPtr, mLen, mFlags, text, n);
    return nextItem(V_ZMEMBER);
  }
  commit();
  if (isNaN(d)) return fail(ERR_BAD_SCORE, 0, offsetOf(at));
  emitScored(mPtr, mLen, mFlags, d);
  return nextItem(V_ZMEMBER);
}

/** Starts the walk of a packed blob just read (sPtr/sLen); quicklist 2 nodes may be plain elements. */
function startWalk(isNode: bool): i32 {
  const t = vtype;
  let kind: i32 = C_LISTPACK;
  let role: i32 = ROLE_LIST;
  if (t == T.T_HASH_ZIPMAP) { kind = C_ZIPMAP; role = ROLE_HASH; }
  else if (t == T.T_LIST_ZIPLIST || t == T.T_LIST_QUICKLIST) { kind = C_ZIPLIST; role = ROLE_LIST; }
  else if (t == T.T_SET_INTSET) { kind = C_INTSET; role = ROLE_SET; }
  else if (t == T.T_ZSET_ZIPLIST) { kind = C_ZIPLIST; role = ROLE_ZSET; }
  else if (t == T.T_HASH_ZIPLIST) { kind = C_ZIPLIST; role = ROLE_HASH; }
  else if (t == T.T_HASH_LISTPACK) role = ROLE_HASH;
  else if (t == T.T_ZSET_LISTPACK) role = ROLE_ZSET;
  else if (t == T.T_SET_LISTPACK) role = ROLE_SET;
  else if (t == T.T_HASH_LISTPACK_EX || t == T.T_HASH_LISTPACK_EX_PRE_GA) role = ROLE_HASH_TTL;
  if (sPtr >= scratchBase) scratchSetKeep(scratchTop);
  const r = walkStart(kind, role, sPtr, sLen, keyAt);
  if (r != R_CONT) return r;
  vstate = V_WALK_END;
  return R_CONT;
}
