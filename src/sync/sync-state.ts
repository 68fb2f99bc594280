// Where a sync stands, kept on the target in one key (default `redistap:checkpoint:<source host:port>`),
// written in the same MULTI/EXEC as the writes it covers: the target itself says what it has applied.
//   copying:   a full copy was under way; what it wrote is incomplete and is deleted before the next copy
//   streaming: the copy is complete and every write up to `offset` of replication stream `replid` applied
// From a cluster the position is each shard's checkpoint ({"shards":[...]}, pipeline/position.ts), and
// the state is always streaming: a shard inside its copy has no checkpoint there (a restart copies it
// again, deleting first the keys of its slots), while the others' writes are applied and recorded.
// With it, the route the data went through (a later run with another route would mix two), and beside it
// the keys of the target's lease (target-lease.ts).
import { positionFields, positionOf, type Position } from '../pipeline/position.js';
import type { Checkpoint } from '../replica/events.js';
import { startsWith } from '../rdb/key-filter.js';
import type { RouteRecord } from './key-route.js';

export const STATE_PREFIX = 'redistap:';

/** The route a target's data went through: the key route, and the transform hook's name. */
export interface StoredRoute extends RouteRecord {
  transform: string | null;
}

export interface SyncState {
  state: 'copying' | 'streaming';
  /**
   * Streaming: a checkpoint (one server) or the shards' (a cluster), stored as the checkpoint's fields or
   * "shards". Copying: the snapshot's, for people reading the key (read back as null: nothing continues from it).
   */
  position: Position | null;
  /** The source, host:port, for people reading the key. */
  source: string;
  /** When it was written (Unix ms, redistap's clock). */
  writtenMs: number;
  /** Absent in states written before routes were recorded. */
  route?: StoredRoute;
}

/** `sourceName`: host:port, or sentinel/<master name> for a Sentinel URL. */
export function defaultStateKey(sourceName: string): string {
  return `${STATE_PREFIX}checkpoint:${sourceName}`;
}

/**
 * This sync's own keys: the state key itself, `<state key>:lease`, `:owner`, `:fence:<token>`, and on a
 * cluster target those of each slot, `<state key>{<slot tag>}:...` (slot-fence.ts).
 */
export function isOwnStateKey(stateKey: string): (key: Uint8Array) => boolean {
  const state = new TextEncoder().encode(stateKey);
  return (key) => startsWith(key, state) && (key.length === state.length || key[state.length] === 0x3a || key[state.length] === 0x7b);
}

/** The keys syncs keep on a target (every redistap: key, and this sync's own): never its data, whatever the route. */
export function isStateKey(stateKey: string): (key: Uint8Array) => boolean {
  const prefix = new TextEncoder().encode(STATE_PREFIX);
  const own = isOwnStateKey(stateKey);
  return (key) => startsWith(key, prefix) || own(key);
}

export function encodeState({ position, ...state }: SyncState): string {
  return JSON.stringify({ v: 1, state: state.state, ...(position && positionFields(position)), source: state.source, writtenMs: state.writtenMs, route: state.route });
}

/** Reads a stored state; a value that is not one of ours is an error naming the key (never ignored). */
export function decodeState(key: string, bytes: Uint8Array): SyncState {
  let parsed: { v?: unknown; state?: unknown; source?: unknown; writtenMs?: unknown; route?: unknown; shards?: unknown } & Partial<Checkpoint>;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes)) as typeof parsed;
  } catch {
    parsed = {};
  }
  const notOurs = `the target's key ${key} does not hold a redistap sync state; delete it or choose another --checkpoint-key`;
  const { v, state, route } = parsed;
  if (v !== 1 || (state !== 'copying' && state !== 'streaming') || (route !== undefined && !isStoredRoute(route))) throw new Error(notOurs);
  const position = state === 'streaming' ? positionOf(parsed, notOurs) : null;
  return { state, position, source: String(parsed.source ?? ''), writtenMs: Number(parsed.writtenMs ?? 0), route };
}

function isStoredRoute(value: unknown): value is StoredRoute {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');
  return (r.dbs === null || (Array.isArray(r.dbs) && r.dbs.every(Number.isSafeInteger))) &&
    Array.isArray(r.dbMap) && r.dbMap.every((pair) => Array.isArray(pair) && pair.length === 2 && pair.every(Number.isSafeInteger)) &&
    (r.prefixes === null || strings(r.prefixes)) && (r.key === null || typeof r.key === 'string') &&
    (r.rename === null || (typeof r.rename === 'object' && strings(Object.values(r.rename as object)))) &&
    (r.transform === null || typeof r.transform === 'string');
}
