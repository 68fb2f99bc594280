// Exports of the RDB core module (build/rdb.wasm). The protocol, from the TypeScript side:
//   init(...) once; then for each chunk: n = inputSpace(); copy up to n bytes to inputPtr(); feed(n);
//   while the status is ST_EVENTS_FULL: read eventCount() records at eventsPtr(), then resume();
//   after ST_NEED_MORE read the events too; at end of input call finish().
// Events point into linear memory and stay valid only until the next call into the module.
import { ST_NEED_MORE, ST_EVENTS_FULL, ST_DONE, ST_ERROR, ERR_TRUNCATED, ERR_INTERNAL, OPT_VERIFY_CHECKSUM, OPT_BLOB_EVENTS, OPT_VALUE_SPANS, JSON_DUPLICATE_KEYS, DUPLICATES_STAGE } from "../../src/core/abi";
import { layout, inputCap, eventsBase, scratchReclaim } from "../memory";
import { eventCount, resetEvents } from "../events";
import { readerReset, compact, appended, pos, lim, offsetOf, crc } from "./reader";
import { crcInit, crcUpdate, crcShift } from "./crc64";
import { parserInit, run, finished, version, flavor, trailerChecksum, trailerCovers } from "./parser";
import { walkActive } from "./containers";
import { setBlobEvents, setValueSpans } from "./emitters";
import { R_NEED, R_FULL, R_DONE, errCode, errDetail, errOffset, clearError, fail } from "../status";
import { arenaInit, arenaBase, logInit, logEnsure, logBase, logUsed, setLogLimit } from "../memory";
import { duplicatesInit, duplicatesNote } from "../duplicate-keys";
import { jsonInit } from "../json/writer";
import { restoreInit, restoreBeforeCompact } from "../restore/commands";

// The canonical JSON writer (assembly/json/writer.ts) shares this instance: its exports are re-exported.
export { jsonConsume, jsonOutputLength, jsonFlushed, jsonDbList, jsonHostNeeded, jsonModulesLeftOut } from "../json/writer";
// Its duplicate-key check (assembly/duplicate-keys.ts), read once at the end.
export { duplicatesCheck, duplicatesDb, duplicatesRepeats, duplicatesCap, duplicatesIncomplete, duplicatesNoted } from "../duplicate-keys";

/**
 * The duplicate-key check alone, for a host that has the keys' bytes itself (an instance of its own, after
 * init): each key's n bytes are written at duplicatesSpace(n), then noted by duplicatesAdd(db, that
 * address, n), which returns duplicatesSpace(DUPLICATES_STAGE): where the next key may go if no longer.
 */
export function duplicatesEnable(): i32 {
  return arenaInit() && logInit() && duplicatesInit() ? 1 : 0;
}

/** Where the host may write a key of n bytes for duplicatesAdd: above the key log, which grows first. */
export function duplicatesSpace(n: u32): usize {
  return logEnsure(32 + <usize>n + 16) ? logBase + logUsed + 32 : 0;
}

/** For tests: the key log's bytes at most (0: no limit), to make the check run out of memory. */
export function duplicatesLogLimit(n: u32): void {
  setLogLimit(<usize>n);
}

export function duplicatesAdd(db: f64, p: usize, n: u32): usize {
  duplicatesNote(<i64>db, p, n);
  return duplicatesSpace(DUPLICATES_STAGE);
}

/**
 * Turns on the in-module canonical JSON writer (call after init): types is a bit mask of value types
 * (0 module values, only counted, 1 string, 2 list, 3 set, 4 zset, 5 hash, 6 stream), hostFlags
 * JSON_HOST_FILTER (ask host.keepKey about every key) and JSON_DUPLICATE_KEYS (note every selected key
 * for duplicatesCheck), dbs is the number of db numbers written at jsonDbList() (0: all).
 */
export function jsonEnable(types: u32, hostFlags: u32, dbs: u32): i32 {
  if (!arenaInit()) return 0;
  if ((hostFlags & JSON_DUPLICATE_KEYS) != 0 && !logInit()) return 0;
  return jsonInit(types, hostFlags, dbs) ? 1 : 0;
}

export function jsonOutputPtr(): usize {
  return arenaBase;
}

// The RESTORE commands writer (assembly/restore/commands.ts) shares this instance too.
export { restoreConsume, restoreOutputLength, restoreCommands, restoreKeys, restoreLibrariesLeftOut, restoreTargetDb, restoreFlushed } from "../restore/commands";

/**
 * Turns on the in-module RESTORE commands writer (call after init; it turns value spans on): hostRoutes
 * asks host.routeKey about every key (else only about module values, which it leaves out); functions
 * writes FUNCTION LOAD REPLACE for each function library (else they are only counted).
 */
