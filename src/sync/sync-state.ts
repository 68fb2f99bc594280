// Where a sync stands, kept on the target in one key (default `redistap:checkpoint:<source host:port>`),
// written in the same MULTI/EXEC as the writes it covers: the target itself says what it has applied.
//   copying:   a full copy was under way; what it wrote is incomplete and is deleted before the next copy
//   streaming: the copy is complete and every write up to `offset` of replication stream `replid` applied
import type { Checkpoint } from '../replica/events.js';
import type { RedisEndpoint } from '../replica/redis-url.js';

export const STATE_PREFIX = 'redistap:';

export interface SyncState extends Checkpoint {
  state: 'copying' | 'streaming';
  /** The source, host:port, for people reading the key. */
  source: string;
  /** When it was written (Unix ms, redistap's clock). */
  writtenMs: number;
}

export function defaultStateKey(source: RedisEndpoint): string {
  return `${STATE_PREFIX}checkpoint:${source.host}:${source.port}`;
}

export function encodeState(state: SyncState): string {
  return JSON.stringify({ v: 1, ...state });
}

/** Reads a stored state; a value that is not one of ours is an error naming the key (never ignored). */
export function decodeState(key: string, bytes: Uint8Array): SyncState {
  let parsed: Partial<SyncState> & { v?: unknown };
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes)) as typeof parsed;
  } catch {
    parsed = {};
  }
  const { v, state, replid, offset, db } = parsed;
  if (v !== 1 || (state !== 'copying' && state !== 'streaming') || typeof replid !== 'string' ||
    !Number.isSafeInteger(offset) || !Number.isSafeInteger(db)) {
    throw new Error(`the target's key ${key} does not hold a redistap sync state; delete it or choose another --checkpoint-key`);
  }
  return { state, replid, offset: offset!, db: db!, source: String(parsed.source ?? ''), writtenMs: Number(parsed.writtenMs ?? 0) };
}
