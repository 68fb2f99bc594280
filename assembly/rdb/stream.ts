// Streams (STREAM_LISTPACKS 1/2/3/4): a radix tree of listpacks keyed by master IDs, then the stream's
// metadata, consumer groups, their pending entries and consumers (t_stream.c, rdb.c rdbLoadObject).
import {
  E_STREAM_ENTRY, E_STREAM_FIELD, E_STREAM_VALUE, E_STREAM_META, E_STREAM_GROUP, E_STREAM_PEL,
  E_STREAM_CONSUMER, E_STREAM_CONSUMER_PEL, F_INTEGER, F_UNKNOWN, F_ACTIVE_TIME,
  SM_LENGTH, SM_LAST_ID, SM_FIRST_ID, SM_MAX_DELETED_ID, SM_ENTRIES_ADDED, SM_GROUP_ENTRIES_READ, SM_NACK, SM_GROUPS,
  ERR_STREAM_CORRUPT, ERR_LISTPACK_CORRUPT, ERR_BAD_LENGTH, BLOB_STREAM_LISTPACK,
} from "../../src/core/abi";
import { emit, roomForStep } from "../events";
import { scratchBase, scratchTop, scratchSetKeep } from "../memory";
import { begin, commit, cur, short, readLen, lenKind, LEN_PLAIN, u64le, offsetOf, skip } from "./reader";
import { readString, asText, releaseWholeString, sPtr, sLen, S_READY, S_SHORT, S_BIG, S_FULL, M_WHOLE, M_SKIP } from "./strings";
import { listpackEntry, listpackBody, bodyStart, bodyEnd, ePtr, eLen, eIsInt, eInt, eNext } from "./entries";
import { countElem, emitBlob } from "./emitters";
import { T_STREAM_LISTPACKS_2, T_STREAM_LISTPACKS_3, T_STREAM_LISTPACKS_4 } from "./types";
import { R_CONT, R_NEED, R_FULL, R_DONE, R_ERR, fail } from "../status";

// Stream value states.
const SS_NODES = 0; // count of listpacks
const SS_NODE_KEY = 1; // master ID (16-byte string)
const SS_NODE_KEY_DONE = 2;
const SS_NODE_LP = 3; // the listpack
const SS_NODE_LP_DONE = 4;
const SS_WALK = 5;
const SS_META = 6; // length, last ID, and the v2 fields
const SS_GROUPS = 7;
const SS_GROUP_NAME = 8;
const SS_GROUP_NAME_DONE = 9;
const SS_PEL = 10;
const SS_CONSUMERS = 11;
const SS_CONSUMER_NAME = 12;
const SS_CONSUMER_NAME_DONE = 13;
const SS_CONSUMER_PEL = 14;
const SS_IDMP = 15; // STREAM_LISTPACKS_4: idempotent-producer trailer, read and skipped
const SS_PRODUCER = 16;
const SS_IID = 17;
const SS_IDMP_TAIL = 18;

let st: i32 = 0;
/** The stream's layout, 1-4: each adds to the one before (rdb.c tests `rdbtype >= RDB_TYPE_STREAM_LISTPACKS_n`,
 *  which the type codes allow since 22-25 are hashes; here the layout number says the same). */
let layout: i32 = 0;
let nodesLeft: u64 = 0;
let masterMs: u64 = 0;
let masterSeq: u64 = 0;
let groupsLeft: u64 = 0;
let pelLeft: u64 = 0;
let consumersLeft: u64 = 0;
let at: i64 = 0;

export function streamBegin(type: u32): void {
  st = SS_NODES;
  layout = type == T_STREAM_LISTPACKS_4 ? 4 : type == T_STREAM_LISTPACKS_3 ? 3 : type == T_STREAM_LISTPACKS_2 ? 2 : 1;
}

/** Layout 2 on: first ID, max deleted ID, entries added, a group's entries read. */
@inline function v2(): bool {
  return layout >= 2;
}

/** After the last group: the end of the value, or the IDMP trailer of v4 streams. */
function groupsDone(): i32 {
  if (layout < 4) return R_DONE;
  st = SS_IDMP;
  return R_CONT;
}

let producersLeft: u64 = 0;
let iidsLeft: u64 = 0;

