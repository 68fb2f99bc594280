// Canonical JSON of streams (FORMAT.md §5): entries are rendered as they arrive; length and IDs come
// after them in the file, so they are kept and the line is assembled at the key's end. Groups, their
// pending entries (PEL) and consumers arrive in ID / name order (Redis stores them in radix trees); a
// PEL entry's consumer is found by joining the group PEL with the consumers' PELs, both sorted by ID.
//
// Region after the key bytes: [entries text][finished groups text][the group being read: head text,
// PEL records (ms, seq, count: 24 bytes), consumer blocks (u32 name-JSON length, name JSON, u32 count,
// count × (ms, seq))].
import {
  E_STREAM_ENTRY, E_STREAM_FIELD, E_STREAM_VALUE, E_STREAM_META, E_STREAM_GROUP, E_STREAM_PEL,
  E_STREAM_CONSUMER, E_STREAM_CONSUMER_PEL, F_UNKNOWN,
  SM_LENGTH, SM_LAST_ID, SM_FIRST_ID, SM_MAX_DELETED_ID, SM_ENTRIES_ADDED, SM_GROUP_ENTRIES_READ, SM_NACK,
} from "../../src/core/abi";
import { at, room, regEnd, setRegEnd, appendByte, appendWord } from "../output-region";
import { appendEventJson } from "./region";
import { writeUnsigned } from "../decimal";
import { sortEntries, setEntryLayout, setIdEntry, entrySize, ENTRY_OFFSET } from "./sort";

let entriesStart: usize = 0;
let entriesEnd: usize = 0;
let entryCount: u64 = 0;
let fieldsLeft: u32 = 0;
let fieldsTotal: u32 = 0;

let length: u64 = 0;
let lastMs: u64 = 0;
let lastSeq: u64 = 0;
let v2: bool = false;
let firstMs: u64 = 0;
let firstSeq: u64 = 0;
let delMs: u64 = 0;
let delSeq: u64 = 0;
let added: u64 = 0;

let groupsStart: usize = 0;
let groupsEnd: usize = 0;
let groupCount: u32 = 0;

const G_NONE = 0;
const G_HEAD = 1;
const G_PEL = 2;
const G_CONSUMERS = 3;
let gPhase: i32 = G_NONE;
let pelStart: usize = 0;
let pelEnd: usize = 0;
let consumersStart: usize = 0;
let blockAt: usize = 0; // current consumer block

export function streamBegin(after: usize, rdbType: u32): void {
  entriesStart = after;
  entriesEnd = after;
  setRegEnd(after);
  entryCount = 0;
  fieldsLeft = 0;
  length = 0; lastMs = 0; lastSeq = 0; firstMs = 0; firstSeq = 0; delMs = 0; delSeq = 0; added = 0;
  v2 = rdbType != 15;
  groupCount = 0;
  gPhase = G_NONE;
}

/** Offsets move down by `shift` when the host takes the completed lines. */
export function streamShift(shift: usize): void {
  entriesStart -= shift; entriesEnd -= shift; groupsStart -= shift; groupsEnd -= shift;
  pelStart -= shift; pelEnd -= shift; consumersStart -= shift; blockAt -= shift;
}

/** Appends "<ms>-<seq>" with its quotes. */
function appendId(ms: u64, seq: u64): void {
  room(48);
  let d = at(regEnd);
  store<u8>(d++, 0x22);
  d = writeUnsigned(ms, d);
  store<u8>(d++, 0x2d);
  d = writeUnsigned(seq, d);
  store<u8>(d++, 0x22);
  setRegEnd(regEnd + (d - at(regEnd)));
}

function appendNumber(v: u64): void {
  room(24);
  setRegEnd(regEnd + (writeUnsigned(v, at(regEnd)) - at(regEnd)));
}

function appendBytes(p: usize, n: usize): void {
  room(n);
  memory.copy(at(regEnd), p, n);
  setRegEnd(regEnd + n);
}

function appendText(s: string): void {
  // Static ASCII literals: AssemblyScript stores them as UTF-16, one unit per character.
  const p = changetype<usize>(s);
  const n = <usize>s.length;
  room(n);
  for (let i: usize = 0; i < n; i++) store<u8>(at(regEnd) + i, <u8>load<u16>(p + (i << 1)));
  setRegEnd(regEnd + n);
}

