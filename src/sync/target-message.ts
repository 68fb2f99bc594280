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
}

/** Bytes of the snapshot, for the target loading it as a replica of ours (copy: 'replication'). */
export interface SnapshotBytes {
  kind: 'rdb';
  bytes: Uint8Array;
}

/** Something the target must do once it has applied everything before, and before anything after. */
export type TargetStep =
  /** A snapshot starts: the target's synced keys are stale; what follows is copied into it. */
  | { kind: 'copy-start'; replid: string; offset: number }
  /** The snapshot is copied: the writes from `offset` of `replid` follow. */
  | { kind: 'copy-end'; replid: string; offset: number }
  /** FLUSHALL or FLUSHDB through a route that does not pass it on: the keys it owns there go (db null: in every db). */
  | { kind: 'delete-owned'; db: number | null };

export type TargetMessage = TargetCommands | SnapshotBytes | TargetStep;

export function sizeOf(message: TargetMessage): number {
  return message.kind === 'commands' || message.kind === 'rdb' ? message.bytes.length : 0;
}
