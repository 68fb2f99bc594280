// Element events shared by the plain encodings (parser.ts) and the packed ones (containers.ts).
import { E_ZSET_MEMBER, E_SCORE_TEXT, E_BLOB, E_VALUE_SPAN, F_SCORE_TEXT, F_INTEGER } from "../../src/core/abi";
import { emit } from "../events";
import { parseExactDouble, parsedDouble } from "./numbers";

/** Elements delivered for the current key (reported in E_KEY_END). */
export let keyElems: i64 = 0;

/** Whether containers are reported as E_BLOB events (OPT_BLOB_EVENTS). */
let blobEvents = false;

export function setBlobEvents(on: bool): void {
  blobEvents = on;
}

/** A packed container of `bytes` bytes, when asked for; id: a stream listpack's master entry ID. */
export function emitBlob(kind: i32, bytes: u32, idMs: u64 = 0, idSeq: u64 = 0): void {
  if (blobEvents) emit(E_BLOB, 0, 0, bytes, <u32>kind, <i64>idMs, <i64>idSeq);
}

/** Whether each key's value start is reported as an E_VALUE_SPAN event (OPT_VALUE_SPANS). */
let valueSpans = false;

export function setValueSpans(on: bool): void {
  valueSpans = on;
}

/** The absolute offset where the current key's value starts, when asked for. */
export function emitValueSpan(valueAt: i64): void {
  if (valueSpans) emit(E_VALUE_SPAN, 0, 0, 0, 0, valueAt, 0);
}

export function resetKeyElems(): void {
  keyElems = 0;
}

export function countElem(): void {
  keyElems++;
}

/** A string element: F_INTEGER elements also carry their integer in n1. */
export function emitElement(kind: u32, ptr: usize, len: u32, flags: u32, intValue: i64): void {
  emit(kind, flags, ptr, len, 0, (flags & F_INTEGER) ? intValue : 0, 0);
  keyElems++;
}

/** A sorted-set member with a binary score. */
export function emitScored(ptr: usize, len: u32, flags: u32, score: f64): void {
  emit(E_ZSET_MEMBER, flags & ~F_INTEGER, ptr, len, 0, reinterpret<i64>(score), 0);
  keyElems++;
}

/**
 * A sorted-set member whose score is stored as text: converted here when exact, otherwise the text
 * goes to JS in an E_SCORE_TEXT event just before the member.
 */
export function emitScoredText(ptr: usize, len: u32, flags: u32, textPtr: usize, textLen: u32): void {
  if (parseExactDouble(textPtr, textLen)) {
    emitScored(ptr, len, flags, parsedDouble);
    return;
  }
  emit(E_SCORE_TEXT, 0, textPtr, textLen, 0, 0, 0);
  emit(E_ZSET_MEMBER, (flags & ~F_INTEGER) | F_SCORE_TEXT, ptr, len, 0, 0, 0);
  keyElems++;
}
