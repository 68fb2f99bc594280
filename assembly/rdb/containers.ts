// Walks the packed encodings stored as one RDB string (ziplist, listpack, intset, zipmap) and emits their
// elements. A walk can stop when the event buffer fills and resume at the same element; the blob stays
// in place (input buffer or kept scratch) until the walk ends.
import {
  E_LIST_ITEM, E_SET_MEMBER, E_HASH_FIELD, E_HASH_VALUE, F_INTEGER, F_EXPIRE,
  ERR_ZIPLIST_CORRUPT, ERR_LISTPACK_CORRUPT, ERR_INTSET_CORRUPT, ERR_ZIPMAP_CORRUPT,
  BLOB_ZIPLIST, BLOB_LISTPACK, BLOB_INTSET, BLOB_ZIPMAP,
} from "../../src/core/abi";
import { emit, roomForStep } from "../events";
import { ePtr, eLen, eIsInt, eInt, eNext, listpackEntry, ziplistEntry, listpackBody, ziplistBody, bodyStart, bodyEnd } from "./entries";
import { emitElement, emitScored, emitScoredText, countElem, emitBlob } from "./emitters";
import { integerString, sPtr, sLen, S_READY, S_FULL } from "./strings";
import { R_CONT, R_FULL, fail } from "../status";

export const C_ZIPLIST: i32 = BLOB_ZIPLIST;
export const C_LISTPACK: i32 = BLOB_LISTPACK;
export const C_INTSET: i32 = BLOB_INTSET;
export const C_ZIPMAP: i32 = BLOB_ZIPMAP;

export const ROLE_LIST: i32 = 1;
export const ROLE_SET: i32 = 2;
export const ROLE_ZSET: i32 = 3; // member, score
export const ROLE_HASH: i32 = 4; // field, value
export const ROLE_HASH_TTL: i32 = 5; // field, value, absolute expire ms (0 = none)

export let walkActive: bool = false;
let wKind: i32 = 0;
let wRole: i32 = 0;
let wCur: usize = 0;
let wEnd: usize = 0;
let wWidth: u32 = 0; // intset element size
let wAt: i64 = 0; // absolute offset of the blob's string header, for errors
let wErr: i32 = 0;

function corrupt(): i32 {
  walkActive = false;
  return fail(wErr, 0, wAt);
}

/** Starts walking the blob [p, p+n); validates its header first. */
export function walkStart(kind: i32, role: i32, p: usize, n: u32, at: i64): i32 {
  wKind = kind; wRole = role; wAt = at;
  const end = p + <usize>n;
  if (kind == C_ZIPLIST || kind == C_LISTPACK) {
    wErr = kind == C_ZIPLIST ? ERR_ZIPLIST_CORRUPT : ERR_LISTPACK_CORRUPT;
    if (!(kind == C_ZIPLIST ? ziplistBody(p, n) : listpackBody(p, n))) return corrupt();
    wCur = bodyStart; wEnd = bodyEnd;
  } else if (kind == C_INTSET) {
    wErr = ERR_INTSET_CORRUPT;
    if (n < 8) return corrupt();
    wWidth = load<u32>(p);
    const count = <u64>load<u32>(p + 4);
    if ((wWidth != 2 && wWidth != 4 && wWidth != 8) || 8 + count * <u64>wWidth != <u64>n) return corrupt();
    wCur = p + 8; wEnd = end;
  } else {
    wErr = ERR_ZIPMAP_CORRUPT;
    if (n < 2 || load<u8>(end - 1) != 0xff) return corrupt();
    wCur = p + 1; wEnd = end - 1;
  }
  emitBlob(kind, n);
  walkActive = true;
  return R_CONT;
}

// One decoded entry, as bytes: integers become decimal text in scratch.
let iPtr: usize = 0;
let iLen: u32 = 0;
let iFlags: u32 = 0;
let iInt: i64 = 0;
let iNum: i64 = 0; // the entry's integer value when it was stored as one
let iWasInt: bool = false;

const NEXT_OK: i32 = 0;
const NEXT_END: i32 = 1;
const NEXT_BAD: i32 = 2;
const NEXT_FULL: i32 = 3;

/** Decodes the entry at p into iPtr/iLen (text) and iWasInt/iNum; sets eNext. */
function entryAt(p: usize, asText: bool): i32 {
  if (p >= wEnd) return NEXT_END;
  let ok: bool;
  if (wKind == C_LISTPACK) ok = listpackEntry(p, wEnd);
  else if (wKind == C_ZIPLIST) ok = ziplistEntry(p, wEnd);
  else ok = zipmapEntry(p);
  if (!ok) return NEXT_BAD;
  iWasInt = eIsInt;
  iNum = eInt;
  if (!eIsInt) {
    iPtr = ePtr; iLen = eLen; iFlags = 0; iInt = 0;
    return NEXT_OK;
  }
  if (!asText) {
    // Lazy integer: no bytes, F_INTEGER, the value travels in the event's n1.
    iPtr = 0; iLen = 0; iFlags = F_INTEGER; iInt = iNum;
    return NEXT_OK;
  }
  const next = eNext;
  const r = integerString(eInt);
  eNext = next;
  if (r == S_FULL) return NEXT_FULL;
  if (r != S_READY) return NEXT_BAD;
  iPtr = sPtr; iLen = sLen; iFlags = 0; iInt = iNum;
  return NEXT_OK;
}

