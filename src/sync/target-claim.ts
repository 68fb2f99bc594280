// What a sync checks of its target once the lease is its own, whatever the target (one server, or a Redis
// Cluster's masters): that the stored state was written under this run's route and from this kind of
// source, and on a first start that nothing is where the sync would write. A mismatch refuses, unless
// --resync: then what the earlier run wrote, and what this one would write, is deleted and copied again.
import { isClusterPosition } from '../pipeline/position.js';
import { KeyRoute, routeDifferences } from './key-route.js';
import { SyncError } from './sync-error.js';
import { isStateKey, type SyncState } from './sync-state.js';
import type { Sync } from './sync.js';

const utf8 = new TextDecoder();

/** A target's keys as a route owns them: found (the first one) and deleted, in every db. */
export interface OwnedKeys {
  first(route: KeyRoute): Promise<{ db: number; key: Uint8Array } | null>;
  delete(route: KeyRoute): Promise<void>;
}

/**
 * Whether the sync continues from `stored` (true), or copies everything again (false: nothing stored, or
 * --resync deleted what did not match). Throws SyncError when continuing would mix two routes or sources,
 * or a first start finds keys where it would write. `route`: the pipeline's route identity, which says
 * whether the source is a cluster.
 */
export async function continuesFrom(sync: Sync, stored: SyncState | null, route: unknown, keys: OwnedKeys): Promise<boolean> {
  const clustered = (route as { cluster?: boolean } | null)?.cluster === true;
  return stored !== null && await sameRoute(sync, stored, keys) && await sameKindOfSource(sync, stored, clustered, keys);
}

/** First start on this target: where the sync writes must be empty, unless --resync allows deleting it. */
export async function claimTarget(sync: Sync, keys: OwnedKeys): Promise<void> {
  const found = await keys.first(sync.route);
  if (found === null) return;
  if (!sync.options.resync) {
    throw new SyncError(`the target already holds keys where this sync would write (db ${found.db}, e.g. ${JSON.stringify(utf8.decode(found.key))}); ` +
      `it writes ${sync.route.describe()}: sync into an empty target (or another --prefix / --db-map), or pass --resync to delete them first`);
  }
  sync.warn(`--resync: deleting the target's keys where this sync writes (${sync.route.describe()})`);
  await keys.delete(sync.route);
}

/**
 * Whether the stored state's data went through this run's route. Another route refuses (the target
 * would hold a mix of two), unless --resync: then what the stored route wrote is deleted here, what
 * this one writes by claimTarget, and everything is copied again (false).
 */
async function sameRoute(sync: Sync, stored: SyncState, keys: OwnedKeys): Promise<boolean> {
  if (!stored.route) {
    sync.warn(`the target's state (key ${sync.stateKey}) was written by a redistap that did not record its route: continuing as if it were this run's`);
    return true;
  }
  const differences = routeDifferences(stored.route, sync.storedRoute);
  if (stored.route.transform !== sync.storedRoute.transform) {
    differences.push(`the transform hook was ${JSON.stringify(stored.route.transform)}, now ${JSON.stringify(sync.storedRoute.transform)}`);
  }
  if (differences.length === 0) return true;
  const previous = KeyRoute.fromRecord(stored.route, isStateKey(sync.stateKey));
  if (!sync.options.resync) {
    throw new SyncError(`the target was synced with another selection: ${differences.join('; ')}. Continuing would leave it a mix of both. ` +
      `Run with the same options to continue, or add --resync to delete what the earlier run wrote (${previous.describe()}) ` +
      `and what this one writes (${sync.route.describe()}) on the target, then copy again`);
  }
  sync.warn(`--resync: the selection changed (${differences.join('; ')}): deleting what the earlier run wrote (${previous.describe()})`);
  await keys.delete(previous);
  return false;
}

/**
 * Whether the stored position is of the kind this source continues: a cluster's shards, or one server's
 * stream. The other kind refuses (the target holds another source's data), unless --resync: then what
 * the sync owns is deleted and everything copied again (false).
 */
async function sameKindOfSource(sync: Sync, stored: SyncState, clustered: boolean, keys: OwnedKeys): Promise<boolean> {
  if (!stored.position || isClusterPosition(stored.position) === clustered) return true;
  const was = isClusterPosition(stored.position) ? 'a Redis Cluster' : 'one server';
  const now = clustered ? 'a Redis Cluster' : 'one server';
  if (!sync.options.resync) {
    throw new SyncError(`the target's state (key ${sync.stateKey}) was written by a sync from ${was}, and this source is ${now}: ` +
      'give the source it was made with, another --checkpoint-key, or add --resync to delete what the earlier run wrote and copy again');
  }
  sync.warn(`--resync: the target was synced from ${was}, this source is ${now}: deleting what the earlier run wrote (${sync.route.describe()})`);
  await keys.delete(sync.route);
  return false;
}
