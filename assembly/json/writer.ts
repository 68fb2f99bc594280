// The canonical JSON lines writer (FORMAT.md) inside the module: it reads the event buffer the parser
// just filled and appends one line per key to the arena (region.ts), so `parse --format jsonl` never
// builds JS objects. Every type of FORMAT.md is written here (streams in stream-writer.ts); module
// values have no line.
//
// Strings and lists keep file order, so their line is written directly as events arrive (a list with no
// elements is rolled back: Redis drops empty collections). Other keys' elements are buffered as records
// after the key bytes: u32 aLen, u32 bLen, num (score f64, or field TTL i64 with 0 for none) @8, A @16,
// then B (small headers keep a big hash's records close together for the sorted, random reads). At the key's end the records are sorted (sets, hashes
// by field; sorted sets by score then member), the line is written after them and moved down.
import {
  EVENT_SIZE, E_SELECT_DB, E_KEY, E_KEY_END, E_VALUE, E_LIST_ITEM, E_SET_MEMBER, E_ZSET_MEMBER, E_SCORE_TEXT,
  E_HASH_FIELD, E_HASH_VALUE, E_CHUNK, F_CHUNKED, F_EXPIRE, F_SCORE_TEXT, JSON_HOST_FILTER, JSON_DUPLICATE_KEYS,
} from "../../src/core/abi";
import { duplicatesInit, duplicatesNote } from "../duplicate-keys";
import { eventsBase, arenaUsed, setArenaUsed } from "../memory";
import { eventCount } from "../events";
import { writeJsonBytes, jsonBytesBound } from "./text";
import { writeScore } from "./numbers";
import { writeSigned } from "../decimal";
import { sortEntries, setEntry, setEntryLayout, entrySize, ENTRY_MAX, ENTRY_OFFSET, RECORD_HEADER } from "./sort";
import { writeLineHead, VT_STRING, VT_LIST, VT_SET, VT_ZSET, VT_HASH, VT_STREAM } from "./line";
import {
  at, room, regStart, regEnd, setRegEnd, beginKeyRegion, dropKeyRegion, completeLine,
  appendEventString, appendByte, appendWord, completeRegion, regionReset, flushRegion, outputLength,
} from "../output-region";
import { appendEventJson, jsonInPlace } from "./region";
import { isStreamType } from "../rdb/types";
import { streamBegin, streamEvent, streamEnd, streamShift, streamFinishGroups } from "./stream-writer";

@external("host", "keepKey")
declare function hostKeepKey(db: i32, rdbType: u32, key: usize, len: u32, expireMs: f64): i32;

@external("host", "parseScore")
declare function hostParseScore(text: usize, len: u32): f64;

function valueType(rdbType: u32): u32 {
  if (rdbType == 0) return VT_STRING;
  if (rdbType == 1 || rdbType == 10 || rdbType == 14 || rdbType == 18) return VT_LIST;
  if (rdbType == 2 || rdbType == 11 || rdbType == 20) return VT_SET;
  if (rdbType == 3 || rdbType == 5 || rdbType == 12 || rdbType == 17) return VT_ZSET;
  if (rdbType == 4 || rdbType == 9 || rdbType == 13 || rdbType == 16 || (rdbType >= 22 && rdbType <= 25) ||
      rdbType == 256 + 22) return VT_HASH;
  if (isStreamType(rdbType)) return VT_STREAM;
  return 0;
}

// Configuration (jsonInit): which keys to write.
let typeMask: u32 = 0xffffffff; // bit per VT_*; bit 0: module values (selected, never written)
let askHost: bool = false; // call hostKeepKey for every key
let noteKeys: bool = false; // note every selected key for the duplicate check (duplicate-keys.ts)
/** Selected module values, which have no line. */
let modulesLeftOut: u32 = 0;
const MAX_DBS: usize = 64;
const dbList: usize = memory.data(<i32>(MAX_DBS * 8), 8);
let dbCount: usize = 0; // 0: every db

