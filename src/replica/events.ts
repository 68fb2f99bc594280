// What a Replica hands its consumer: lifecycle events, the snapshot's entries, and the writes.
import type { RdbEntry } from '../rdb/entry.js';

/** Where a replica stands in a master's replication stream; resuming from it continues right after. */
export interface Checkpoint {
  /** The master's replication ID; '' after a SYNC-style transfer, which cannot be continued from. */
  replid: string;
  /** Replication offset of the last byte consumed (what the replica ACKs). */
  offset: number;
  /** The database selected at that point of the stream. */
  db: number;
}

const utf8 = new TextDecoder();

/** One command of the stream. Its arguments share one copied buffer; decode only what you need. */
export class ReplicaCommand {
  constructor(
    /** The database the command applies to. */
    readonly db: number,
    private readonly data: Uint8Array,
    /** End of each argument in `data` (the first starts at 0). */
    private readonly ends: Uint32Array,
    /** Replication offset of the command's first byte. */
    readonly firstOffset: number,
    /** Replication offset of its last byte: the value a replica ACKs after it. */
    readonly offset: number,
  ) {}

  /** The command name, lower-cased (set, hset, xadd...). */
  get name(): string {
    return this.argText(0).toLowerCase();
  }

  get argCount(): number {
    return this.ends.length;
  }

  /** Argument i (0 is the name) as a view of the command's buffer. */
  arg(i: number): Uint8Array {
    return this.data.subarray(i === 0 ? 0 : this.ends[i - 1]!, this.ends[i]!);
  }

  argText(i: number): string {
    return utf8.decode(this.arg(i));
  }

  /** Every argument, name included. */
  get args(): Uint8Array[] {
    return Array.from({ length: this.ends.length }, (_, i) => this.arg(i));
  }
}

export type ReplicaEvent =
  /** Connected and authenticated; PSYNC is next. */
  | { type: 'link-up'; host: string; port: number }
  /** The link dropped; the replica reconnects (with backoff) unless stopped. */
  | { type: 'link-down'; error: Error | null; reconnectInMs: number | null }
  /**
   * The master is sending a snapshot. `reason`: no checkpoint, or the master could not continue from it.
   * `replid` is '' when the master took our PSYNC for SYNC (it does so when PSYNC is renamed): offsets
   * then count from 0 and a later reconnect is a new full sync.
   */
  | { type: 'full-sync-start'; replid: string; offset: number; reason: 'no-checkpoint' | 'resync' }
  /** Bytes of the snapshot received so far (`total` is null for a diskless transfer). */
  | { type: 'rdb-progress'; bytes: number; total: number | null }
  /**
   * A database was emptied: `db` null for all. `cause` 'full-sync': before a snapshot's entries (a replica
   * discards its dataset to load it); 'command': FLUSHALL or FLUSHDB, whose command (or transaction) event
   * follows — apply one or the other, not both.
   */
  | { type: 'flush'; db: number | null; cause: 'full-sync' | 'command' }
  /** A key of the snapshot (not sent with skipRdb). */
  | { type: 'entry'; entry: RdbEntry }
  /** The snapshot is complete; writes follow. */
  | { type: 'full-sync-end'; replid: string; offset: number; keys: number; bytes: number }
  /** The master continued from the checkpoint (+CONTINUE). */
  | { type: 'resumed'; replid: string; offset: number }
  /** The master's replication ID changed (failover, or a restarted master continuing with a new ID). */
  | { type: 'replid-changed'; from: string; to: string; offset: number }
  /** A write outside a transaction. */
  | { type: 'command'; replid: string; command: ReplicaCommand }
  /** MULTI ... EXEC: its commands, never split. `offset` is that of EXEC's last byte. */
  | { type: 'transaction'; replid: string; commands: ReplicaCommand[]; firstOffset: number; offset: number };
