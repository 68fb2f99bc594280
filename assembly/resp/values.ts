// RESP2 and RESP3 values. Each step reads one scalar (line, integer, bulk string...) or one aggregate
// header, checks it against the limits, and only then emits and consumes: a step that runs out of bytes
// changes nothing and runs again later. Aggregates are a stack of element counts; bulk strings larger
// than half the input buffer stream through as RE_CHUNK events.
import {
  RE_VALUE, RE_AGGREGATE, RE_AGGREGATE_END, RE_CHUNK, RF_NULL, RF_CHUNKED, RF_LAST,
  T_SIMPLE, T_ERROR, T_INTEGER, T_BULK, T_ARRAY, T_NULL, T_DOUBLE, T_BOOLEAN, T_BLOB_ERROR, T_VERBATIM,
  T_BIG_NUMBER, T_MAP, T_SET, T_ATTRIBUTE, T_PUSH,
  RERR_UNKNOWN_TYPE, RERR_BAD_INTEGER, RERR_BAD_LINE, RERR_BULK_TOO_LARGE, RERR_TOO_MANY_ELEMENTS,
  RERR_TOO_DEEP, RERR_BAD_VALUE, RERR_UNEXPECTED,
} from "../../src/core/resp-abi";
import { emit, eventCount } from "../events";
import { eventCap } from "../memory";
import { R_CONT, R_NEED, R_FULL, fail } from "../status";
import { pos, lim, offsetOf, consume } from "./input";
import { lineEnd, waitOrFail, failLine, integerLine, lineInteger } from "./lines";

/** The most nesting levels any instance may allow. */
export const MAX_DEPTH_CAP: u32 = 1024;

let maxBulk: i64 = 0;
let maxElements: i64 = 0;
let maxDepth: u32 = 0;
/** Bulk strings longer than this are streamed as chunks instead of waiting to be whole. */
let chunkAbove: i64 = 0;

/** Open aggregates, innermost last: per level an i64 count of elements still to come and the type. */
const stack: usize = memory.data(<i32>(MAX_DEPTH_CAP * 16), 8);
export let depth: u32 = 0;

/** Replication commands: every element must be a bulk string. */
export let onlyBulks: bool = false;

/** While a large bulk string streams: bytes of it still to come (then its CRLF); -1 otherwise. */
export let bulkLeft: i64 = -1;
let bulkType: u32 = 0;

export function valuesInit(bulkLimit: i64, elementLimit: i64, depthLimit: u32, chunkThreshold: i64): void {
  maxBulk = bulkLimit;
  maxElements = elementLimit;
  maxDepth = depthLimit;
  chunkAbove = chunkThreshold;
  depth = 0;
  bulkLeft = -1;
  onlyBulks = false;
}

export function setOnlyBulks(on: bool): void {
  onlyBulks = on;
}

/** True when no value is partly read: a reply (or command) boundary. */
export function atValueBoundary(): bool {
  return depth == 0 && bulkLeft < 0;
}

/** Room for the most events one step emits: a value, or an empty aggregate, closing every open level. */
@inline export function roomForValueStep(): bool {
  return eventCount + depth + 4 <= eventCap;
}

@inline function lastFlag(): u32 {
  return depth == 0 ? RF_LAST : 0;
}

export function valueStep(): i32 {
  if (!roomForValueStep()) return R_FULL;
  if (bulkLeft >= 0) return chunkStep();
  if (pos >= lim) return R_NEED;
  const type = <u32>load<u8>(pos);
  if (onlyBulks && type != T_BULK) return fail(RERR_UNEXPECTED, <i64>type, offsetOf(pos));
  switch (type) {
    case T_SIMPLE:
    case T_ERROR:
    case T_DOUBLE:
    case T_BIG_NUMBER: return lineValue(type);
    case T_INTEGER: return integerValue();
    case T_BOOLEAN: return booleanValue();
    case T_NULL: return nullValue();
    case T_BULK:
    case T_BLOB_ERROR:
    case T_VERBATIM: return bulkValue(type);
    case T_ARRAY:
    case T_MAP:
    case T_SET:
    case T_PUSH:
    case T_ATTRIBUTE: return aggregate(type);
  }
  return fail(RERR_UNKNOWN_TYPE, <i64>type, offsetOf(pos));
}

/** Emits a complete scalar and counts it as an element of the aggregate it is in. */
function scalar(flags: u32, ptr: usize, len: usize, type: u32, n1: i64, next: usize): i32 {
  emit(RE_VALUE, flags | lastFlag(), ptr, <u32>len, type, n1, offsetOf(next));
  consume(next);
  elementDone(offsetOf(next));
  return R_CONT;
}

function lineValue(type: u32): i32 {
  const e = lineEnd(pos + 1);
  if (!e) return waitOrFail();
  if (e == pos + 1 && type != T_SIMPLE && type != T_ERROR) return fail(RERR_BAD_VALUE, <i64>type, offsetOf(pos));
  return scalar(0, pos + 1, e - pos - 1, type, 0, e + 2);
}

function integerValue(): i32 {
  const next = integerLine(pos + 1);
  if (!next) return waitOrFail();
  return scalar(0, pos + 1, next - pos - 3, T_INTEGER, lineInteger, next);
}

