// RESTORE commands written inside the module, for copying a snapshot into another server whose RDB version
// loads the snapshot's values as they are. With value spans on, each key becomes
//   RESTORE <key> <expire ms or 0> <type byte + the value's bytes as stored + RDB version + CRC64> REPLACE ABSTTL
// (the payload DUMP would give), plus IDLETIME <s> or FREQ <n> where the file keeps the key's LRU or LFU
// data (as a replica loading the file keeps it), preceded by SELECT when the target db changes, in the output region;
// the host sends those bytes to the target as they are, so no JS object is made per key.
//
// A value's bytes are taken from the input buffer: those of a key that ends in this batch are still there;
// those of a value still open are appended before the input buffer drops them (restoreBeforeCompact).
import {
  EVENT_SIZE, E_SELECT_DB, E_KEY, E_VALUE_SPAN, E_KEY_END, E_FUNCTION, FN_LIBRARY, FN_PRE_GA_CODE, F_EXPIRE,
  F_IDLE, F_FREQ, ERR_TOO_LARGE, ERR_INTERNAL,
} from "../../src/core/abi";
import { eventsBase, inputBase, scratchLimit } from "../memory";
import { eventCount } from "../events";
import { base, pos, offsetOf } from "../rdb/reader";
import { version } from "../rdb/parser";
import { crcUpdate } from "../rdb/crc64";
import { T_STRING, T_MODULE_2, isStreamType } from "../rdb/types";
import { fail } from "../status";
import { writeSigned } from "../decimal";
import {
  at, room, regEnd, setRegEnd, beginKeyRegion, dropKeyRegion, completeRegion, regionReset, flushRegion,
  outputLength, appendEventString, appendByte, appendWord,
} from "../output-region";

/**
 * Asked for every key when the host routes keys (db map, filters), and for module values (which only the
 * module could rebuild): the target db to restore the key into, or -1 to leave it out.
 */
@external("host", "routeKey")
declare function hostRouteKey(db: i32, rdbType: u32, key: usize, len: u32, expireMs: f64): i32;

let askHost: bool = false;
/** Whether the target has functions: each library of the snapshot becomes FUNCTION LOAD REPLACE <code>. */
let loadFunctions: bool = false;
let sourceDb: i64 = 0;
/** The db the target connection is in; -1 until the first SELECT. */
let targetDb: i64 = -1;
/** A key whose command is being written, the db it goes to, and whether a SELECT precedes it. */
let open: bool = false;
let keyDb: i64 = 0;
let keySelects: bool = false;
let keyType: u32 = 0;
/** The key's F_IDLE or F_FREQ flag (0: neither), and the idle seconds or LFU counter that goes with it. */
let keyEviction: u32 = 0;
let keyEvictionValue: i64 = 0;
/** Where the value's bytes not yet appended start (absolute stream offset). */
let valueFrom: i64 = 0;
/** Where the payload (type byte first) starts in the region; PAYLOAD_HEADER bytes before it are reserved. */
let payloadAt: usize = 0;
/** Completed commands (SELECTs included) and keys in the output since the host last took it. */
let commands: u32 = 0;
let keys: u32 = 0;
/** Function libraries not written (a target without functions; the pre-7.0 GA format). */
let librariesLeftOut: u32 = 0;

/** Room for `$<payload length>\r\n` before a payload: 10 digits cover any length a u32 can hold. */
const PAYLOAD_HEADER: usize = 13;

export function restoreInit(hostRoutes: bool, functions: bool): void {
  askHost = hostRoutes;
  loadFunctions = functions;
  sourceDb = 0; targetDb = -1; open = false; commands = 0; keys = 0; librariesLeftOut = 0;
  regionReset();
}

export function restoreOutputLength(): usize {
  return outputLength();
}

export function restoreCommands(): u32 {
  return commands;
}

export function restoreKeys(): u32 {
  return keys;
}

export function restoreLibrariesLeftOut(): u32 {
  return librariesLeftOut;
}

/** The db the completed commands leave the target connection in (-1: none selected yet). */
export function restoreTargetDb(): i32 {
  return <i32>targetDb;
}

/** The host sent the completed commands: the open key's bytes move to the front. */
export function restoreFlushed(): void {
  payloadAt -= flushRegion();
  commands = 0;
  keys = 0;
  librariesLeftOut = 0;
}

/** Reads every event in the event buffer; 0 when a value cannot be copied (the error is recorded). */
export function restoreConsume(): i32 {
  const n = eventCount;
  for (let i: u32 = 0; i < n; i++) {
    const ev = eventsBase + <usize>i * EVENT_SIZE;
    const kind = <u32>load<u16>(ev);
    if (kind == E_SELECT_DB) sourceDb = load<i64>(ev, 16);
    else if (kind == E_KEY) startKey(ev);
    else if (kind == E_FUNCTION) functionLibrary(ev);
    else if (kind == E_VALUE_SPAN) { if (open) valueFrom = load<i64>(ev, 16); }
    else if (kind == E_KEY_END && open) {
      open = false;
      if (!appendValue(load<i64>(ev, 24))) return 0;
      // RESTORE refuses an empty collection (a string or a stream may be empty)
      if (load<i64>(ev, 16) == 0 && keyType != T_STRING && !isStreamType(keyType)) dropKeyRegion();
      else finishCommand();
    }
  }
  return 1;
}

/**
 * The input buffer is about to drop the bytes before pos: the open value's are appended first (a feed
 * that filled a big string has no events, so this cannot wait for the next batch).
 */
export function restoreBeforeCompact(): bool {
  return !open || appendValue(offsetOf(pos));
}