/** IDMP trailer: duration, max entries, producers (id + their iids with stream IDs), two counters. */
function idmpStep(): i32 {
  if (st == SS_IDMP) {
    if (!len() || !len() || !len()) return notRead();
    commit();
    producersLeft = lv;
    st = producersLeft > 0 ? SS_PRODUCER : SS_IDMP_TAIL;
    return R_CONT;
  }
  if (st == SS_PRODUCER) {
    const r = readString(M_SKIP);
    if (r == S_BIG) return corrupt();
    if (r != S_READY) return stringNotReady(r, SS_PRODUCER);
    if (!len()) return notRead();
    commit();
    iidsLeft = lv;
    producersLeft--;
    st = iidsLeft > 0 ? SS_IID : producersLeft > 0 ? SS_PRODUCER : SS_IDMP_TAIL;
    return R_CONT;
  }
  if (st == SS_IID) {
    const r = readString(M_SKIP);
    if (r == S_BIG) return corrupt();
    if (r != S_READY) return stringNotReady(r, SS_IID);
    if (!len() || !len()) return notRead();
    commit();
    iidsLeft--;
    if (iidsLeft == 0) st = producersLeft > 0 ? SS_PRODUCER : SS_IDMP_TAIL;
    return R_CONT;
  }
  if (!len() || !len()) return notRead();
  commit();
  return R_DONE;
}

function corrupt(): i32 {
  return fail(ERR_STREAM_CORRUPT, 0, at);
}

/** Reads a plain length at the trial cursor; false when short or not a plain length. */
let lv: u64 = 0;
function len(): bool {
  lv = readLen();
  if (short) return false;
  if (lenKind != LEN_PLAIN) { fail(ERR_BAD_LENGTH, 0, offsetOf(cur)); return false; }
  return true;
}

/** Result of a failed len() or string read: R_NEED when short, else the recorded error. */
@inline function notRead(): i32 {
  return short ? R_NEED : R_ERR;
}

function stringNotReady(r: i32, after: i32): i32 {
  if (r == S_SHORT) return R_NEED;
  if (r == S_FULL) return R_FULL;
  if (r == S_BIG) { commit(); st = after; return R_CONT; }
  return R_ERR;
}

/** One step of the stream value; R_DONE when the whole value was read. */
export function streamStep(): i32 {
  if (!roomForStep()) return R_FULL;
  begin();
  at = offsetOf(cur);
  switch (st) {
    case SS_NODES: {
      if (!len()) return notRead();
      commit();
      nodesLeft = lv;
      st = nodesLeft > 0 ? SS_NODE_KEY : SS_META;
      return R_CONT;
    }
    case SS_NODE_KEY: {
      const r = readString(M_WHOLE);
      if (r != S_READY) return stringNotReady(r, SS_NODE_KEY_DONE);
      commit();
    } // fallthrough
    case SS_NODE_KEY_DONE: {
      if (sLen != 16) return corrupt();
      masterMs = bswap<u64>(load<u64>(sPtr));
      masterSeq = bswap<u64>(load<u64>(sPtr + 8));
      releaseWholeString();
      st = SS_NODE_LP;
      return R_CONT;
    }
    case SS_NODE_LP: {
      const r = readString(M_WHOLE);
      if (r != S_READY) return stringNotReady(r, SS_NODE_LP_DONE);
      commit();
    } // fallthrough
    case SS_NODE_LP_DONE: {
      if (sPtr >= scratchBase) scratchSetKeep(scratchTop);
      if (!walkBegin(sPtr, sLen)) return R_ERR;
      emitBlob(BLOB_STREAM_LISTPACK, sLen, masterMs, masterSeq);
      st = SS_WALK;
      return R_CONT;
    }
    case SS_WALK: {
      const r = walkStep();
      if (r != R_DONE) return r;
      scratchSetKeep(0);
      nodesLeft--;
      st = nodesLeft > 0 ? SS_NODE_KEY : SS_META;
      return R_CONT;
    }
    case SS_META: return metaStep();
    case SS_GROUPS: {
      if (!len()) return notRead();
      commit();
      groupsLeft = lv;
      emit(E_STREAM_META, 0, 0, 0, SM_GROUPS, <i64>lv, 0);
      if (groupsLeft == 0) return groupsDone();
      st = SS_GROUP_NAME;
      return R_CONT;
    }
    case SS_GROUP_NAME: {
      let r = readString(M_WHOLE);
      if (r == S_READY) r = asText();
      if (r != S_READY) return stringNotReady(r, SS_GROUP_NAME_DONE);
      return groupRest();
    }
    case SS_GROUP_NAME_DONE: return groupRest();
    case SS_PEL: return pelStep();
    case SS_CONSUMERS: {
      if (!len()) return notRead();
      commit();
      consumersLeft = lv;
      return nextConsumerOrGroup();
    }
    case SS_CONSUMER_NAME: {
      let r = readString(M_WHOLE);
      if (r == S_READY) r = asText();
      if (r != S_READY) return stringNotReady(r, SS_CONSUMER_NAME_DONE);
      return consumerRest();
    }
    case SS_CONSUMER_NAME_DONE: return consumerRest();
    case SS_CONSUMER_PEL: {
      if (!skip(16)) return R_NEED;
      const p = cur - 16;
      commit();
      emit(E_STREAM_CONSUMER_PEL, 0, 0, 0, 0, <i64>bswap<u64>(load<u64>(p)), <i64>bswap<u64>(load<u64>(p + 8)));
      pelLeft--;
      if (pelLeft == 0) { consumersLeft--; return nextConsumerOrGroup(); }
      return R_CONT;
    }
    case SS_IDMP:
    case SS_PRODUCER:
    case SS_IID:
    case SS_IDMP_TAIL: return idmpStep();
  }
  return corrupt();
}

