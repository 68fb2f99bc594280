// Where a pipeline's source stands: one replication stream's checkpoint, or a cluster's, which is the
// checkpoint of each of its shards. A shard is known by its replication history (the replid of its
// checkpoint): its master keeps that history across restarts, and a replica promoted in a failover answers
// to it as replid2, so a restart finds each shard's place whichever node serves it now.
import type { Checkpoint } from '../replica/events.js';
import { checkpointOf } from '../replica/checkpoint-file.js';

/**
 * The shards' checkpoints. A shard inside a snapshot has none (there is nothing to continue from until it
 * ends): a restart copies it again, and continues the others.
 */
export interface ClusterPosition {
  shards: Checkpoint[];
}

export type Position = Checkpoint | ClusterPosition;

export function isClusterPosition(position: Position | null | undefined): position is ClusterPosition {
  return position != null && 'shards' in position;
}

/** The position as a file or a key stores it: a checkpoint's fields, or {"shards":[checkpoint...]}. */
export function positionFields(position: Position): object {
  if (isClusterPosition(position)) return { shards: position.shards.map(checkpointFields) };
  return checkpointFields(position);
}

function checkpointFields(cp: Checkpoint): Checkpoint {
  return { replid: cp.replid, offset: cp.offset, db: cp.db };
}

/**
 * The position stored fields hold: {"shards":[...]} or a checkpoint's fields; throws `notOne` (saying what
 * it should be) when they hold neither.
 */
export function positionOf(fields: { shards?: unknown } & Partial<Checkpoint>, notOne: string): Position {
  if (fields.shards === undefined) return checkpointOf(fields, notOne);
  if (!Array.isArray(fields.shards)) throw new Error(notOne);
  return { shards: fields.shards.map((shard) => checkpointOf((shard ?? {}) as Partial<Checkpoint>, notOne)) };
}

/** A single stream's checkpoint; a cluster's position is refused, naming `where` it came from. */
export function singleCheckpoint(position: Position | null, where: string): Checkpoint | null {
  if (!isClusterPosition(position)) return position;
  throw new Error(`${where} holds the position of a cluster (${position.shards.length} shards), and this source is one server: ` +
    'give the cluster node\'s URL it was made with, or start from a new position');
}

/**
 * Whether a write at `offset` is at or before `position`. Of one server, any checkpoint's offset compares
 * (its offsets go on across a replid change); of a cluster's shard, whose stream has had the replids of
 * `history`, only a checkpoint of that history does (another shard's offsets are of another stream).
 */
export function covers(position: Position, offset: number, history?: readonly string[]): boolean {
  if (!isClusterPosition(position)) return offset <= position.offset;
  return position.shards.some((cp) => offset <= cp.offset && history?.includes(cp.replid) === true);
}

/**
 * Where a position stands, as a status shows it: a checkpoint's replid and offset; a cluster's shards,
 * replid '' and the sum of their offsets (it grows as any shard's stream moves).
 */
export function positionSummary(position: Position): { replid: string; offset: number; shards?: Checkpoint[] } {
  if (!isClusterPosition(position)) return { replid: position.replid, offset: position.offset };
  return { replid: '', offset: position.shards.reduce((sum, cp) => sum + cp.offset, 0), shards: position.shards };
}
