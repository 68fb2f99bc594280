// The event buffer writer: packed fixed-size records the TypeScript side reads with a DataView.
// Layout and codes: src/core/abi.ts.
import { EVENT_SIZE } from "../src/core/abi";
import { eventsBase, eventCap } from "./memory";

export let eventCount: u32 = 0;

/** Most events a single parse step may emit; steps start only when this much room is left. */
export const STEP_EVENTS: u32 = 8;

@inline export function roomForStep(): bool {
  return eventCount + STEP_EVENTS <= eventCap;
}

@inline export function eventsPending(): bool {
  return eventCount > 0;
}

export function resetEvents(): void {
  eventCount = 0;
}

@inline export function emit(kind: u32, flags: u32, ptr: usize, len: u32, aux: u32, n1: i64, n2: i64): void {
  const at = eventsBase + <usize>eventCount * EVENT_SIZE;
  store<u16>(at, <u16>kind);
  store<u16>(at, <u16>flags, 2);
  store<u32>(at, <u32>ptr, 4);
  store<u32>(at, len, 8);
  store<u32>(at, aux, 12);
  store<i64>(at, n1, 16);
  store<i64>(at, n2, 24);
  eventCount++;
}