// State.
let db: i64 = 0;
let vt: u32 = 0; // VT_* of the current key, 0 when none or not written here
let keyLen: u32 = 0;
let expireMs: i64 = 0;
let hasExpire: bool = false;
let records: u32 = 0;
let fieldTtls: u32 = 0; // hash fields with a TTL in the current key
let recAt: usize = 0; // open record (offset), or NO_RECORD
let pendingScore: f64 = 0;
/** Whether the last batch had events the writer did not consume (other types, metadata, dbs). */
let hostNeeded: bool = true;

const NO_RECORD: usize = usize.MAX_VALUE;

export function jsonInit(types: u32, hostFlags: u32, dbs: u32): bool {
  typeMask = types;
  askHost = (hostFlags & JSON_HOST_FILTER) != 0;
  noteKeys = (hostFlags & JSON_DUPLICATE_KEYS) != 0;
  dbCount = <usize>dbs < MAX_DBS ? <usize>dbs : MAX_DBS;
  db = 0; vt = 0; recAt = NO_RECORD; modulesLeftOut = 0;
  regionReset();
  return !noteKeys || duplicatesInit();
}

export function jsonModulesLeftOut(): u32 {
  return modulesLeftOut;
}

export function jsonDbList(): usize {
  return dbList;
}

export function jsonHostNeeded(): bool {
  return hostNeeded;
}

function dbSelected(): bool {
  if (dbCount == 0) return true;
  for (let i: usize = 0; i < dbCount; i++) if (load<i64>(dbList + (i << 3)) == db) return true;
  return false;
}

function openRecord(): void {
  if (recAt != NO_RECORD) return;
  room(RECORD_HEADER);
  recAt = regEnd;
  store<u64>(at(recAt), 0);
  store<u64>(at(recAt), 0, 8);
  setRegEnd(regEnd + RECORD_HEADER);
}

/** The open record's A (or B) is the string of event ev, or the chunks appended before it. */
function finishPart(ev: usize, isB: bool): void {
  const flags = <u32>load<u16>(ev, 2);
  const start = at(recAt) + RECORD_HEADER + (isB ? <usize>load<u32>(at(recAt)) : 0);
  let n: u32;
  if (flags & F_CHUNKED) n = <u32>(at(regEnd) - start);
  else n = appendEventString(ev);
  store<u32>(at(recAt) + (isB ? 4 : 0), n);
}

function closeRecord(): void {
  recAt = NO_RECORD;
  records++;
}

function startKey(ev: usize): void {
  const rdbType = load<u32>(ev, 12);
  vt = valueType(rdbType);
  const flags = <u32>load<u16>(ev, 2);
  hasExpire = (flags & F_EXPIRE) != 0;
  expireMs = load<i64>(ev, 16);
  // The host gets the expire time as a double (exact for any real date; NaN: none): no BigInt per key.
  // It is asked about module values too, which are noted and counted.
  const kPtr = <usize>load<u32>(ev, 4), kLen = load<u32>(ev, 8);
  const selected = ((1 << vt) & typeMask) != 0 && dbSelected() &&
    (!askHost || hostKeepKey(<i32>db, rdbType, kPtr, kLen, hasExpire ? <f64>expireMs : NaN) != 0);
  if (selected && noteKeys) duplicatesNote(db, kPtr, kLen);
  if (!selected || vt == 0) {
    if (selected) modulesLeftOut++;
    vt = 0;
    return;
  }
  beginKeyRegion();
  records = 0;
  fieldTtls = 0;
  recAt = NO_RECORD;
  if (vt == VT_STRING || vt == VT_LIST) {
    room(jsonBytesBound(<usize>load<u32>(ev, 8)) + 160);
    const d = writeLineHead(at(regEnd), db, <usize>load<u32>(ev, 4), <usize>load<u32>(ev, 8), vt, hasExpire, expireMs);
    setRegEnd(regEnd + (d - at(regEnd)));
    if (vt == VT_LIST) appendByte(0x5b); // [
    chunkAt = NO_RECORD;
    return;
  }
  keyLen = appendEventString(ev);
  if (vt == VT_STREAM) streamBegin(regStart + <usize>keyLen, rdbType);
}

