// The canonical JSON lines writer (FORMAT.md) inside the module: it reads the event buffer the parser
// just filled and appends one line per key to the arena, so `parse --format jsonl` never builds JS
// objects. Strings, lists, sets, sorted sets and hashes are written here; other types (streams, modules)
// are left to the host, which reads the same events.
//
// Arena (offsets from arenaBase): [completed lines 0..outEnd) [current key: key bytes, records ...]
// A record: u32 aLen, u32 bLen, num (score f64 or field TTL i64) @8, u32 flags @16, A @32, then B.
// At the key's end the records are sorted (sets, hashes by field; zsets by score then member), the
// line is written after them and moved down to outEnd.
import {
  EVENT_SIZE, E_SELECT_DB, E_KEY, E_KEY_END, E_VALUE, E_LIST_ITEM, E_SET_MEMBER, E_ZSET_MEMBER, E_SCORE_TEXT,
  E_HASH_FIELD, E_HASH_VALUE, E_CHUNK, F_CHUNKED, F_INTEGER, F_EXPIRE, F_SCORE_TEXT,
} from "../../src/core/abi";
import { eventsBase, arenaBase, arenaUsed, arenaEnsure, setArenaUsed } from "../memory";
import { eventCount } from "../events";
import { writeJsonBytes, jsonBytesBound } from "./text";
import { writeSigned, writeScore } from "./numbers";
import { sortEntries, setEntry, ENTRY } from "./sort";

@external("host", "keepKey")
declare function hostKeepKey(db: i32, rdbType: u32, key: usize, len: u32): i32;

@external("host", "parseScore")
declare function hostParseScore(text: usize, len: u32): f64;

// Value types the writer handles (0: left to the host).
const VT_STRING: u32 = 1;
const VT_LIST: u32 = 2;
const VT_SET: u32 = 3;
const VT_ZSET: u32 = 4;
const VT_HASH: u32 = 5;

function valueType(rdbType: u32): u32 {
  if (rdbType == 0) return VT_STRING;
  if (rdbType == 1 || rdbType == 10 || rdbType == 14 || rdbType == 18) return VT_LIST;
  if (rdbType == 2 || rdbType == 11 || rdbType == 20) return VT_SET;
  if (rdbType == 3 || rdbType == 5 || rdbType == 12 || rdbType == 17) return VT_ZSET;
  if (rdbType == 4 || rdbType == 9 || rdbType == 13 || rdbType == 16 || (rdbType >= 22 && rdbType <= 25) ||
      rdbType == 256 + 22) return VT_HASH;
  return 0;
}

// Configuration (jsonInit): which keys to write.
let typeMask: u32 = 0xffffffff; // bit per VT_*
let askHost: bool = false; // call hostKeepKey for every key
const MAX_DBS: usize = 64;
const dbList: usize = memory.data(<i32>(MAX_DBS * 8), 8);
let dbCount: usize = 0; // 0: every db

// State.
let db: i64 = 0;
let vt: u32 = 0; // VT_* of the current key, 0 when none or skipped
let outEnd: usize = 0;
let regStart: usize = 0; // where the current key's bytes begin (= outEnd when it began)
let regEnd: usize = 0;
let keyLen: u32 = 0;
let expireMs: i64 = 0;
let hasExpire: bool = false;
let records: u32 = 0;
let recAt: usize = 0; // open record (offset), or usize.MAX_VALUE
let inB: bool = false; // chunks of the open record belong to B (a hash value)
let pendingScore: f64 = 0;

const NO_RECORD: usize = usize.MAX_VALUE;

export function jsonInit(types: u32, hostFilter: bool, dbs: u32): void {
  typeMask = types;
  askHost = hostFilter;
  dbCount = <usize>dbs < MAX_DBS ? <usize>dbs : MAX_DBS;
  db = 0; vt = 0; outEnd = 0; regStart = 0; regEnd = 0; recAt = NO_RECORD;
  setArenaUsed(0);
}

export function jsonDbList(): usize {
  return dbList;
}

/** Offset → address; valid until scratch next grows (the parser is not running while we write). */
@inline function at(off: usize): usize {
  return arenaBase + off;
}

/** Makes room for n bytes after regEnd. */
function room(n: usize): void {
  const end = regEnd + n;
  if (end > arenaUsed) {
    arenaEnsure(end - arenaUsed);
    setArenaUsed(end);
  }
}

