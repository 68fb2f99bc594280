// What sync's stage (sync-stage.ts) hands the Redis target sink (target-sink.ts): commands to run, the
// snapshot's bytes for a target loading it as a replica, and the steps between them that need the target
// to have applied everything before (deleting what the sync owns, starting and ending a copy). The sink
// puts consecutive commands in one fenced MULTI/EXEC block with the position; a step runs alone.

/** Encoded commands, in order. */
export interface TargetCommands {
  kind: 'commands';
  /** The db they expect the connection in; -1: the one the commands before them left (they SELECT themselves). */
  db: number;
  /** The db they leave the connection in: -1 when they do not SELECT. */
  endDb: number;
  bytes: Uint8Array;
  count: number;
  /**
   * Each command's name (a write, for errors and warnings), or null for commands of the copy, which a
   * refusal names by what they copy, read back from the bytes (refusals are rare, the copy's commands many).
   */
  names: string[] | null;
  /** Writes of the source among them (the status counts them once applied). */
  writes: number;
  /** For a cluster target: the hash slot of their keys (every command of a message is of one slot). */
  slot?: number;
  /**
   * For a cluster target: the source offset their write ends at (a MULTI/EXEC's: its EXEC's); none for the
   * copy's. A restart skips a write at or before the offset its slot has applied.
   */
  offset?: number;
  /**
   * From a cluster's shard: the replids its stream has had (the offset is of that history); a slot's
   * position of the same shard is the one the offset compares with.
   */
  history?: readonly string[];
}

/** Bytes of the snapshot, for the target loading it as a replica of ours (copy: 'replication'). */
export interface SnapshotBytes {
  kind: 'rdb';
  bytes: Uint8Array;
}

/** Slot ranges (inclusive) a cluster's shard served: what a step of that shard's is confined to. */
export type SlotRanges = Array<[number, number]>;

/**
 * Something the target must do once it has applied everything before, and before anything after. From a
 * cluster a step is one shard's (`shard`): its copy replaces, and its FLUSHALL deletes, the keys of its
 * slots only, while the other shards' writes go on.
 */
export type TargetStep =
  /** A snapshot starts: the target's synced keys are stale; what follows is copied into it. */
  | { kind: 'copy-start'; replid: string; offset: number; shard?: { slots: SlotRanges } }
  /**
   * The snapshot is copied: the writes from `offset` of `replid` follow. A shard's: `allStreaming`, no
   * other shard is copying or yet to start (the sync streams once the target has this step).
   */
  | { kind: 'copy-end'; replid: string; offset: number; shard?: { slots: SlotRanges; allStreaming: boolean } }
  /**
   * FLUSHALL or FLUSHDB through a route that does not pass it on, or from a cluster's shard: the keys the
   * sync owns there go (db null: in every db; `slots`: only the keys of these slots).
   */
  | { kind: 'delete-owned'; db: number | null; slots?: SlotRanges };

export type TargetMessage = TargetCommands | SnapshotBytes | TargetStep;

export function sizeOf(message: TargetMessage): number {
  return message.kind === 'commands' || message.kind === 'rdb' ? message.bytes.length : 0;
}