function metaStep(): i32 {
  if (!len()) return notRead();
  const length = lv;
  if (!len()) return notRead();
  const lastMs = lv;
  if (!len()) return notRead();
  const lastSeq = lv;
  let firstMs: u64 = 0, firstSeq: u64 = 0, delMs: u64 = 0, delSeq: u64 = 0, added: u64 = 0;
  if (v2()) {
    if (!len()) return notRead();
    firstMs = lv;
    if (!len()) return notRead();
    firstSeq = lv;
    if (!len()) return notRead();
    delMs = lv;
    if (!len()) return notRead();
    delSeq = lv;
    if (!len()) return notRead();
    added = lv;
  }
  commit();
  emit(E_STREAM_META, 0, 0, 0, SM_LENGTH, <i64>length, 0);
  emit(E_STREAM_META, 0, 0, 0, SM_LAST_ID, <i64>lastMs, <i64>lastSeq);
  if (v2()) {
    emit(E_STREAM_META, 0, 0, 0, SM_FIRST_ID, <i64>firstMs, <i64>firstSeq);
    emit(E_STREAM_META, 0, 0, 0, SM_MAX_DELETED_ID, <i64>delMs, <i64>delSeq);
    emit(E_STREAM_META, 0, 0, 0, SM_ENTRIES_ADDED, <i64>added, 0);
  }
  st = SS_GROUPS;
  return R_CONT;
}

/** After the group name: last delivered ID, entries_read (v2), PEL size. */
function groupRest(): i32 {
  const namePtr = sPtr, nameLen = sLen;
  if (!len()) return notRead();
  const ms = lv;
  if (!len()) return notRead();
  const seq = lv;
  let read: u64 = 0;
  if (v2()) {
    if (!len()) return notRead();
    read = lv;
  }
  if (!len()) return notRead();
  pelLeft = lv;
  commit();
  emit(E_STREAM_GROUP, 0, namePtr, nameLen, 0, <i64>ms, <i64>seq);
  if (v2()) emit(E_STREAM_META, read == 0xffffffffffffffff ? F_UNKNOWN : 0, 0, 0, SM_GROUP_ENTRIES_READ, <i64>read, 0);
  releaseWholeString();
  st = pelLeft > 0 ? SS_PEL : SS_CONSUMERS;
  return R_CONT;
}

function pelStep(): i32 {
  if (!skip(16)) return R_NEED;
  const p = cur - 16;
  const time = u64le();
  if (short) return R_NEED;
  if (!len()) return notRead();
  commit();
  emit(E_STREAM_PEL, 0, 0, 0, 0, <i64>bswap<u64>(load<u64>(p)), <i64>bswap<u64>(load<u64>(p + 8)));
  emit(E_STREAM_META, 0, 0, 0, SM_NACK, <i64>time, <i64>lv);
  pelLeft--;
  if (pelLeft == 0) st = SS_CONSUMERS;
  return R_CONT;
}

function nextConsumerOrGroup(): i32 {
  if (consumersLeft > 0) { st = SS_CONSUMER_NAME; return R_CONT; }
  groupsLeft--;
  if (groupsLeft > 0) { st = SS_GROUP_NAME; return R_CONT; }
  return groupsDone();
}

/** After the consumer name: seen time, active time (layout 3 on), PEL size. */
function consumerRest(): i32 {
  const namePtr = sPtr, nameLen = sLen;
  const seen = u64le();
  if (short) return R_NEED;
  let active: u64 = 0;
  const v3 = layout >= 3;
  if (v3) {
    active = u64le();
    if (short) return R_NEED;
  }
  if (!len()) return notRead();
  pelLeft = lv;
  commit();
  emit(E_STREAM_CONSUMER, v3 ? F_ACTIVE_TIME : 0, namePtr, nameLen, 0, <i64>seen, <i64>active);
  releaseWholeString();
  if (pelLeft > 0) { st = SS_CONSUMER_PEL; return R_CONT; }
  consumersLeft--;
  return nextConsumerOrGroup();
}