function dbSelected(): bool {
  if (dbCount == 0) return true;
  for (let i: usize = 0; i < dbCount; i++) if (load<i64>(dbList + (i << 3)) == db) return true;
  return false;
}

/** Appends an event's string (bytes, or the decimal text of a lazy integer) at regEnd. */
function appendString(ev: usize): u32 {
  const flags = <u32>load<u16>(ev, 2);
  if (flags & F_INTEGER) {
    room(24);
    const end = writeSigned(load<i64>(ev, 16), at(regEnd));
    const n = <u32>(end - at(regEnd));
    regEnd += n;
    return n;
  }
  const n = load<u32>(ev, 8);
  room(n);
  memory.copy(at(regEnd), <usize>load<u32>(ev, 4), n);
  regEnd += n;
  return n;
}

function openRecord(): void {
  if (recAt != NO_RECORD) return;
  room(32);
  recAt = regEnd;
  store<u64>(at(recAt), 0);
  store<u64>(at(recAt), 0, 8);
  store<u32>(at(recAt), 0, 16);
  regEnd += 32;
  inB = false;
}

/** The open record's A (or B) is the string of event ev, or the chunks appended before it. */
function finishPart(ev: usize, isB: bool): void {
  const flags = <u32>load<u16>(ev, 2);
  const start = isB ? at(recAt) + 32 + <usize>load<u32>(at(recAt)) : at(recAt) + 32;
  let n: u32;
  if (flags & F_CHUNKED) n = <u32>(at(regEnd) - start);
  else n = appendString(ev);
  store<u32>(at(recAt) + (isB ? 4 : 0), n);
}

function closeRecord(): void {
  recAt = NO_RECORD;
  inB = false;
  records++;
}

function startKey(ev: usize): void {
  const rdbType = load<u32>(ev, 12);
  vt = valueType(rdbType);
  if (vt == 0 || ((1 << vt) & typeMask) == 0 || !dbSelected() ||
      (askHost && hostKeepKey(<i32>db, rdbType, <usize>load<u32>(ev, 4), load<u32>(ev, 8)) == 0)) {
    vt = 0;
    return;
  }
  const flags = <u32>load<u16>(ev, 2);
  hasExpire = (flags & F_EXPIRE) != 0;
  expireMs = load<i64>(ev, 16);
  regStart = outEnd;
  regEnd = outEnd;
  keyLen = appendString(ev);
  records = 0;
  recAt = NO_RECORD;
}

/** Whether the last batch had events the writer did not consume (other types, metadata, dbs). */
let hostNeeded: bool = true;

export function jsonHostNeeded(): bool {
  return hostNeeded;
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
    switch (kind) {
      case E_CHUNK: {
        openRecord();
        const len = load<u32>(ev, 8);
        room(len);
        memory.copy(at(regEnd), <usize>load<u32>(ev, 4), len);
        regEnd += len;
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
        inB = true;
        break;
      }
      case E_HASH_VALUE: {
        openRecord();
        finishPart(ev, true);
        const flags = <u32>load<u16>(ev, 2);
        if (flags & F_EXPIRE) {
          store<i64>(at(recAt), load<i64>(ev, 16), 8);
          store<u32>(at(recAt), 1, 16);
        }
        closeRecord();
        break;
      }
      case E_KEY_END: {
        endKey();
        vt = 0;
        break;
      }
    }
  }
  if (arenaUsed < regEnd) setArenaUsed(regEnd);
}

// Constant pieces of a line, stored as little-endian words: each store may write past the piece; the
// next write covers it (the line's room has slack).
const TYPE_NAMES: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, // unused
  115, 116, 114, 105, 110, 103, 0, 0, // string
  108, 105, 115, 116, 0, 0, 0, 0, // list
  115, 101, 116, 0, 0, 0, 0, 0, // set
  122, 115, 101, 116, 0, 0, 0, 0, // zset
  104, 97, 115, 104, 0, 0, 0, 0, // hash
]);
const TYPE_LENS: usize = memory.data<u8>([0, 6, 4, 3, 4, 4]);

const FIELD_EXPIRE: usize = memory.data<u8>([44, 34, 102, 105, 101, 108, 100, 95, 101, 120, 112, 105, 114, 101, 95, 109, 115, 34, 58, 91]); // ,"field_expire_ms":[

@inline function put(d: usize, piece: usize, n: usize): usize {
  memory.copy(d, piece, n);
  return d + n;
}

/** Writes up to 8 bytes given as a little-endian word; returns d + n. */
@inline function word(d: usize, w: u64, n: usize): usize {
  store<u64>(d, w);
  return d + n;
}

