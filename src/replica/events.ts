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

/**
 * Buffer's UTF-8 decoder, what toString('utf8', start, end) calls after checking its arguments (about a
 * fifth of the time of decoding a key): on Buffer.prototype in every Node release, absent from the typings.
 */
type Utf8Slicing = Buffer & { utf8Slice(start: number, end: number): string };

/**
 * Stream bytes that commands share (the socket chunk they were read from, or a copy for a command that
 * spans chunks), and where each argument is in them: `bounds` holds a start and an end per argument,
 * positions in `bytes` plus `shift`.
 */
export class CommandBytes {
  private readonly bytes: Utf8Slicing;
  private readonly buffer: ArrayBufferLike;
  /** Added to a bound to get its position in `buffer`. */
  private readonly delta: number;

  constructor(bytes: Buffer, readonly bounds: Uint32Array, private readonly shift: number) {
    this.bytes = bytes as Utf8Slicing;
    this.buffer = bytes.buffer;
    this.delta = bytes.byteOffset - shift;
  }

  /** The argument whose bounds are at bounds[k], bounds[k + 1], as a view. */
  view(k: number): Uint8Array {
    const start = this.bounds[k]!;
    return new Uint8Array(this.buffer, start + this.delta, this.bounds[k + 1]! - start);
  }

  /** The same argument decoded as UTF-8. */
  text(k: number): string {
    return this.bytes.utf8Slice(this.bounds[k]! - this.shift, this.bounds[k + 1]! - this.shift);
  }
}

/**
 * One command of the stream. Its arguments are views of bytes it shares with the commands read with it
 * (like Buffer slices of a socket's data): decode or copy what you keep for long.
 */
export class ReplicaCommand {
  private nameText: string | undefined;

  constructor(
    /** The database the command applies to. */
    readonly db: number,
    private readonly source: CommandBytes,
    /** Where its first argument's bounds are in source.bounds. */
    private readonly at: number,
    readonly argCount: number,
    /** Its name lower-cased, when the reader already knows it. */
    name: string | undefined,
    /** Replication offset of the command's first byte. */
    readonly firstOffset: number,
    /** Replication offset of its last byte: the value a replica ACKs after it. */
    readonly offset: number,
  ) {
    this.nameText = name;
  }

  /** The command name, lower-cased (set, hset, xadd...). */
  get name(): string {
    this.nameText ??= this.argText(0).toLowerCase();
    return this.nameText;
  }

  /** Argument i (0 is the name) as a view of the bytes the command shares. */
  arg(i: number): Uint8Array {
    return this.source.view(this.bounds(i));
  }

  argText(i: number): string {
    return this.source.text(this.bounds(i));
  }

  /** Every argument, name included. */
  get args(): Uint8Array[] {
    return Array.from({ length: this.argCount }, (_, i) => this.arg(i));
  }

  private bounds(i: number): number {
    if (!(i >= 0 && i < this.argCount)) throw new RangeError(`argument ${i} of a command with ${this.argCount}`);
    return this.at + 2 * i;
  }
}

/**
 * A command made of `args` (name first) rather than read from a stream: what the stream had, rewritten
 * (a DEL without the keys a cluster's slot migration moved). It stands at the stream's offsets given.
 */
export function commandOfArgs(db: number, args: Uint8Array[], firstOffset: number, offset: number): ReplicaCommand {
  const bytes = Buffer.concat(args);
  const bounds = new Uint32Array(2 * args.length);
  let at = 0;
  args.forEach((arg, i) => {
    bounds[2 * i] = at;
    bounds[2 * i + 1] = at += arg.length;
  });
  return new ReplicaCommand(db, new CommandBytes(bytes, bounds, 0), 0, args.length, undefined, firstOffset, offset);
}

export type FullSyncReason = 'no-checkpoint' | 'resync' | 'rescan';

export type ReplicaEvent =
  /** Connected and authenticated; PSYNC is next. */
  | { type: 'link-up'; host: string; port: number }
  /**
   * The link dropped, and why (a connection closed by the master, reset or silent says where the stream
   * stood: snapshot bytes read, offset). The replica reconnects in `reconnectInMs`; null: it ends with `error`.
   */
  | { type: 'link-down'; error: Error; reconnectInMs: number | null }
  /**
   * The master is sending a snapshot. `reason`: no checkpoint, or the master could not continue from it;
   * 'rescan': a scan source reads everything again (its notifications dropped, or a flush).
   * `replid` is '' when the master took our PSYNC for SYNC (it does so when PSYNC is renamed): offsets
   * then count from 0 and a later reconnect is a new full sync.
   */
  | { type: 'full-sync-start'; replid: string; offset: number; reason: FullSyncReason }
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
  /**
   * With restoreCommands: keys of the snapshot as RESP, `RESTORE key expire payload REPLACE ABSTTL` each
   * (SELECT as the db changes), for sending as they are; `commands` replies are due, `keys` of them copy keys;
   * they leave the connection in db `endDb` (-1: no SELECT in them, nor in earlier ones).
   */
  | { type: 'restore-commands'; bytes: Uint8Array; commands: number; keys: number; librariesLeftOut: number; endDb: number }
  /** With rdbBytes: the next bytes of the snapshot as the master sent them (RDB file bytes, transfer framing removed). */
  | { type: 'rdb-bytes'; bytes: Uint8Array }
  /**
   * The snapshot is complete; writes follow. `functions`: the code of its function libraries, when its
   * keys came as 'entry' events (restoreCommands writes them itself; rdbBytes and skipRdb leave them in the bytes).
   */
  | { type: 'full-sync-end'; replid: string; offset: number; keys: number; bytes: number; functions: string[] }
  /** The master continued from the checkpoint (+CONTINUE). */
  | { type: 'resumed'; replid: string; offset: number }
  /** The master's replication ID changed (failover, or a restarted master continuing with a new ID). */
  | { type: 'replid-changed'; from: string; to: string; offset: number }
  /** A write outside a transaction. */
  | { type: 'command'; replid: string; command: ReplicaCommand }
  /** MULTI ... EXEC: its commands, never split. `offset` is that of EXEC's last byte. */
  | { type: 'transaction'; replid: string; commands: ReplicaCommand[]; firstOffset: number; offset: number };
