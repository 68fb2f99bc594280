// What a master sends a replica after PSYNC: the reply line (+FULLRESYNC / +CONTINUE, or an error; none
// when the master treats the command as SYNC, as Redis and Valkey do with a renamed PSYNC),
// newline keepalives while it prepares a snapshot, the RDB payload framed as `$<length>\r\n` + bytes or
// `$EOF:<40-byte mark>\r\n` + bytes + the mark (diskless), then the command stream: arrays of bulk strings,
// each reported with the stream offsets of its first and last byte.
import {
  RE_PSYNC, RE_RDB_BEGIN, RE_RDB_DATA, RE_RDB_END, RE_COMMAND, T_ARRAY, T_ERROR, PSYNC_FULLRESYNC, PSYNC_CONTINUE, PSYNC_SYNC,
  RERR_UNEXPECTED, RERR_BAD_PSYNC, RERR_BAD_INTEGER, RERR_BAD_VALUE, RERR_TOO_MANY_ELEMENTS,
} from "../../src/core/resp-abi";
import { emit } from "../events";
import { R_CONT, R_NEED, R_FULL, R_ERR, fail } from "../status";
import { pos, lim, offsetOf, consume } from "./input";
import { lineEnd, waitOrFail, integerLine, lineInteger, parseInteger, badInteger } from "./lines";
import { valueStep, pushLevel, setOnlyBulks, depth, roomForValueStep, maxElementCount } from "./values";
import { wholeCommandStep, R_BY_ELEMENT } from "./whole-commands";

export const PH_PSYNC: i32 = 0;
const PH_RDB_HEADER: i32 = 1;
const PH_RDB_BODY: i32 = 2;
const PH_COMMANDS: i32 = 3;

export let phase: i32 = PH_PSYNC;
/** RDB payload bytes still to come; -1 when the payload ends with the EOF mark instead. */
let rdbLeft: i64 = 0;
const MARK: usize = 40;
const mark: usize = memory.data(<i32>MARK);

export function replicationReset(): void {
  phase = PH_PSYNC;
  rdbLeft = 0;
}

export function replicationStep(): i32 {
  if (!roomForValueStep()) return R_FULL;
  switch (phase) {
    case PH_PSYNC: return psyncReplyStep();
    case PH_RDB_HEADER: return rdbHeaderStep();
    case PH_RDB_BODY: return rdbBodyStep();
  }
  return depth == 0 ? commandStep() : valueStep();
}

/** Skips the bare newlines a master sends to keep the link alive while it has nothing else to send. */
function skipKeepalives(): void {
  let p = pos;
  while (p < lim && load<u8>(p) == 0x0a) p++;
  consume(p);
}

function startsWith(p: usize, end: usize, text: string): bool {
  const n = <usize>text.length;
  if (end - p < n) return false;
  for (let i: usize = 0; i < n; i++) if (<u32>load<u8>(p + i) != <u32>text.charCodeAt(<i32>i)) return false;
  return true;
}

function psyncReplyStep(): i32 {
  skipKeepalives();
  if (pos >= lim) return R_NEED;
  const b = <u32>load<u8>(pos);
  if (b == T_ERROR) return valueStep(); // e.g. -NOMASTERLINK, -LOADING: the caller retries
  if (b == 0x24) {
    // The snapshot with no reply line before it: the master took our command for SYNC (a master only
    // recognises PSYNC by its name, so a renamed PSYNC is a SYNC). No replication ID, offsets from 0.
    emit(RE_PSYNC, 0, pos, 0, PSYNC_SYNC, 0, offsetOf(pos));
    phase = PH_RDB_HEADER;
    return R_CONT;
  }
  if (b != 0x2b) return fail(RERR_UNEXPECTED, <i64>b, offsetOf(pos));
  const e = lineEnd(pos + 1);
  if (!e) return waitOrFail();
  const text = pos + 1;
  let kind: u32 = 0;
  if (startsWith(text, e, "FULLRESYNC ")) kind = PSYNC_FULLRESYNC;
  else if (startsWith(text, e, "CONTINUE") && (e == text + 8 || load<u8>(text + 8) == 0x20)) kind = PSYNC_CONTINUE;
  else return fail(RERR_BAD_PSYNC, 0, offsetOf(pos));
  emit(RE_PSYNC, 0, text, <u32>(e - text), kind, 0, offsetOf(e + 2));
  consume(e + 2);
  if (kind == PSYNC_FULLRESYNC) phase = PH_RDB_HEADER;
  else startCommands();
  return R_CONT;
}

