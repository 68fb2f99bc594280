// What a sync's sinks (target-sink.ts: one server; cluster-target-sink.ts: a cluster's masters) do alike
// with a target connection: scan its keys, take steps of the lease.
import { inSlots } from '../cluster/hash-slot.js';
import { replyText, type RespValue } from '../resp/replies.js';
import type { RedisConnection } from './connection.js';
import type { KeyRoute } from './key-route.js';
import type { SlotRanges } from './target-message.js';
import { SyncError } from './sync-error.js';
import { TargetHeld } from './target-lease.js';

/**
 * SCANs the connection's db for the keys matching `pattern` that `keep` accepts, calling `visit` with each
 * non-empty batch; stops early and returns the batch's first key when `visit` resolves false, else null.
 */
export async function scanKeys(connection: RedisConnection, pattern: Uint8Array | string, keep: (key: Uint8Array) => boolean,
  visit: (keys: Uint8Array[]) => Promise<boolean>): Promise<Uint8Array | null> {
  let cursor = '0';
  do {
    const reply = await connection.ok(['SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000]) as RespValue[];
    cursor = replyText(reply[0]!);
    const kept = (reply[1] as Uint8Array[]).filter(keep);
    if (kept.length > 0 && !(await visit(kept))) return kept[0]!;
  } while (cursor !== '0');
  return null;
}

/**
 * Which target keys are `route`'s; with `slots` (a cluster's shard's), only those whose source key is of
 * one of them (the route's rename undone: a prefix changes a key's slot).
 */
export function ownedKeys(route: KeyRoute, slots?: SlotRanges): (key: Uint8Array) => boolean {
  if (!slots) return (key) => route.owns(key);
  const ofSlots = inSlots(slots);
  return (key) => route.owns(key) && ofSlots(route.sourceKey(key));
}

/** A step of the lease: another sync holding the target stops this one (retrying cannot help). */
export async function leaseStep(step: Promise<void>): Promise<void> {
  try {
    await step;
  } catch (err) {
    throw err instanceof TargetHeld ? new SyncError(err.message) : err;
  }
}