export function streamEvent(ev: usize, kind: u32): void {
  switch (kind) {
    case E_STREAM_ENTRY: {
      if (entryCount > 0) appendByte(0x2c);
      appendByte(0x5b); // [
      appendId(<u64>load<i64>(ev, 16), <u64>load<i64>(ev, 24));
      appendWord(0x5b2c, 2); // ,[
      fieldsLeft = load<u32>(ev, 12) * 2;
      fieldsTotal = fieldsLeft;
      entryCount++;
      if (fieldsLeft == 0) appendWord(0x5d5d, 2);
      entriesEnd = regEnd;
      break;
    }
    case E_STREAM_FIELD:
    case E_STREAM_VALUE: {
      if (fieldsLeft == 0) break; // more than announced: corrupt input would have been stopped
      if (fieldsLeft != fieldsTotal) appendByte(0x2c);
      appendEventJson(ev);
      fieldsLeft--;
      if (fieldsLeft == 0) appendWord(0x5d5d, 2); // ]]
      entriesEnd = regEnd;
      break;
    }
    case E_STREAM_META: streamMeta(ev); break;
    case E_STREAM_GROUP: {
      if (gPhase != G_NONE) finishGroup();
      else { groupsStart = regEnd; groupsEnd = regEnd; }
      gPhase = G_HEAD;
      appendText('{"name":');
      appendEventJson(ev);
      appendText(',"last_delivered_id":');
      appendId(<u64>load<i64>(ev, 16), <u64>load<i64>(ev, 24));
      break;
    }
    case E_STREAM_PEL: {
      if (gPhase == G_HEAD) { pelStart = regEnd; gPhase = G_PEL; }
      room(24);
      store<u64>(at(regEnd), <u64>load<i64>(ev, 16));
      store<u64>(at(regEnd), <u64>load<i64>(ev, 24), 8);
      store<u64>(at(regEnd), 0, 16);
      setRegEnd(regEnd + 24);
      pelEnd = regEnd;
      break;
    }
    case E_STREAM_CONSUMER: {
      if (gPhase == G_HEAD) { pelStart = regEnd; pelEnd = regEnd; }
      if (gPhase != G_CONSUMERS) { consumersStart = regEnd; gPhase = G_CONSUMERS; }
      blockAt = regEnd;
      room(4);
      setRegEnd(regEnd + 4);
      appendEventJson(ev);
      store<u32>(at(blockAt), <u32>(regEnd - blockAt - 4));
      room(4);
      store<u32>(at(regEnd), 0);
      setRegEnd(regEnd + 4);
      break;
    }
    case E_STREAM_CONSUMER_PEL: {
      room(16);
      store<u64>(at(regEnd), <u64>load<i64>(ev, 16));
      store<u64>(at(regEnd), <u64>load<i64>(ev, 24), 8);
      setRegEnd(regEnd + 16);
      const countAt = at(blockAt) + 4 + <usize>load<u32>(at(blockAt));
      store<u32>(countAt, load<u32>(countAt) + 1);
      break;
    }
  }
}

function streamMeta(ev: usize): void {
  const a = <u64>load<i64>(ev, 16);
  const b = <u64>load<i64>(ev, 24);
  switch (load<u32>(ev, 12)) {
    case SM_LENGTH: length = a; break;
    case SM_LAST_ID: lastMs = a; lastSeq = b; break;
    case SM_FIRST_ID: firstMs = a; firstSeq = b; break;
    case SM_MAX_DELETED_ID: delMs = a; delSeq = b; break;
    case SM_ENTRIES_ADDED: added = a; break;
    case SM_GROUP_ENTRIES_READ: {
      appendText(',"entries_read":');
      if (<u32>load<u16>(ev, 2) & F_UNKNOWN) appendText('null');
      else appendNumber(a);
      break;
    }
    case SM_NACK: {
      if (pelEnd >= pelStart + 24) store<u64>(at(pelEnd - 24), b, 16);
      break;
    }
  }
}