function rdbHeaderStep(): i32 {
  skipKeepalives();
  if (pos >= lim) return R_NEED;
  const b = <u32>load<u8>(pos);
  if (b != 0x24) return fail(RERR_UNEXPECTED, <i64>b, offsetOf(pos));
  const e = lineEnd(pos + 1);
  if (!e) return waitOrFail();
  if (startsWith(pos + 1, e, "EOF:")) {
    if (e - pos - 5 != MARK) return fail(RERR_BAD_VALUE, <i64>b, offsetOf(pos));
    memory.copy(mark, pos + 5, MARK);
    rdbLeft = -1;
    emit(RE_RDB_BEGIN, 0, pos + 5, <u32>MARK, 0, -1, offsetOf(e + 2));
  } else {
    const n = parseInteger(pos + 1, e);
    if (badInteger) return R_ERR;
    if (n < 0) return fail(RERR_BAD_INTEGER, n, offsetOf(pos + 1));
    rdbLeft = n;
    emit(RE_RDB_BEGIN, 0, 0, 0, 0, n, offsetOf(e + 2));
  }
  consume(e + 2);
  phase = PH_RDB_BODY;
  return R_CONT;
}

function endsWithMark(): bool {
  const at = lim - MARK;
  for (let i: usize = 0; i < MARK; i++) if (load<u8>(at + i) != load<u8>(mark + i)) return false;
  return true;
}

/**
 * Passes the payload on. With a mark, the last 40 bytes received are held back until more arrive: the
 * payload ends where the bytes received so far end in the mark (the master sends nothing after it
 * until the replica's first ACK, which is how Redis's own replicas find the end too).
 */
function rdbBodyStep(): i32 {
  const avail = lim - pos;
  if (rdbLeft >= 0) {
    if (rdbLeft == 0) return rdbEnded(pos);
    if (avail == 0) return R_NEED;
    const n = <i64>avail < rdbLeft ? avail : <usize>rdbLeft;
    emit(RE_RDB_DATA, 0, pos, <u32>n, 0, 0, 0);
    consume(pos + n);
    rdbLeft -= <i64>n;
    return R_CONT;
  }
  if (avail >= MARK && endsWithMark()) {
    if (avail > MARK) emit(RE_RDB_DATA, 0, pos, <u32>(avail - MARK), 0, 0, 0);
    return rdbEnded(lim);
  }
  if (avail <= MARK) return R_NEED;
  emit(RE_RDB_DATA, 0, pos, <u32>(avail - MARK), 0, 0, 0);
  consume(lim - MARK);
  return R_NEED;
}

function rdbEnded(at: usize): i32 {
  emit(RE_RDB_END, 0, 0, 0, 0, 0, offsetOf(at));
  consume(at);
  startCommands();
  return R_CONT;
}

function startCommands(): void {
  phase = PH_COMMANDS;
  setOnlyBulks(true);
}

/**
 * A command: `*<argc>\r\n`, then its arguments (bulk strings). Read whole when it can be; else its header
 * here and its arguments by valueStep.
 */
function commandStep(): i32 {
  if (pos >= lim) return R_NEED;
  const b = <u32>load<u8>(pos);
  if (b != T_ARRAY) return fail(RERR_UNEXPECTED, <i64>b, offsetOf(pos));
  const whole = wholeCommandStep();
  if (whole != R_BY_ELEMENT) return whole;
  const next = integerLine(pos + 1);
  if (!next) return waitOrFail();
  const n = lineInteger;
  if (n < 1) return fail(RERR_BAD_VALUE, n, offsetOf(pos));
  if (n > maxElementCount()) return fail(RERR_TOO_MANY_ELEMENTS, n, offsetOf(pos));
  emit(RE_COMMAND, 0, 0, 0, T_ARRAY, n, offsetOf(pos));
  pushLevel(T_ARRAY, n, next);
  return R_CONT;
}