@inline function recA(r: usize): usize { return r + 32; }
@inline function recALen(r: usize): usize { return <usize>load<u32>(r); }
@inline function recB(r: usize): usize { return r + 32 + <usize>load<u32>(r); }
@inline function recBLen(r: usize): usize { return <usize>load<u32>(r, 4); }

function endKey(): void {
  if (recAt != NO_RECORD) closeRecord(); // a dangling part (corrupt input would have stopped us)
  if (vt != VT_STRING && records == 0) {
    // Redis drops empty collections while loading: they have no line.
    regEnd = outEnd;
    return;
  }
  // One sort entry per record (records are packed without alignment: wasm allows unaligned access),
  // sorted for sets, hashes and sorted sets; lists and strings keep file order.
  const dataEnd = regEnd;
  const arr = dataEnd;
  const n = <usize>records;
  room(n * ENTRY * 2 + 64);
  const base = at(regStart);
  let r = regStart + <usize>keyLen;
  for (let i: usize = 0; i < n; i++) {
    const rec = at(r);
    setEntry(at(arr) + i * ENTRY, vt == VT_ZSET ? load<f64>(rec, 8) : 0, recA(rec), recALen(rec), <u32>(r - regStart));
    r += 32 + recALen(rec) + recBLen(rec);
  }
  let sorted = at(arr);
  if (vt == VT_SET || vt == VT_HASH || vt == VT_ZSET) sorted = sortEntries(at(arr), n, at(arr) + n * ENTRY, base, vt == VT_ZSET);
  // The line: at most every data byte escaped six times, plus punctuation per record.
  const lineAt = arr + n * ENTRY * 2;
  regEnd = lineAt;
  room(jsonBytesBound(dataEnd - regStart) * 2 + n * 96 + 256);
  const line = writeLine(at(lineAt), sorted, base);
  const len = line - at(lineAt);
  memory.copy(at(outEnd), at(lineAt), len);
  outEnd += len;
  regEnd = outEnd;
}

function writeLine(d: usize, arr: usize, base: usize): usize {
  d = word(d, 0x3a226264227b, 6); // {"db":
  d = writeSigned(db, d);
  d = word(d, 0x3a2279656b222c, 7); // ,"key":
  d = writeJsonBytes(base, <usize>keyLen, d);
  d = word(d, 0x3a2265707974222c, 8); // ,"type":
  d = word(d, 0x22, 1); // "
  d = word(d, load<u64>(TYPE_NAMES + (<usize>vt << 3)), <usize>load<u8>(TYPE_LENS + vt));
  d = word(d, 0x7269707865222c22, 8); // ","expir
  d = word(d, 0x3a22736d5f65, 6); // e_ms":
  if (hasExpire) d = writeSigned(expireMs, d);
  else d = word(d, 0x6c6c756e, 4);
  d = word(d, 0x2265756c6176222c, 8); // ,"value"
  d = word(d, 0x3a, 1); // :
  const n = <usize>records;
  if (vt == VT_STRING) {
    const r = base + <usize>load<u32>(arr, 24);
    d = writeJsonBytes(recA(r), recALen(r), d);
  } else {
    store<u8>(d++, 91); // [
    for (let i: usize = 0; i < n; i++) {
      const r = base + <usize>load<u32>(arr + i * ENTRY, 24);
      if (i > 0) store<u8>(d++, 44);
      if (vt == VT_LIST || vt == VT_SET) {
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
    if (vt == VT_HASH) d = writeFieldExpires(d, arr, base);
  }
  store<u16>(d, 0x0a7d); // }\n
  return d + 2;
}

function writeFieldExpires(d: usize, arr: usize, base: usize): usize {
  let first = true;
  for (let i: usize = 0; i < <usize>records; i++) {
    const r = base + <usize>load<u32>(arr + i * ENTRY, 24);
    if (load<u32>(r, 16) == 0) continue;
    if (first) { d = put(d, FIELD_EXPIRE, 20); first = false; }
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
  return outEnd;
}

/** The host wrote the completed lines out: keep only the current key's bytes, moved to the front. */
export function jsonFlushed(): void {
  const keep = regEnd - outEnd;
  if (keep > 0) memory.copy(at(0), at(outEnd), keep);
  const shift = outEnd;
  regStart -= shift;
  regEnd -= shift;
  if (recAt != NO_RECORD) recAt -= shift;
  outEnd = 0;
}
