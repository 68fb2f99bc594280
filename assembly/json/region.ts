// The JSON writer's appenders on the shared output region (output-region.ts): strings as JSON text.
import { F_INTEGER } from "../../src/core/abi";
import { at, room, regEnd, setRegEnd } from "../output-region";
import { writeJsonBytes, jsonBytesBound } from "./text";
import { writeSigned } from "../decimal";

/** Appends the JSON form of an event's string at regEnd. */
export function appendEventJson(ev: usize): void {
  const flags = <u32>load<u16>(ev, 2);
  if (flags & F_INTEGER) {
    room(32);
    const d = at(regEnd);
    store<u8>(d, 0x22);
    const end = writeSigned(load<i64>(ev, 16), d + 1);
    store<u8>(end, 0x22);
    setRegEnd(regEnd + (end + 1 - d));
    return;
  }
  const n = <usize>load<u32>(ev, 8);
  room(jsonBytesBound(n));
  setRegEnd(regEnd + (writeJsonBytes(<usize>load<u32>(ev, 4), n, at(regEnd)) - at(regEnd)));
}

/** The raw bytes [from, regEnd) (a chunked string) are replaced by their JSON form. */
export function jsonInPlace(from: usize): void {
  const n = regEnd - from;
  room(jsonBytesBound(n));
  const len = writeJsonBytes(at(from), n, at(regEnd)) - at(regEnd);
  memory.copy(at(from), at(regEnd), len);
  setRegEnd(from + len);
}

