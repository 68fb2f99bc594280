// Where a pipeline's events come from: a Replica of one server, or a cluster source (a Replica per shard,
// cluster/cluster-source.ts). Either hands over the events of each replication stream in its order; a
// cluster's shards interleave, each one's events tagged with its shard.
import { ClusterSource } from '../cluster/cluster-source.js';
import type { Checkpoint, ReplicaCommand, ReplicaEvent } from '../replica/events.js';
import { Replica, type ReplicaBacklog, type ReplicaOptions } from '../replica/replica.js';
import { SentinelSource } from '../replica/sentinel-source.js';
import type { RdbEntry } from '../rdb/entry.js';
import { ScanSource } from '../scan/scan-source.js';
import { singleCheckpoint, type Position } from './position.js';

/** A shard of a cluster source, as its events name it. */
export interface ShardRef {
  /** Its master's node ID when the source found the shard. */
  id: string;
  /** The slot ranges it served then (inclusive). */
  slots: Array<[number, number]>;
  /** The node its events are read from: host:port. */
  node: string;
}

/** A key that a cluster's slot migration moved from one shard to another (cluster/migration-tracker.ts). */
export interface KeyMove {
  /** A view of the command's bytes, like its arguments. */
  key: Uint8Array;
  slot: number;
  /** The shard it left (null: the source could not tell, the migration having ended before it read the topology). */
  from: string | null;
  /** The shard it went to. */
  to: string;
  /**
   * In the importing shard's stream: the key's value as it arrived (a DUMP payload, as RESTORE takes it)
   * and its expire time (unix ms, null: none). Null in the stream of the shard it left.
   */
  value: { payload: Uint8Array; expireMs: number | null } | null;
}

/**
 * Keys moved by slot migration, no change of the data: a cluster source's event in place of the
 * RESTORE-ASKING that brought a key into a shard (in that shard's stream) or the DEL that removed keys
 * from the shard they left (in its stream). `rest`: that DEL's other keys, deleted by a client, as a DEL
 * of its own (null: none). Where the stream stands after it is after `command`.
 */
export interface MovedEvent {
  type: 'moved';
  replid: string;
  command: ReplicaCommand;
  moves: KeyMove[];
  rest: ReplicaCommand | null;
}

/**
 * A key as it is now, read by a scan source (scan/scan-source.ts) after a keyspace notification named it:
 * a state, not a command. `entry` null: the key does not exist (deleted, expired, evicted, renamed away).
 */
export interface KeyStateEvent {
  type: 'key-state';
  replid: string;
  /** The scan source's count of events since its snapshot started (not a replication offset). */
  offset: number;
  db: number;
  key: Uint8Array;
  entry: RdbEntry | null;
}

/** Something the source tells its user without stopping (a setting it could not check). */
export interface SourceWarning {
  type: 'warning';
  message: string;
}

/** What a source hands its consumer: a replica's events, a cluster source's moved keys, a scan source's key states. */
export type SourceEvent = ReplicaEvent | MovedEvent | KeyStateEvent | SourceWarning;

/** A shard a cluster source follows, and the checkpoint it continues from (null: a new snapshot). */
export interface ShardStart {
  shard: ShardRef;
  from: Checkpoint | null;
}

export interface Source {
  /**
   * Calls `handle` with every event, one at a time per stream (a promise it returns is awaited before
   * that stream's next event), until stopped; rejects with what ended it. `shard`: a cluster's shard.
   */
  run(handle: (event: SourceEvent, shard?: ShardRef) => void | Promise<void>): Promise<void>;
  stop(): void;
  /** Reads everything again from a new snapshot (scan mode); absent where a source cannot. */
  rescan?(): void;
  /** What waits for the consumer: in memory, and spooled to disk. */
  readonly backlog: ReplicaBacklog;
}

export type SourceOptions = Omit<ReplicaOptions, 'checkpoint' | 'signal'> & {
  /**
   * 'replication' (default): a replica (PSYNC). 'scan': SCAN + DUMP, then keyspace notifications, for a
   * server that refuses replication (scan/scan-source.ts); `scan` says what it reads.
   */
  mode?: 'replication' | 'scan';
  scan?: { dbs?: readonly number[]; match?: string; ignoreKey?: (db: number, key: Uint8Array) => boolean };
  /**
   * The URL is a node of a Redis Cluster: follow every shard (one replication link each). 'auto': when
   * the node says so (INFO cluster), asked before the source starts.
   */
  cluster?: boolean | 'auto';
  /**
   * Which node of each shard a cluster source reads: its master (default), a replica (which forwards its
   * master's stream and serves PSYNC, keeping the fork of a full sync off the master; a shard without one
   * is an error), or a replica when the shard has one, else its master.
   */
  readFrom?: ReadFrom;
  /**
   * The Sentinel URL the source is followed through, its failovers followed; `url` is then the master it
   * names (a Sentinel URL as `url` is resolved by the pipeline).
   */
  sentinel?: string;
};

export type ReadFrom = 'master' | 'replica' | 'prefer-replica';

/**
 * The source `options` describe, continuing from `from` (`where` names what held it, for a refusal);
 * `onShards`: a cluster's shards, once found, before their events; `onRemoved`: a shard no longer followed
 * (removed from the cluster).
 */
export function openSource(options: SourceOptions, from: Position | null, where: string, onShards: (shards: ShardStart[]) => void,
  onRemoved: (shard: ShardRef) => void): Source {
  const { cluster, readFrom = 'master', sentinel, mode, scan, ...replica } = options;
  const scanning = mode === 'scan' ? { ...replica, ...scan } : null;
  if (cluster) return new ClusterSource(replica, scanning ? 'master' : readFrom, from, onShards, onRemoved, scanning);
  if (scanning) return new ScanSource({ ...scanning, checkpoint: singleCheckpoint(from, where) });
  const checkpoint = singleCheckpoint(from, where);
  if (sentinel) return new SentinelSource(replica, sentinel, checkpoint, readFrom);
  return new Replica({ ...replica, checkpoint });
}