function booleanValue(): i32 {
  const e = lineEnd(pos + 1);
  if (!e) return waitOrFail();
  const c = load<u8>(pos + 1);
  if (e != pos + 2 || (c != 0x74 && c != 0x66)) return fail(RERR_BAD_VALUE, <i64>T_BOOLEAN, offsetOf(pos));
  return scalar(0, pos + 1, 1, T_BOOLEAN, c == 0x74 ? 1 : 0, e + 2);
}

function nullValue(): i32 {
  const e = lineEnd(pos + 1);
  if (!e) return waitOrFail();
  if (e != pos + 1) return fail(RERR_BAD_VALUE, <i64>T_NULL, offsetOf(pos));
  return scalar(RF_NULL, 0, 0, T_NULL, 0, e + 2);
}

/**
 * Reads the count or length after a type byte into lineInteger (-1: RESP2's null, else 0 ... ); returns
 * the address after its CRLF, or 0 (see waitOrFail).
 */
function header(): usize {
  const next = integerLine(pos + 1);
  if (next && lineInteger < -1) return failLine(RERR_BAD_INTEGER, lineInteger, pos + 1);
  return next;
}

function bulkValue(type: u32): i32 {
  const body = header();
  if (!body) return waitOrFail();
  const n = lineInteger;
  if (n == -1) {
    if (type != T_BULK || onlyBulks) return fail(RERR_BAD_VALUE, <i64>type, offsetOf(pos));
    return scalar(RF_NULL, 0, 0, type, 0, body);
  }
  if (n > maxBulk) return fail(RERR_BULK_TOO_LARGE, n, offsetOf(pos));
  if (type == T_VERBATIM && (n < 4 || (<i64>(lim - body) >= 4 && load<u8>(body + 3) != 0x3a))) {
    return fail(RERR_BAD_VALUE, <i64>type, offsetOf(body));
  }
  if (n > chunkAbove) {
    consume(body);
    bulkLeft = n;
    bulkType = type;
    return R_CONT;
  }
  if (<i64>(lim - body) < n + 2) return R_NEED;
  const end = body + <usize>n;
  if (load<u8>(end) != 0x0d || load<u8>(end + 1) != 0x0a) return fail(RERR_BAD_LINE, <i64>load<u8>(end), offsetOf(end));
  return scalar(0, body, <usize>n, type, 0, end + 2);
}

/** The next piece of a large bulk string, or its final CRLF and the value event. */
function chunkStep(): i32 {
  const avail = lim - pos;
  if (bulkLeft > 0) {
    if (avail == 0) return R_NEED;
    const n = <i64>avail < bulkLeft ? avail : <usize>bulkLeft;
    emit(RE_CHUNK, 0, pos, <u32>n, bulkType, 0, 0);
    consume(pos + n);
    bulkLeft -= <i64>n;
    return R_CONT;
  }
  if (avail < 2) return R_NEED;
  if (load<u8>(pos) != 0x0d || load<u8>(pos + 1) != 0x0a) return fail(RERR_BAD_LINE, <i64>load<u8>(pos), offsetOf(pos));
  bulkLeft = -1;
  return scalar(RF_CHUNKED, 0, 0, bulkType, 0, pos + 2);
}

function aggregate(type: u32): i32 {
  const next = header();
  if (!next) return waitOrFail();
  const n = lineInteger;
  if (n == -1) {
    if (type != T_ARRAY) return fail(RERR_BAD_VALUE, <i64>type, offsetOf(pos));
    return scalar(RF_NULL, 0, 0, type, 0, next);
  }
  if (n > maxElements) return fail(RERR_TOO_MANY_ELEMENTS, n, offsetOf(pos));
  if (n > 0 && depth >= maxDepth) return fail(RERR_TOO_DEEP, <i64>maxDepth, offsetOf(pos));
  openAggregate(type, n, next);
  return R_CONT;
}

/** Emits an aggregate's start (its header ends before `next`) and opens it, or closes it at once when empty. */
function openAggregate(type: u32, count: i64, next: usize): void {
  emit(RE_AGGREGATE, 0, 0, 0, type, count, offsetOf(pos));
  const elements = type == T_MAP || type == T_ATTRIBUTE ? count * 2 : count;
  if (elements == 0) {
    consume(next);
    closeAggregate(type, offsetOf(next));
  } else {
    pushLevel(type, elements, next);
  }
}

/** Consumes a header (up to `next`) and opens a level expecting `elements` (> 0) values. */
export function pushLevel(type: u32, elements: i64, next: usize): void {
  consume(next);
  const level = stack + <usize>depth * 16;
  store<i64>(level, elements);
  store<u32>(level, type, 8);
  depth++;
}

export function maxElementCount(): i64 {
  return maxElements;
}

/** An attribute annotates the value after it: it is not an element of the aggregate it appears in. */
function closeAggregate(type: u32, end: i64): void {
  const attribute = type == T_ATTRIBUTE;
  emit(RE_AGGREGATE_END, depth == 0 && !attribute ? RF_LAST : 0, 0, 0, type, 0, end);
  if (!attribute) elementDone(end);
}

/** One element of the innermost aggregate is complete: close every aggregate this completes. */
function elementDone(end: i64): void {
  if (depth == 0) return;
  const level = stack + <usize>(depth - 1) * 16;
  const left = load<i64>(level) - 1;
  store<i64>(level, left);
  if (left > 0) return;
  depth--;
  closeAggregate(load<u32>(level, 8), end);
}