/** Where the raw chunks of a directly written element began, or NO_RECORD. */
let chunkAt: usize = 0;

/** Strings and lists: events go straight into the line. */
function directEvent(ev: usize, kind: u32): void {
  if (kind == E_CHUNK) {
    if (chunkAt == NO_RECORD) {
      if (vt == VT_LIST && records > 0) appendByte(0x2c);
      chunkAt = regEnd;
    }
    appendEventString(ev);
    return;
  }
  if (kind != E_VALUE && kind != E_LIST_ITEM) return;
  if (chunkAt != NO_RECORD) {
    jsonInPlace(chunkAt);
    chunkAt = NO_RECORD;
  } else {
    if (vt == VT_LIST && records > 0) appendByte(0x2c);
    appendEventJson(ev);
  }
  records++;
}

function endDirect(): void {
  if (vt == VT_LIST) {
    if (records == 0) { dropKeyRegion(); return; }
    appendByte(0x5d); // ]
  }
  appendWord(0x0a7d, 2); // }\n
  completeRegion();
}

/** Processes every event in the event buffer. */
export function jsonConsume(): void {
  const n = eventCount;
  hostNeeded = false;
  for (let i: u32 = 0; i < n; i++) {
    const ev = eventsBase + <usize>i * EVENT_SIZE;
    const kind = <u32>load<u16>(ev);
    if (kind == E_KEY) {
      startKey(ev);
      if (vt == 0) hostNeeded = true;
      continue;
    }
    if (vt == 0) {
      if (kind == E_SELECT_DB) db = load<i64>(ev, 16);
      hostNeeded = true;
      continue;
    }
    if (kind == E_KEY_END) {
      if (vt == VT_STREAM) endStream();
      else if (vt == VT_STRING || vt == VT_LIST) endDirect();
      else endKey();
      vt = 0;
      continue;
    }
    if (vt == VT_STREAM) { streamEvent(ev, kind); continue; }
    if (vt == VT_STRING || vt == VT_LIST) { directEvent(ev, kind); continue; }
    switch (kind) {
      case E_CHUNK: {
        openRecord();
        appendEventString(ev);
        break;
      }
      case E_VALUE:
      case E_LIST_ITEM:
      case E_SET_MEMBER: {
        openRecord();
        finishPart(ev, false);
        closeRecord();
        break;
      }
      case E_SCORE_TEXT: {
        pendingScore = hostParseScore(<usize>load<u32>(ev, 4), load<u32>(ev, 8));
        break;
      }
      case E_ZSET_MEMBER: {
        openRecord();
        finishPart(ev, false);
        const flags = <u32>load<u16>(ev, 2);
        store<f64>(at(recAt), flags & F_SCORE_TEXT ? pendingScore : load<f64>(ev, 16), 8);
        closeRecord();
        break;
      }
      case E_HASH_FIELD: {
        openRecord();
        finishPart(ev, false);
        break;
      }
      case E_HASH_VALUE: {
        openRecord();
        finishPart(ev, true);
        const flags = <u32>load<u16>(ev, 2);
        if (flags & F_EXPIRE) {
          store<i64>(at(recAt), load<i64>(ev, 16), 8);
          fieldTtls++;
        }
        closeRecord();
        break;
      }
    }
  }
  if (arenaUsed < regEnd) setArenaUsed(regEnd);
}

function endStream(): void {
  streamFinishGroups();
  room(256);
  const lineAt = regEnd;
  const d = writeLineHead(at(lineAt), db, at(regStart), <usize>keyLen, VT_STREAM, hasExpire, expireMs);
  setRegEnd(lineAt + (d - at(lineAt)));
  streamEnd();
  completeLine(lineAt, regEnd - lineAt);
}

@inline function recA(r: usize): usize { return r + RECORD_HEADER; }
@inline function recALen(r: usize): usize { return <usize>load<u32>(r); }
@inline function recB(r: usize): usize { return r + RECORD_HEADER + <usize>load<u32>(r); }
@inline function recBLen(r: usize): usize { return <usize>load<u32>(r, 4); }