export function restoreEnable(hostRoutes: i32, functions: i32): i32 {
  if (!arenaInit()) return 0;
  setValueSpans(true);
  restoreInit(hostRoutes != 0, functions != 0);
  restoring = true;
  return 1;
}

let restoring = false;

export function restoreOutputPtr(): usize {
  return arenaBase;
}

let status: i32 = ST_NEED_MORE;

/**
 * Lays out memory and resets the parser. inCap: input buffer bytes (≥ 4 KiB); evCap: event records;
 * scratchMax: the most scratch memory a single string or container may take; crcPrefix: without
 * OPT_VERIFY_CHECKSUM, still checksum the first crcPrefix bytes (another thread does the rest; -1: none).
 * Small input buffers are for tests: they push more strings through the big-string paths.
 */
export function init(inCap: u32, evCap: u32, scratchMax: u32, mode: i32, options: u32, dumpVersion: u32, dumpFlavor: u32, crcPrefix: f64): i32 {
  if (inCap < 4096 || evCap < 64) return 0;
  if (!layout(inCap, evCap, <usize>scratchMax)) return 0;
  crcInit();
  const verify = (options & OPT_VERIFY_CHECKSUM) != 0;
  readerReset(verify || crcPrefix > 0, verify ? -1 : <i64>crcPrefix);
  resetEvents();
  clearError();
  parserInit(mode, verify, dumpVersion, dumpFlavor);
  setBlobEvents((options & OPT_BLOB_EVENTS) != 0);
  setValueSpans((options & OPT_VALUE_SPANS) != 0);
  restoring = false;
  status = ST_NEED_MORE;
  return 1;
}

/** Moves unconsumed input to the front and returns how many bytes may be written at inputPtr(). */
export function inputSpace(): u32 {
  if (status != ST_NEED_MORE || walkActive) return 0;
  if (restoring && !restoreBeforeCompact()) {
    status = ST_ERROR;
    return 0;
  }
  return compact(inputCap);
}

export function inputPtr(): usize {
  return lim;
}

function step(): i32 {
  resetEvents();
  scratchReclaim();
  const r = run();
  if (r == R_NEED) {
    status = ST_NEED_MORE;
    if (lim - pos >= <usize>inputCap) {
      // A step that cannot fit the input buffer would wait forever; strings.ts keeps steps smaller.
      fail(ERR_INTERNAL, 1, offsetOf(pos));
      status = ST_ERROR;
    }
  } else if (r == R_FULL) status = ST_EVENTS_FULL;
  else if (r == R_DONE) status = ST_DONE;
  else status = ST_ERROR;
  return status;
}

/** n new bytes were written at inputPtr(): parse as far as possible. */
export function feed(n: u32): i32 {
  resetEvents();
  if (status != ST_NEED_MORE) return status;
  appended(n);
  return step();
}

/** Continue after the caller drained a full event buffer. */
export function resume(): i32 {
  resetEvents();
  if (status != ST_EVENTS_FULL) return status;
  return step();
}

/** The input ended: ST_DONE if the RDB was complete, else a truncation error at the end offset. */
export function finish(): i32 {
  resetEvents();
  if (status == ST_NEED_MORE && !finished()) {
    fail(ERR_TRUNCATED, 0, offsetOf(lim));
    status = ST_ERROR;
  }
  return status;
}

export function eventsPtr(): usize { return eventsBase; }
export function eventsCount(): u32 { return eventCount; }
export function errorCode(): i32 { return errCode; }
export function errorDetail(): f64 { return <f64>errDetail; }
export function errorOffset(): f64 { return <f64>errOffset; }
/** Absolute offset of the first byte not consumed (after ST_DONE: where the RDB ended). */
export function consumed(): f64 { return <f64>offsetOf(pos); }
export function rdbVersion(): u32 { return version; }
export function rdbFlavor(): u32 { return flavor; }

// Verifying the checksum on another thread: the parser, told not to verify, reports the stored checksum,
// its extent and the CRC of the prefix it computed (init's crcPrefix); a second instance computes the CRC64
// of the rest of the file's bytes, put in its input buffer; crc64Join joins the two.
export function trailerStored(): u64 { return trailerChecksum; }
export function trailerLength(): f64 { return <f64>trailerCovers; }
export function prefixCrc(): u64 { return crc; }
/** CRC-64/Jones of n bytes at ptr, continuing from crc. */
export function crc64(crc: u64, ptr: usize, n: u32): u64 { return crcUpdate(crc, ptr, n); }
/** The CRC of A followed by B, from crc(A), crc(B) and B's length. */
export function crc64Join(crcA: u64, crcB: u64, lengthB: f64): u64 { return crcShift(crcA, <u64>lengthB) ^ crcB; }
