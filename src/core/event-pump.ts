// Draining a core's event buffer: both cores (RDB and RESP) stop with ST_EVENTS_FULL when their buffer
// fills, and go on with resume() once the host has read it.
import { ST_EVENTS_FULL } from './abi.js';
import type { EventBatch } from './event-batch.js';

export interface EventCore {
  memory: WebAssembly.Memory;
  eventsPtr(): number;
  eventsCount(): number;
  resume(): number;
}

/** What both cores export to be fed: their input buffer, feed, and a sticky error with its offset. */
export interface StreamingCore extends EventCore {
  inputSpace(): number;
  inputPtr(): number;
  feed(n: number): number;
  errorCode(): number;
  errorDetail(): number;
  errorOffset(): number;
  consumed(): number;
}

/** Hands every batch to `take` until the core stops asking to be drained; returns its final status. */
export function pumpEvents(core: EventCore, batch: EventBatch, status: number, take: (batch: EventBatch) => void): number {
  for (;;) {
    const count = core.eventsCount();
    if (count > 0) {
      batch.reset(core.memory, core.eventsPtr(), count);
      take(batch);
    }
    if (status !== ST_EVENTS_FULL) return status;
    status = core.resume();
  }
}