/** Zipmap entries: a length (one byte, or 254 + u32 LE) then the bytes; values also skip `free` bytes. */
let zipmapIsValue: bool = false;
function zipmapEntry(p: usize): bool {
  let n = <u32>load<u8>(p);
  p++;
  if (n == 254) {
    if (wEnd - p < 4) return false;
    n = load<u32>(p);
    p += 4;
  } else if (n == 255) return false;
  let free: u32 = 0;
  if (zipmapIsValue) {
    if (p >= wEnd) return false;
    free = <u32>load<u8>(p);
    p++;
  }
  if (<usize>n + <usize>free > wEnd - p) return false;
  ePtr = p; eLen = n; eIsInt = false;
  eNext = p + n + free;
  return true;
}

function intsetNext(): i32 {
  if (wCur >= wEnd) return NEXT_END;
  let v: i64;
  if (wWidth == 2) v = <i64>load<i16>(wCur);
  else if (wWidth == 4) v = <i64>load<i32>(wCur);
  else v = load<i64>(wCur);
  iPtr = 0; iLen = 0; iFlags = F_INTEGER; iInt = v;
  eNext = wCur + wWidth;
  return NEXT_OK;
}

/** Emits elements until the blob ends (R_CONT, walkActive false), events fill up (R_FULL) or corruption. */
export function walkContinue(): i32 {
  while (true) {
    if (!roomForStep()) return R_FULL;
    let r: i32;
    if (wKind == C_INTSET) r = intsetStep();
    else if (wRole == ROLE_LIST || wRole == ROLE_SET) r = singleStep();
    else if (wRole == ROLE_ZSET) r = zsetStep();
    else r = hashStep();
    if (r == NEXT_END) {
      walkActive = false;
      if (wKind == C_ZIPMAP && wCur != wEnd) return corrupt();
      return R_CONT;
    }
    if (r == NEXT_FULL) return R_FULL;
    if (r == NEXT_BAD) return corrupt();
  }
}

function intsetStep(): i32 {
  const r = intsetNext();
  if (r != NEXT_OK) return r;
  emitElement(E_SET_MEMBER, iPtr, iLen, iFlags, iInt);
  wCur = eNext;
  return NEXT_OK;
}

function singleStep(): i32 {
  const r = entryAt(wCur, false);
  if (r != NEXT_OK) return r;
  emitElement(wRole == ROLE_LIST ? E_LIST_ITEM : E_SET_MEMBER, iPtr, iLen, iFlags, iInt);
  wCur = eNext;
  return NEXT_OK;
}

function zsetStep(): i32 {
  let r = entryAt(wCur, true);
  if (r != NEXT_OK) return r;
  const mPtr = iPtr, mLen = iLen, mFlags = iFlags;
  r = entryAt(eNext, false);
  if (r == NEXT_END) return NEXT_BAD; // a member without its score
  if (r != NEXT_OK) return r;
  if (iWasInt) emitScored(mPtr, mLen, mFlags, <f64>iNum);
  else emitScoredText(mPtr, mLen, mFlags, iPtr, iLen);
  wCur = eNext;
  return NEXT_OK;
}

function hashStep(): i32 {
  zipmapIsValue = false;
  let r = entryAt(wCur, false);
  if (r != NEXT_OK) return r;
  const fPtr = iPtr, fLen = iLen, fFlags = iFlags, fInt = iInt;
  zipmapIsValue = true;
  // With field TTLs, n1 of the value event carries the TTL, so an integer value must become text.
  r = entryAt(eNext, wRole == ROLE_HASH_TTL);
  zipmapIsValue = false;
  if (r == NEXT_END) return NEXT_BAD; // a field without its value
  if (r != NEXT_OK) return r;
  const vPtr = iPtr, vLen = iLen, vFlags = iFlags, vInt = iInt;
  let ttl: i64 = 0;
  if (wRole == ROLE_HASH_TTL) {
    r = entryAt(eNext, false);
    if (r == NEXT_END || (r == NEXT_OK && !iWasInt)) return NEXT_BAD;
    if (r != NEXT_OK) return r;
    ttl = iNum;
  }
  emit(E_HASH_FIELD, fFlags, fPtr, fLen, 0, fInt, 0);
  if (ttl != 0) emit(E_HASH_VALUE, vFlags | F_EXPIRE, vPtr, vLen, 0, ttl, 0);
  else emit(E_HASH_VALUE, vFlags, vPtr, vLen, 0, vInt, 0);
  countElem();
  wCur = eNext;
  return NEXT_OK;
}