// ---------------------------------------------------------------- listpack walk

const W_HEAD = 0; // the entry's flags, ID and field count
const W_PAIRS = 1; // its fields and values
const W_TAIL = 2; // its lp-count
const ITEM_DELETED: i64 = 1;
const ITEM_SAMEFIELDS: i64 = 2;

let wCur: usize = 0;
let wEnd: usize = 0;
let wState: i32 = 0;
let masterFields: u64 = 0;
let masterFieldsAt: usize = 0; // first master field entry
let fieldsLeft: u64 = 0;
let sameFields: bool = false;
let deleted: bool = false;
let masterCursor: usize = 0;

function lpBad(): bool {
  fail(ERR_LISTPACK_CORRUPT, 0, at);
  return false;
}

/** Reads an integer listpack entry at wCur into eInt and advances. */
function lpInt(): bool {
  if (wCur >= wEnd || !listpackEntry(wCur, wEnd) || !eIsInt) return lpBad();
  wCur = eNext;
  return true;
}

function walkBegin(p: usize, n: u32): bool {
  if (!listpackBody(p, n)) return lpBad();
  wCur = bodyStart;
  wEnd = bodyEnd;
  // master entry: count, deleted, number of master fields, the fields, then a 0 terminator
  if (!lpInt() || !lpInt() || !lpInt()) return false;
  masterFields = <u64>eInt;
  masterFieldsAt = wCur;
  for (let i: u64 = 0; i < masterFields; i++) {
    if (wCur >= wEnd || !listpackEntry(wCur, wEnd)) return lpBad();
    wCur = eNext;
  }
  if (!lpInt()) return false;
  wState = W_HEAD;
  return true;
}

/** The entry after the one at p (0 when it is malformed). */
function entryAfter(p: usize): usize {
  if (p >= wEnd || !listpackEntry(p, wEnd)) { lpBad(); return 0; }
  return eNext;
}

/** Emits the listpack entry at p as a stream string (integers stay lazy: n1 is free); returns the next. */
function emitEntry(kind: u32, p: usize): usize {
  if (p >= wEnd || !listpackEntry(p, wEnd)) { lpBad(); return 0; }
  if (eIsInt) emit(kind, F_INTEGER, 0, 0, 0, eInt, 0);
  else emit(kind, 0, ePtr, eLen, 0, 0, 0);
  return eNext;
}

/** One field/value pair of the current entry (deleted entries are stepped over silently). */
function pairStep(): i32 {
  const fieldAt = sameFields ? masterCursor : wCur;
  const afterField = deleted ? entryAfter(fieldAt) : emitEntry(E_STREAM_FIELD, fieldAt);
  if (afterField == 0) return R_ERR;
  const valueAt = sameFields ? wCur : afterField;
  const afterValue = deleted ? entryAfter(valueAt) : emitEntry(E_STREAM_VALUE, valueAt);
  if (afterValue == 0) return R_ERR;
  if (sameFields) masterCursor = afterField;
  wCur = afterValue;
  return R_CONT;
}

function walkStep(): i32 {
  while (true) {
    if (!roomForStep()) return R_FULL;
    if (wState == W_HEAD) {
      if (wCur >= wEnd) return R_DONE;
      if (!lpInt()) return R_ERR;
      const flags = eInt;
      if (!lpInt()) return R_ERR;
      const ms = masterMs + <u64>eInt;
      if (!lpInt()) return R_ERR;
      const seq = masterSeq + <u64>eInt;
      sameFields = (flags & ITEM_SAMEFIELDS) != 0;
      deleted = (flags & ITEM_DELETED) != 0;
      if (sameFields) {
        fieldsLeft = masterFields;
        masterCursor = masterFieldsAt;
      } else {
        if (!lpInt()) return R_ERR;
        fieldsLeft = <u64>eInt;
      }
      if (!deleted) {
        emit(E_STREAM_ENTRY, 0, 0, 0, <u32>fieldsLeft, <i64>ms, <i64>seq);
        countElem();
      }
      wState = fieldsLeft > 0 ? W_PAIRS : W_TAIL;
      continue;
    }
    if (wState == W_PAIRS) {
      const r = pairStep();
      if (r != R_CONT) return r;
      fieldsLeft--;
      if (fieldsLeft == 0) wState = W_TAIL;
      continue;
    }
    if (!lpInt()) return R_ERR;
    wState = W_HEAD;
  }
  return R_ERR;
}