/** Renders the group read so far after its data, then moves the text down to the groups text. */
function finishGroup(): void {
  if (gPhase == G_HEAD) { pelStart = regEnd; pelEnd = regEnd; consumersStart = regEnd; }
  else if (gPhase == G_PEL) consumersStart = regEnd;
  const headStart = groupsEnd;
  const headEnd = pelStart;
  const consumersEnd = regEnd;
  // Sort entries: the consumers' pending IDs (k0 = ms, k1 = seq, offset = the consumer block).
  let joins: usize = 0;
  for (let p = consumersStart; p < consumersEnd;) {
    const nameLen = <usize>load<u32>(at(p));
    const count = <usize>load<u32>(at(p) + 4 + nameLen);
    joins += count;
    p += 8 + nameLen + count * 16;
  }
  const pels = (pelEnd - pelStart) / 24;
  setEntryLayout(false);
  const ENTRY = entrySize;
  const arr = regEnd;
  room((joins + pels) * ENTRY * 2 + 64);
  let k: usize = 0;
  for (let p = consumersStart; p < consumersEnd;) {
    const nameLen = <usize>load<u32>(at(p));
    const count = <usize>load<u32>(at(p) + 4 + nameLen);
    const ids = p + 8 + nameLen;
    for (let i: usize = 0; i < count; i++) idEntry(at(arr) + k++ * ENTRY, ids + i * 16, p);
    p = ids + count * 16;
  }
  const tmp = arr + (joins + pels) * ENTRY;
  const joined = sortEntries(at(arr), joins, at(tmp), at(0));
  const pelArr = arr + joins * ENTRY;
  for (let i: usize = 0; i < pels; i++) idEntry(at(pelArr) + i * ENTRY, pelStart + i * 24, pelStart + i * 24);
  const pelSorted = sortEntries(at(pelArr), pels, at(tmp) + joins * ENTRY, at(0));
  // Copy the sorted arrays out of the way of the text (the merge buffer may be either half).
  setRegEnd(tmp + (joins + pels) * ENTRY);
  const textAt = regEnd;
  if (groupCount > 0) appendByte(0x2c);
  appendBytes(at(headStart), headEnd - headStart);
  appendText(',"pel":[');
  let j: usize = 0;
  for (let i: usize = 0; i < pels; i++) {
    const e = pelSorted + i * ENTRY;
    const ms = load<u64>(e);
    const seq = load<u64>(e, 8);
    while (j < joins && before(joined + j * ENTRY, ms, seq)) j++;
    if (i > 0) appendByte(0x2c);
    appendByte(0x5b);
    appendId(ms, seq);
    appendByte(0x2c);
    if (j < joins && load<u64>(joined + j * ENTRY) == ms && load<u64>(joined + j * ENTRY, 8) == seq) {
      const block = <usize>load<u32>(joined + j * ENTRY, ENTRY_OFFSET);
      appendBytes(at(block) + 4, <usize>load<u32>(at(block)));
    } else {
      appendText('null');
    }
    appendByte(0x2c);
    appendNumber(load<u64>(at(<usize>load<u32>(e, ENTRY_OFFSET)), 16));
    appendByte(0x5d);
  }
  appendText('],"consumers":[');
  let first = true;
  for (let p = consumersStart; p < consumersEnd;) {
    const nameLen = <usize>load<u32>(at(p));
    const count = <usize>load<u32>(at(p) + 4 + nameLen);
    const ids = p + 8 + nameLen;
    if (!first) appendByte(0x2c);
    first = false;
    appendText('{"name":');
    appendBytes(at(p) + 4, nameLen);
    appendText(',"pel":[');
    for (let i: usize = 0; i < count; i++) {
      if (i > 0) appendByte(0x2c);
      appendId(load<u64>(at(ids + i * 16)), load<u64>(at(ids + i * 16), 8));
    }
    appendText(']}');
    p = ids + count * 16;
  }
  appendText(']}');
  const len = regEnd - textAt;
  memory.copy(at(groupsEnd), at(textAt), len);
  groupsEnd += len;
  setRegEnd(groupsEnd);
  groupCount++;
  gPhase = G_NONE;
}

/** A sort entry for the ID (ms, seq) stored at offset idAt; `ref` is kept as its record offset. */
function idEntry(e: usize, idAt: usize, ref: usize): void {
  setIdEntry(e, load<u64>(at(idAt)), load<u64>(at(idAt), 8), <u32>ref);
}

@inline function before(e: usize, ms: u64, seq: u64): bool {
  const a = load<u64>(e);
  return a < ms || (a == ms && load<u64>(e, 8) < seq);
}

/** Completes the group being read (call before the line head is written after the stream's data). */
export function streamFinishGroups(): void {
  if (gPhase != G_NONE) finishGroup();
  else if (groupCount == 0) { groupsStart = regEnd; groupsEnd = regEnd; }
}

/** Appends the value object (after the line head) and the line's end. */
export function streamEnd(): void {
  appendText('{"length":');
  appendNumber(length);
  appendText(',"last_id":');
  appendId(lastMs, lastSeq);
  if (v2) {
    appendText(',"first_id":');
    appendId(firstMs, firstSeq);
  }
  appendText(',"entries":[');
  appendBytes(at(entriesStart), entriesEnd - entriesStart);
  appendByte(0x5d);
  if (v2) {
    appendText(',"max_deleted_id":');
    appendId(delMs, delSeq);
    appendText(',"entries_added":');
    appendNumber(added);
  }
  appendText(',"groups":[');
  appendBytes(at(groupsStart), groupsEnd - groupsStart);
  appendText(']}}\n');
}