function endKey(): void {
  if (recAt != NO_RECORD) closeRecord(); // a dangling part (corrupt input would have stopped us)
  if (records == 0) {
    // Redis drops empty collections while loading: they have no line.
    dropKeyRegion();
    return;
  }
  // One sort entry per record (records are packed without alignment: wasm allows unaligned access),
  // sorted (sets and hashes by bytes, sorted sets by score then member).
  const dataEnd = regEnd;
  const arr = dataEnd;
  const n = <usize>records;
  setEntryLayout(vt == VT_ZSET);
  const ENTRY = entrySize;
  room(n * ENTRY_MAX * 2 + 64);
  const base = at(regStart);
  let r = regStart + <usize>keyLen;
  for (let i: usize = 0; i < n; i++) {
    const rec = at(r);
    setEntry(at(arr) + i * ENTRY, vt == VT_ZSET ? load<f64>(rec, 8) : 0, recA(rec), recALen(rec), <u32>(r - regStart));
    r += RECORD_HEADER + recALen(rec) + recBLen(rec);
  }
  const sorted = sortEntries(at(arr), n, at(arr) + n * ENTRY, base);
  // The line: at most every data byte escaped six times, plus punctuation per record.
  const lineAt = arr + n * ENTRY * 2;
  setRegEnd(lineAt);
  room(jsonBytesBound(dataEnd - regStart) * 2 + n * 96 + 256);
  const line = writeLine(at(lineAt), sorted, base);
  completeLine(lineAt, line - at(lineAt));
}

function writeLine(d: usize, arr: usize, base: usize): usize {
  d = writeLineHead(d, db, base, <usize>keyLen, vt, hasExpire, expireMs);
  const n = <usize>records;
  {
    store<u8>(d++, 91); // [
    for (let i: usize = 0; i < n; i++) {
      const r = base + <usize>load<u32>(arr + i * entrySize, ENTRY_OFFSET);
      if (i > 0) store<u8>(d++, 44);
      if (vt == VT_SET) {
        d = writeJsonBytes(recA(r), recALen(r), d);
        continue;
      }
      store<u8>(d++, 91);
      d = writeJsonBytes(recA(r), recALen(r), d);
      store<u8>(d++, 44);
      if (vt == VT_ZSET) d = writeScore(load<f64>(r, 8), d);
      else d = writeJsonBytes(recB(r), recBLen(r), d);
      store<u8>(d++, 93);
    }
    store<u8>(d++, 93); // ]
    if (fieldTtls > 0) d = writeFieldExpires(d, arr, base);
  }
  store<u16>(d, 0x0a7d); // }\n
  return d + 2;
}

const FIELD_EXPIRE: usize = memory.data<u8>([44, 34, 102, 105, 101, 108, 100, 95, 101, 120, 112, 105, 114, 101, 95, 109, 115, 34, 58, 91]); // ,"field_expire_ms":[

function writeFieldExpires(d: usize, arr: usize, base: usize): usize {
  let first = true;
  for (let i: usize = 0; i < <usize>records; i++) {
    const r = base + <usize>load<u32>(arr + i * entrySize, ENTRY_OFFSET);
    if (load<i64>(r, 8) == 0) continue;
    if (first) { memory.copy(d, FIELD_EXPIRE, 20); d += 20; first = false; }
    else store<u8>(d++, 44);
    store<u8>(d++, 91);
    d = writeJsonBytes(recA(r), recALen(r), d);
    store<u8>(d++, 44);
    d = writeSigned(load<i64>(r, 8), d);
    store<u8>(d++, 93);
  }
  if (!first) store<u8>(d++, 93);
  return d;
}

/** Completed lines: arenaBase .. arenaBase + jsonOutputLength(). */
export function jsonOutputLength(): usize {
  return outputLength();
}

/** The host wrote the completed lines out: keep only the current key's bytes, moved to the front. */
export function jsonFlushed(): void {
  const shift = flushRegion();
  if (recAt != NO_RECORD) recAt -= shift;
  if (chunkAt != NO_RECORD) chunkAt -= shift;
  streamShift(shift);
}