/** A library (they come before any key): FUNCTION LOAD REPLACE <its code>, when the target has functions. */
function functionLibrary(ev: usize): void {
  const part = load<u32>(ev, 12);
  if (part != FN_LIBRARY && part != FN_PRE_GA_CODE) return;
  // A release candidate's library is parts without the "#!lua name=" header FUNCTION LOAD needs.
  if (!loadFunctions || part != FN_LIBRARY) {
    librariesLeftOut++;
    return;
  }
  beginKeyRegion();
  writeText("*4\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n$7\r\nREPLACE\r\n");
  writeBulkHeader(<usize>load<u32>(ev, 8));
  appendEventString(ev);
  appendWord(0x0a0d, 2);
  completeRegion();
  commands++;
}

function startKey(ev: usize): void {
  const rdbType = load<u32>(ev, 12);
  const hasExpire = (<u32>load<u16>(ev, 2) & F_EXPIRE) != 0;
  const expireMs = hasExpire ? load<i64>(ev, 16) : 0;
  let db = sourceDb;
  if (askHost || rdbType == T_MODULE_2) {
    db = <i64>hostRouteKey(<i32>sourceDb, rdbType, <usize>load<u32>(ev, 4), load<u32>(ev, 8), hasExpire ? <f64>expireMs : NaN);
    if (db < 0) return;
  }
  // SELECT goes with the key's command: a key left out at its end (empty) takes it along.
  beginKeyRegion();
  keyDb = db;
  keySelects = db != targetDb;
  if (keySelects) {
    writeText("*2\r\n$6\r\nSELECT\r\n");
    writeDecimalBulk(db);
  }
  keyEviction = <u32>load<u16>(ev, 2) & (F_IDLE | F_FREQ);
  keyEvictionValue = load<i64>(ev, 24);
  writeText(keyEviction ? "*8\r\n$7\r\nRESTORE\r\n" : "*6\r\n$7\r\nRESTORE\r\n");
  writeBulkHeader(<usize>load<u32>(ev, 8));
  appendEventString(ev);
  appendWord(0x0a0d, 2);
  writeDecimalBulk(expireMs);
  room(PAYLOAD_HEADER);
  setRegEnd(regEnd + PAYLOAD_HEADER);
  payloadAt = regEnd;
  appendByte(rdbType & 0xff); // Valkey's own codes are reported + 256
  keyType = rdbType;
  valueFrom = -1;
  open = true;
}

/** Appends the value's bytes from valueFrom up to `end`, which the input buffer holds from `base` on. */
function appendValue(end: i64): bool {
  if (valueFrom < 0) return true;
  if (valueFrom < base) {
    fail(ERR_INTERNAL, 2, valueFrom); // bytes of the value were dropped before they were copied
    return false;
  }
  const n = end - valueFrom;
  if (n <= 0) return true;
  if (<u64>(regEnd - payloadAt) + <u64>n > <u64>scratchLimit) {
    fail(ERR_TOO_LARGE, <i64>(regEnd - payloadAt) + n, valueFrom);
    return false;
  }
  room(<usize>n);
  memory.copy(at(regEnd), inputBase + <usize>(valueFrom - base), <usize>n);
  setRegEnd(regEnd + <usize>n);
  valueFrom = end;
  return true;
}

/** Footer (RDB version, CRC64), the payload's length header moved up against it, then the flags. */
function finishCommand(): void {
  appendWord(<u64>version & 0xffff, 2);
  const crc = crcUpdate(0, at(payloadAt), regEnd - payloadAt);
  appendWord(crc, 8);
  const length = regEnd - payloadAt;
  const header = at(payloadAt - PAYLOAD_HEADER);
  const headerLen = bulkHeaderAt(header, <i64>length) - header;
  memory.copy(header + headerLen, at(payloadAt), length);
  setRegEnd(payloadAt - PAYLOAD_HEADER + headerLen + length);
  writeText("\r\n$7\r\nREPLACE\r\n$6\r\nABSTTL\r\n");
  if (keyEviction == F_IDLE) writeText("$8\r\nIDLETIME\r\n");
  else if (keyEviction == F_FREQ) writeText("$4\r\nFREQ\r\n");
  if (keyEviction) writeDecimalBulk(keyEvictionValue);
  completeRegion();
  commands += keySelects ? 2 : 1;
  keys++;
  targetDb = keyDb;
}

/** Writes `$<n>\r\n` at d; returns the address after it. */
function bulkHeaderAt(d: usize, n: i64): usize {
  store<u8>(d, 0x24);
  const e = writeSigned(n, d + 1);
  store<u16>(e, 0x0a0d);
  return e + 2;
}

function writeBulkHeader(n: usize): void {
  room(24);
  setRegEnd(regEnd + (bulkHeaderAt(at(regEnd), <i64>n) - at(regEnd)));
}

/** `$<len>\r\n<decimal>\r\n`: the digits are written first, 8 bytes on, then moved behind their header. */
function writeDecimalBulk(v: i64): void {
  room(48);
  const d = at(regEnd);
  const digits = writeSigned(v, d + 8) - (d + 8);
  const e = bulkHeaderAt(d, <i64>digits);
  memory.copy(e, d + 8, digits);
  store<u16>(e + digits, 0x0a0d);
  setRegEnd(regEnd + (e + digits + 2 - d));
}

/** ASCII text known at compile time. */
function writeText(s: string): void {
  const n = <usize>s.length;
  room(n);
  const d = at(regEnd);
  for (let i: usize = 0; i < n; i++) store<u8>(d + i, <u8>s.charCodeAt(<i32>i));
  setRegEnd(regEnd + n);
}
