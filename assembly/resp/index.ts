// Exports of the RESP core module (build/resp.wasm). The protocol, from the TypeScript side, is the RDB
// core's: init(...) once; per chunk: n = inputSpace(); copy up to n bytes to inputPtr(); feed(n); while
// the status is ST_EVENTS_FULL read eventsCount() records at eventsPtr(), then resume(). Events point
// into linear memory and stay valid only until the next call into the module.
import { ST_NEED_MORE, ST_EVENTS_FULL, ST_ERROR, ERR_INTERNAL } from "../../src/core/abi";
import { RESP_MODE_REPLY, RESP_MODE_REPLICATION, RERR_BAD_MODE } from "../../src/core/resp-abi";
import { layout, inputCap, eventsBase, scratchReserve, scratchPtr, scratchCommit, SCRATCH_OK } from "../memory";
import { eventCount, resetEvents } from "../events";
import { R_CONT, R_NEED, R_FULL, errCode, errDetail, errOffset, clearError, fail } from "../status";
import { inputReset, compactInput, appendInput, pos, lim, offsetOf } from "./input";
import { setMaxLine } from "./lines";
import { valuesInit, valueStep, setOnlyBulks, atValueBoundary, MAX_DEPTH_CAP } from "./values";
import { replicationReset, replicationStep } from "./replication";
import { wholeCommandsInit, resetArgumentTable } from "./whole-commands";
import { namesReset } from "./command-names";

let mode: i32 = RESP_MODE_REPLY;
let status: i32 = ST_NEED_MORE;

/**
 * Lays out memory and resets the reader. inCap: input buffer bytes (≥ 4 KiB); evCap: event records
 * (≥ 64); limits: the longest bulk string, the most elements one aggregate may declare, the deepest
 * nesting (at most 1024, and evCap - 8).
 */
export function init(inCap: u32, evCap: u32, m: i32, maxBulk: f64, maxElements: f64, maxDepth: u32): i32 {
  if (inCap < 4096 || evCap < 64 || maxDepth < 1) return 0;
  // The argument table of whole commands lives where the RDB core keeps scratch (this core needs none).
  const tablePairs = evCap * 4;
  const tableBytes = <usize>tablePairs * 8;
  if (!layout(inCap, evCap, tableBytes) || scratchReserve(tableBytes, false) != SCRATCH_OK) return 0;
  const table = scratchPtr();
  scratchCommit(tableBytes);
  inputReset();
  resetEvents();
  clearError();
  const half: u32 = inCap / 2;
  setMaxLine(<usize>(half < 65536 ? half : <u32>65536));
  let depth = maxDepth < MAX_DEPTH_CAP ? maxDepth : MAX_DEPTH_CAP;
  if (depth > evCap - 8) depth = evCap - 8;
  valuesInit(<i64>maxBulk, <i64>maxElements, depth, <i64>(inCap / 2));
  const wholeBulk = <i64>maxBulk < <i64>half ? <i64>maxBulk : <i64>half;
  wholeCommandsInit(table, tablePairs, wholeBulk, <i64>maxElements, <usize>half);
  namesReset();
  startMode(m);
  status = ST_NEED_MORE;
  return 1;
}

function startMode(m: i32): void {
  mode = m;
  replicationReset();
  setOnlyBulks(false);
}

/**
 * Switches between reading replies and reading a replication stream (sent PSYNC); only between
 * replies. Returns 0 (and records RERR_BAD_MODE) when a reply is partly read or bytes are unread.
 */
export function setMode(m: i32): i32 {
  if (m != RESP_MODE_REPLY && m != RESP_MODE_REPLICATION) return 0;
  if (status == ST_ERROR) return 0;
  if (!atValueBoundary() || pos != lim || (mode == RESP_MODE_REPLICATION && m == RESP_MODE_REPLICATION)) {
    fail(RERR_BAD_MODE, <i64>m, offsetOf(pos));
    status = ST_ERROR;
    return 0;
  }
  startMode(m);
  return 1;
}

export function inputSpace(): u32 {
  if (status != ST_NEED_MORE) return 0;
  return compactInput(inputCap);
}

export function inputPtr(): usize {
  return lim;
}

function run(): i32 {
  for (;;) {
    const r = mode == RESP_MODE_REPLY ? valueStep() : replicationStep();
    if (r == R_CONT) continue;
    if (r == R_NEED) {
      // Steps never wait for more than the buffer holds (lines and whole bulks are limited to half of it).
      if (lim - pos >= <usize>inputCap) fail(ERR_INTERNAL, 1, offsetOf(pos));
      else return (status = ST_NEED_MORE);
    }
    return (status = r == R_FULL ? ST_EVENTS_FULL : ST_ERROR);
  }
}

/** Every call starts with the host having drained the last batch: its events and argument table. */
function startCall(): void {
  resetEvents();
  resetArgumentTable();
}

export function feed(n: u32): i32 {
  startCall();
  if (status != ST_NEED_MORE) return status;
  appendInput(n);
  return run();
}

export function resume(): i32 {
  startCall();
  if (status != ST_EVENTS_FULL) return status;
  return run();
}

export function eventsPtr(): usize { return eventsBase; }
export function eventsCount(): u32 { return eventCount; }
export function errorCode(): i32 { return errCode; }
export function errorDetail(): f64 { return <f64>errDetail; }
export function errorOffset(): f64 { return <f64>errOffset; }
/** Stream offset of the first byte not consumed. */
export function consumed(): f64 { return <f64>offsetOf(pos); }
/** Whether everything fed was consumed and no reply or command is partly read. */
export function atBoundary(): i32 { return atValueBoundary() && pos == lim ? 1 : 0; }
