// `sync`: copies a source server's keyspace into a target server and keeps applying its writes, exactly
// once. The source sees a replica (Replica: PSYNC, snapshot, stream); the target sees a client:
//   - the snapshot's keys as pipelined RESTORE ... REPLACE ABSTTL: written by the RDB core with each value
//     as the snapshot stores it when the target loads that; else entries re-encoded for the target (and
//     strings without a TTL many to an MSET), which a rename or a transform hook needs too;
//     or, with copy: 'replication', the snapshot's bytes loaded by the target itself as a replica of ours
//     (replication-copy.ts), which is then promoted back;
//   - then the writes, in order, many per MULTI/EXEC, each block ending with SET <state key> <position>,
//     so the target holds exactly the writes its stored position says (sync-state.ts).
// Any failure of the target, or of this process, is recovered the same way: reconnect, read the position
// back from the target, PSYNC from it. A copy cut short is deleted and made again; a source that cannot
// continue from the position (backlog gone, restarted without persistence) needs --resync to copy again.
import type { ConnectionOptions } from 'node:tls';
import { RdbError } from '../core/errors.js';
import { sleep } from '../node/abortable-sleep.js';
import { isEmptyCollection } from '../rdb/canonical-json.js';
import type { Int64, RdbEntry } from '../rdb/entry.js';
import { CommandBuffer, type BufferedArg } from '../resp/command-buffer.js';
import { RespErrorReply, RespReplyReader, replyText, type RespValue } from '../resp/replies.js';
import { Replica } from '../replica/replica.js';
import type { Checkpoint, ReplicaCommand, ReplicaEvent } from '../replica/events.js';
import { parseRedisUrl, type RedisEndpoint } from '../replica/redis-url.js';
import { DumpPayloadEncoder, UnrestorableEntry } from '../rdb-write/dump-payload.js';
import {
  describeServer, hasFieldTtls, hasFunctions, keepsStreamCounters, loadsAsIs, restoreTakesEvictionData, serverFormatFromInfo,
  type ServerFormat,
} from '../rdb-write/server-format.js';
import { valueTypeOf } from '../rdb/encodings.js';
import { CommandKeys } from './command-keys.js';
import { ConnectionError, RedisConnection } from './connection.js';
import { fencedBlock, TargetLost, type BlockOutcome } from './fenced-block.js';
import { KeyRoute, prefixPattern, routeDifferences, type KeyRouteOptions } from './key-route.js';
import { isFieldTtlWrite, withoutFieldTtls } from './field-ttl-writes.js';
import { ReplicationCopy } from './replication-copy.js';
import { setsStreamCounters, withoutStreamCounters } from './stream-writes.js';
import { decodeState, defaultStateKey, encodeState, isOwnStateKey, isStateKey, type StoredRoute, type SyncState } from './sync-state.js';
import { TargetHeld, TargetLease } from './target-lease.js';
import type { RunEvent } from '../pipeline/run-event.js';

/** What the transform hook sees: a key of the snapshot, or a write (either may be changed or dropped). */
export type SyncItem =
  | { kind: 'entry'; entry: RdbEntry }
  | { kind: 'command'; db: number; args: Uint8Array[] };

/** Returns the item to apply (the same, changed, or a new one), or null to leave it out. */
export type SyncTransform = (item: SyncItem) => SyncItem | null;

export interface SyncOptions extends KeyRouteOptions {
  /** redis://[user:password@]host[:port] (rediss:// for TLS) of the server to copy from. */
  source: string;
  /** The server to copy into. */
  target: string;
  sourceTls?: ConnectionOptions;
  targetTls?: ConnectionOptions;
  /** The target key holding the sync's position (default redistap:checkpoint:<source host:port>). */
  stateKey?: string;
  /** Allows deleting the target's synced keys to copy again (a non-empty target, or a source that cannot continue). */
  resync?: boolean;
  /**
   * How the snapshot reaches the target. 'restore' (default): pipelined RESTORE commands. 'replication':
   * the target, made a replica of this process for the copy (REPLICAOF), loads the snapshot with its own
   * replica code, as fast as Redis's own replica; it must be able to connect to this machine, accept
   * REPLICAOF, load the source's RDB version, and hold no other keys (the load replaces its dataset); no
   * filters, renames, db map or transform.
   */
  copy?: 'restore' | 'replication';
  transform?: SyncTransform;
  /**
   * The transform hook's name, kept in the target's state with the route: a later run with another name
   * (another hook, or a changed one) refuses to continue, as with another --prefix. Required with transform.
   */
  transformName?: string;
  /**
   * How long the target stays ours after this sync stops renewing its lease (killed, frozen, cut off), in
   * ms (default 30 s): until then another sync refuses to start on it; after, it takes over, and a block
   * of writes this sync sends later fails whole (target-lease.ts). Renewed with every block and every
   * third of it.
   */
  leaseMs?: number;
  signal?: AbortSignal;
  /** Bytes sent to the target and not yet answered, at most (default 16 MiB). */
  maxInFlightBytes?: number;
  /** No data from the source, or no reply from the target, for this long is a failure (default 60 s). */
  timeoutMs?: number;
  /** Delays between attempts after a failure: doubling from initialDelayMs (100) to maxDelayMs (5000). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Called on every event worth telling (phase changes, warnings), and with a status once a second. */
  onEvent?: (event: SyncEvent) => void;
}

export type SyncPhase = 'connecting' | 'copying' | 'streaming' | 'stopped' | 'failed';

export interface SyncStatus {
  phase: SyncPhase;
  /** The snapshot being copied (or the last one). */
  copy: {
    keys: number; skipped: number; rdbBytes: number; rdbTotal: number | null;
    /** copy: 'replication': the snapshot is sent and the target is loading it. */
    targetLoading: boolean;
  };
  /** Writes the target has confirmed, and the stream position it stores. */
  applied: { commands: number; transactions: number; replid: string; offset: number };
  /** Writes read from the source and not yet confirmed by the target: bytes, and how long the oldest has waited. */
  lag: { bytes: number; ms: number };
  warnings: number;
  /** Times the sync started over after a failure (target or source). */
  restarts: number;
}

export type SyncEvent = RunEvent<SyncStatus, SyncPhase>;

/** A failure that repeating would not cure: the sync stops with it. */
export class SyncError extends Error {
  override name = 'SyncError';
}

const COPY_CHUNK_BYTES = 256 << 10;
const BATCH_MAX_BYTES = 1 << 20;
const BATCH_MAX_COMMANDS = 1000;
const STATUS_INTERVAL_MS = 1000;
/** Commands that name another database in their arguments (COPY only with its DB option). */
const CROSS_DB = new Set(['move', 'swapdb', 'copy']);

function hasDbOption(command: ReplicaCommand): boolean {
  for (let i = 3; i < command.argCount; i++) if (command.argText(i).toLowerCase() === 'db') return true;
  return false;
}

/** Replicated commands that are not data: a replica passes them on to its own clients, a copy does not. */
const NOT_DATA = new Set(['publish', 'spublish', 'ping', 'replconf']);

/** A DUMP payload's footer: RDB version (2 bytes) and CRC64 (8). */
const PAYLOAD_FOOTER_BYTES = 10;
/** Redis's and Valkey's default proto-max-bulk-len. */
const DEFAULT_MAX_BULK_BYTES = 512 << 20;

/** The longest argument the target reads (proto-max-bulk-len), or the default when CONFIG is not allowed. */
async function maxBulkBytesOf(target: RedisConnection): Promise<number> {
  const reply = await target.call(['CONFIG', 'GET', 'proto-max-bulk-len']);
  const value = Array.isArray(reply) && reply.length >= 2 ? Number(replyText(reply[1]!)) : NaN;
  return Number.isSafeInteger(value) && value > 0 ? value : DEFAULT_MAX_BULK_BYTES;
}

/** RESTORE's IDLETIME <s> or FREQ <n> for the LRU or LFU data the snapshot keeps for an entry. */
function evictionArgs(entry: RdbEntry): BufferedArg[] {
  if (entry.idleSeconds !== undefined) return ['IDLETIME', entry.idleSeconds];
  return entry.lfuFreq !== undefined ? ['FREQ', entry.lfuFreq] : [];
}

function noCopyYet(): SyncStatus['copy'] {
  return { keys: 0, skipped: 0, rdbBytes: 0, rdbTotal: null, targetLoading: false };
}

function retryable(error: unknown): boolean {
  if (error instanceof SyncError) return false;
  if (error instanceof ConnectionError) return error.retryable;
  return false;
}

const utf8 = new TextDecoder();
const ascii = (text: string) => new TextEncoder().encode(text);
// RESTORE's constant arguments, encoded once.
const RESTORE = ascii('RESTORE');
const REPLACE = ascii('REPLACE');
const ABSTTL = ascii('ABSTTL');
const ZERO = ascii('0');
const MSET = ascii('MSET');
/** Strings per MSET, at most, and their bytes. */
const MSET_KEYS = 128;
const MSET_BYTES = 256 << 10;

/** A block of writes being filled: its commands' names (for errors) and the position it ends at. */
interface Batch {
  names: string[];
  /** Source writes among the commands. */
  writes: number;
  position: Checkpoint;
  openedMs: number;
}

/** One attempt: a target connection and a replica, until stopped or failed. */
class Session {
  private readonly buffer = new CommandBuffer();
  private readonly encoder: DumpPayloadEncoder;
  /** The db the target connection is in once everything buffered so far has run (-1: unknown). */
  private connectionDb = 0;
  /** The db the buffer's first command expects (connectionDb when the buffer was last empty). */
  private bufferStartDb = 0;
  /** When the lease was last renewed (a block or a renewal sent). */
  private renewedMs = Date.now();
  private renewal: ReturnType<typeof setInterval> | null = null;
  /** Keys and values of strings waiting for their MSET, all of db stringsDb. */
  private strings: Uint8Array[] = [];
  private stringsDb = 0;
  private stringBytes = 0;
  private batch: Batch | null = null;
  private failure: unknown = null;
  private replica: Replica | null = null;
  private stopped = false;
  /** Where the last write put in a block stands (what the next block starts from). */
  private position: Checkpoint = { replid: '', offset: 0, db: 0 };
  /** Batches sent and not confirmed: when each was opened (for lag). */
  private readonly unconfirmed: number[] = [];

  /** The target loads the snapshot as a replica of ours (copy: 'replication'). */
  private readonly copiesByReplication: boolean;
  /** Else the core writes the copy's RESTOREs, values as the source stores them (the target loads them as they are). */
  private readonly copiesAsStored: boolean;
  /** The copy under way through the target's replication link. */
  private replicationCopy: ReplicationCopy | null = null;
  /** Writes of field TTLs went to a target without them (field-ttl-writes.ts): said once. */
  private warnedFieldTtlWrites = false;
  /** Function libraries of the snapshot being copied that the target could not get. */
  private librariesLeftOut = 0;

  constructor(private readonly sync: Sync, private readonly target: RedisConnection, private readonly targetFormat: ServerFormat,
    sourceFormat: ServerFormat, private readonly keys: CommandKeys | null, private readonly maxBulkBytes: number) {
    this.encoder = new DumpPayloadEncoder(targetFormat);
    this.copiesByReplication = sync.options.copy === 'replication';
    this.copiesAsStored = !this.copiesByReplication && !sync.options.transform && !sync.route.renames && loadsAsIs(sourceFormat, targetFormat);
    if (this.copiesByReplication && !loadsAsIs(sourceFormat, targetFormat)) {
      throw new SyncError(`--copy replication: the target (${describeServer(targetFormat)}) cannot load the snapshot of the source (${describeServer(sourceFormat)}) as it is; use --copy restore`);
    }
  }

  get oldestUnconfirmedMs(): number | null {
    return this.batch?.openedMs ?? this.unconfirmed[0] ?? null;
  }

  get queuedBytes(): number {
    const backlog = this.replica?.backlog;
    return (backlog ? backlog.queuedBytes + backlog.spooledBytes : 0) + this.target.inFlightBytes + this.buffer.length;
  }

  stop(): void {
    this.stopped = true;
    this.replica?.stop();
  }

  async run(): Promise<void> {
    const sync = this.sync;
    const before = await this.readState();
    await this.leaseStep(sync.lease.refuseIfHeld((args) => this.target.call(args)));
    // A target an interrupted --copy replication left a replica of ours is promoted (a replica takes no
    // writes, the claim's neither): what it holds is an incomplete copy, as a stored 'copying' state says.
    const reclaimed = await ReplicationCopy.reclaim(this.target, before?.state === 'copying', (message) => sync.warn(message));
    await this.claimLease();
    this.renewal = setInterval(() => this.renewLease(), sync.lease.leaseMs / 3);
    let ended: unknown = null;
    try {
      await this.runHoldingTarget(reclaimed);
    } catch (err) {
      ended = err;
      throw err;
    } finally {
      clearInterval(this.renewal);
      // Stopped, or failed for good: the next sync need not wait for the lease to end. (A sync that will
      // try again keeps it.)
      if (!retryable(ended)) await this.target.call(this.sync.lease.releaseCommand()).catch(() => undefined);
    }
  }

  private async runHoldingTarget(reclaimed: boolean): Promise<void> {
    const sync = this.sync;
    let stored = await this.readState();
    if (stored && !(await this.sameRoute(stored))) stored = null;
    if (!stored && !reclaimed) await this.claimTarget();
    const from = stored?.state === 'streaming' ? stored : null;
    if (from) {
      this.position = { replid: from.replid, offset: from.offset, db: from.db };
      sync.applied(this.position, 0, 0);
    }
    this.replica = new Replica({
      url: sync.options.source, tls: sync.options.sourceTls, checkpoint: from && { replid: from.replid, offset: from.offset, db: from.db },
      timeoutMs: sync.options.timeoutMs, reconnect: sync.options.reconnect,
      rdbBytes: this.copiesByReplication,
      maxScratchBytes: this.copiesAsStored ? this.maxBulkBytes - PAYLOAD_FOOTER_BYTES : undefined,
      restoreCommands: this.copiesAsStored ? {
        routeKey: (db, rdbType, key) => this.routeStored(db, rdbType, key), routeEveryKey: !sync.route.identity,
        functions: hasFunctions(this.targetFormat),
      } : undefined,
    });
    if (this.stopped) this.replica.stop();
    try {
      await this.replica.run((event) => this.handle(event));
    } catch (err) {
      if (err instanceof RdbError && err.kind === 'too-large' && this.copiesAsStored) {
        throw this.tooLarge(`a value of the snapshot (at byte offset ${err.offset})`, err.detail + PAYLOAD_FOOTER_BYTES);
      }
      throw err;
    } finally {
      this.replica.stop();
      // Stopped or failed during such a copy: the target must not stay a replica of ours.
      await this.replicationCopy?.abandon().catch(() => undefined);
    }
    if (this.failure) throw this.failure;
    // Stopped: what was taken from the source is applied before the sync ends.
    if (this.batch) this.sendBatch();
    await this.target.below(0);
    if (this.failure) throw this.failure;
  }

  private handle(event: ReplicaEvent): void | Promise<void> {
    if (this.failure) {
      this.replica!.stop();
      return;
    }
    switch (event.type) {
      case 'entry': return this.copy(event.entry);
      case 'restore-commands':
        this.librariesLeftOut += event.librariesLeftOut;
        return this.sendRestores(event.bytes, event.commands, event.keys, event.endDb);
      case 'rdb-bytes': return this.replicationCopy!.forward(event.bytes);
      case 'command': return this.apply([event.command], event.replid, event.command.offset);
      case 'transaction': return this.apply(event.commands, event.replid, event.offset);
      case 'full-sync-start': return this.startCopy(event.replid, event.offset, event.reason);
      case 'rdb-progress':
        this.sync.copyProgress(event.bytes, event.total);
        return;
      case 'full-sync-end': return this.endCopy(event.replid, event.offset, event.functions);
      case 'flush': return event.cause === 'command' ? this.flushByCommand(event.db) : undefined;
      case 'resumed':
        this.sync.phase('streaming', `resumed from the source at offset ${event.offset} of ${event.replid}`);
        return;
      case 'link-down':
        this.sync.warn(`the source link dropped${event.error ? `: ${event.error.message}` : ''}; reconnecting`);
        return;
      case 'link-up':
      case 'replid-changed':
        return;
    }
  }

  // ------------------------------------------------------------------ state, and the target's synced keys

  private async readState(): Promise<SyncState | null> {
    await this.select(0);
    const value = await this.target.ok(['GET', this.sync.stateKey]);
    return value instanceof Uint8Array ? decodeState(this.sync.stateKey, value) : null;
  }

  private stateCommand(position: Checkpoint, state: SyncState['state']): BufferedArg[] {
    const value: SyncState = { ...position, state, source: this.sync.sourceName, writtenMs: Date.now(), route: this.sync.storedRoute };
    return ['SET', this.sync.stateKey, encodeState(value)];
  }

  /**
   * Whether the stored state's data went through this run's route. Another route refuses (the target
   * would hold a mix of two), unless --resync: then what the stored route wrote is deleted here, what
   * this one writes by claimTarget, and everything is copied again (false).
   */
  private async sameRoute(stored: SyncState): Promise<boolean> {
    const sync = this.sync;
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
    await this.deleteOwnedKeys(null, previous);
    return false;
  }

  /** Commands as one fenced block in db `db`; rejects when the target refused any of them. */
  private async guarded(db: number, commands: BufferedArg[][]): Promise<void> {
    const names = this.selectInBuffer(db) ? ['SELECT'] : [];
    for (const command of commands) {
      this.buffer.command(command);
      names.push(String(command[0]));
    }
    const { replies } = await this.sendBlock();
    const refused = replies.findIndex((r) => r instanceof RespErrorReply);
    if (refused >= 0) throw new SyncError(`the target refused ${names[refused]}: ${(replies[refused] as RespErrorReply).message}`);
  }

  private claimLease(): Promise<void> {
    return this.leaseStep(this.sync.lease.claim((args) => this.target.call(args)));
  }

  /** A step of the lease: another sync holding the target stops this one (retrying cannot help). */
  private async leaseStep(step: Promise<void>): Promise<void> {
    try {
      await step;
    } catch (err) {
      throw err instanceof TargetHeld ? new SyncError(err.message) : err;
    }
  }

  /** This sync's keys on the target (its state, lease, owner and fence keys), which a replication copy replaces too. */
  private async stateKeysOnTarget(): Promise<number> {
    let count = 0;
    const stateKey = new TextEncoder().encode(this.sync.stateKey);
    await this.scanKeys(0, prefixPattern(stateKey), isOwnStateKey(this.sync.stateKey), async (keys) => {
      count += keys.length;
      return true;
    });
    return count;
  }

  /** Sends the buffer's commands as one fenced block (fenced-block.ts). */
  private async sendBlock(): Promise<BlockOutcome> {
    const count = this.buffer.commands;
    return this.sendFenced(this.buffer.take(), count, this.bufferStartDb);
  }

  private async sendFenced(commands: Uint8Array, count: number, startDb: number): Promise<BlockOutcome> {
    this.bufferStartDb = this.connectionDb;
    const block = fencedBlock(this.sync.lease, commands, count, startDb);
    this.renewedMs = Date.now();
    return block.outcome(await this.target.send(block.parts, block.replies));
  }

  /**
   * Renews the lease when no block has for a third of it (a block's guard renews it too). Not while the
   * target is a replica loading from us (--copy replication): it takes no writes, so no other sync can
   * claim it either; the load replaces the lease anyway, and endCopy claims the target again.
   */
  private renewLease(): void {
    const every = this.sync.lease.leaseMs / 3;
    if (this.replicationCopy || Date.now() - this.renewedMs < every) return;
    this.renewedMs = Date.now();
    this.target.call(this.sync.lease.guardCommand()).then((reply) => {
      if (reply === 1) return;
      // A target loading its data (restarted) answers LOADING: the lease may lapse meanwhile.
      if (reply instanceof RespErrorReply && (reply.code === 'LOADING' || reply.code === 'BUSY')) return;
      this.fail(reply === 0 ? new TargetLost() : new SyncError(`the target refused the sync's lease renewal: ${reply instanceof RespErrorReply ? reply.message : String(reply)}`));
    }, () => undefined); // a failed connection fails the session through its own path
  }

  /** First start on this target: where the sync writes must be empty, unless --resync allows deleting it. */
  private async claimTarget(): Promise<void> {
    const found = await this.forEachOwnedKey(async () => false);
    if (found === null) return;
    if (!this.sync.options.resync) {
      throw new SyncError(`the target already holds keys where this sync would write (db ${found.db}, e.g. ${JSON.stringify(utf8.decode(found.key))}); ` +
        `it writes ${this.sync.route.describe()}: sync into an empty target (or another --prefix / --db-map), or pass --resync to delete them first`);
    }
    this.sync.warn(`--resync: deleting the target's keys where this sync writes (${this.sync.route.describe()})`);
    await this.deleteOwnedKeys(null);
  }

  /**
   * Calls `visit` with each batch of owned keys of a db (SCAN); stops early and returns the first key seen
   * when `visit` resolves false. Returns null when it saw every key (or none).
   */
  private async forEachOwnedKey(visit: (db: number, keys: Uint8Array[]) => Promise<boolean>, onlyDb: number | null = null,
    route = this.sync.route): Promise<{ db: number; key: Uint8Array } | null> {
    for (const db of onlyDb === null ? await this.targetDbsWithKeys(route) : [onlyDb]) {
      const first = await this.scanKeys(db, route.scanPattern, (key) => route.owns(key), (keys) => visit(db, keys));
      if (first !== null) return { db, key: first };
    }
    return null;
  }

  /**
   * SCANs a db for the keys matching `pattern` that `keep` accepts, calling `visit` with each non-empty
   * batch; stops early and returns the batch's first key when `visit` resolves false, else null.
   */
  private async scanKeys(db: number, pattern: Uint8Array, keep: (key: Uint8Array) => boolean,
    visit: (keys: Uint8Array[]) => Promise<boolean>): Promise<Uint8Array | null> {
    await this.select(db);
    let cursor = '0';
    do {
      const reply = await this.target.ok(['SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000]) as RespValue[];
      cursor = replyText(reply[0]!);
      const kept = (reply[1] as Uint8Array[]).filter(keep);
      if (kept.length > 0 && !(await visit(kept))) return kept[0]!;
    } while (cursor !== '0');
    return null;
  }

  private async targetDbsWithKeys(route: KeyRoute): Promise<number[]> {
    const info = replyText(await this.target.ok(['INFO', 'keyspace']));
    const present = [...info.matchAll(/^db(\d+):keys=/gm)].map((m) => Number(m[1]));
    const synced = route.targetDbs;
    return synced ? present.filter((db) => synced.includes(db)) : present;
  }

  /** Deletes the keys a route (this sync's by default) owns on the target: in one db, or in all (null). */
  private async deleteOwnedKeys(db: number | null, route = this.sync.route): Promise<void> {
    await this.forEachOwnedKey(async (keysDb, keys) => {
      await this.guarded(keysDb, [['UNLINK', ...keys]]);
      return true;
    }, db, route);
  }

  /** SELECT sent at once (the buffer is empty). */
  private async select(db: number): Promise<void> {
    if (db === this.connectionDb) return;
    await this.target.ok(['SELECT', db]);
    this.connectionDb = this.bufferStartDb = db;
  }

  private selectInBuffer(db: number): number {
    if (db === this.connectionDb) return 0;
    this.buffer.command(['SELECT', db]);
    this.connectionDb = db;
    return 1;
  }

  // ------------------------------------------------------------------ the copy

  private async startCopy(replid: string, offset: number, reason: 'no-checkpoint' | 'resync'): Promise<void> {
    const sync = this.sync;
    if (reason === 'resync' && !sync.options.resync) {
      throw new SyncError(`the source cannot continue from the target's position (offset ${sync.status.applied.offset} of ${sync.status.applied.replid}): ` +
        'its backlog no longer holds the writes since, or it restarted without its data. Run again with --resync to delete the target\'s synced keys and copy everything again');
    }
    if (this.batch) this.sendBatch();
    // A snapshot that came again (the source link dropped during one): the target drops its partial load.
    await this.replicationCopy?.abandon();
    this.replicationCopy = null;
    if (reason === 'resync') sync.warn('--resync: the source cannot continue from the target\'s position; copying everything again');
    // Everything this sync owns on the target was written by it (claimTarget), and is stale now.
    await this.target.below(0);
    await this.deleteOwnedKeys(null);
    await this.guarded(0, [this.stateCommand({ replid, offset, db: 0 }, 'copying')]);
    sync.startCopy();
    this.librariesLeftOut = 0;
    if (this.copiesByReplication) return this.startReplicationCopy(replid);
    // The core's commands start with a SELECT, and leave the connection in the db of the last key.
    if (this.copiesAsStored) this.connectionDb = this.bufferStartDb = -1;
    sync.phase('copying', `copying the source's snapshot (replication ID ${replid || '(none)'})`);
  }

  private async startReplicationCopy(replid: string): Promise<void> {
    this.replicationCopy = await ReplicationCopy.start(this.target, await this.stateKeysOnTarget());
    this.sync.phase('copying', `copying the source's snapshot (replication ID ${replid || '(none)'}) through the target's replication link: ` +
      'the target is a replica of redistap until it has loaded it');
  }

  private copy(entry: RdbEntry): void | Promise<void> {
    const sync = this.sync;
    const placed = sync.route.place(entry.db, entry.key);
    if (placed === null) return;
    const { db, key } = placed;
    let item: RdbEntry | null = key === entry.key && db === entry.db ? entry : { ...entry, db, key };
    if (sync.options.transform) {
      const out = sync.options.transform({ kind: 'entry', entry: item });
      item = out?.kind === 'entry' ? out.entry : null;
      if (out?.kind === 'command') throw new SyncError('the transform hook turned a snapshot entry into a command: return an entry, or null');
    }
    if (item === null || isEmptyCollection(item)) return;
    sync.copied();
    const keepsEviction = (item.idleSeconds !== undefined || item.lfuFreq !== undefined) && restoreTakesEvictionData(this.targetFormat);
    if (item.type === 'string' && item.expireMs === null && !keepsEviction) return this.copyString(item.db, item.key, item.value);
    let payload: Uint8Array;
    try {
      payload = this.encoder.encode(item);
    } catch (err) {
      if (!(err instanceof UnrestorableEntry)) throw err;
      sync.skipped(`key ${JSON.stringify(utf8.decode(item.key))} (db ${item.db}) not copied: ${err.message}`);
      return;
    }
    return this.restore(item.db, item.key, item.expireMs, payload, keepsEviction ? evictionArgs(item) : []);
  }

  /** A value the target would refuse to read as one command (it drops the connection: retrying cannot help). */
  private tooLarge(what: string, bytes: number): SyncError {
    return new SyncError(`${what} takes ${bytes} bytes in one command, more than the target accepts (proto-max-bulk-len ${this.maxBulkBytes}): ` +
      'raise proto-max-bulk-len on the target, or use --copy replication');
  }

  /** RESTORE ... REPLACE ABSTTL of one key into the copy's pipeline. */
  private restore(db: number, key: Uint8Array, expireMs: Int64 | null, payload: Uint8Array, eviction: BufferedArg[]): void | Promise<void> {
    if (payload.length > this.maxBulkBytes) throw this.tooLarge(`key ${JSON.stringify(utf8.decode(key))} (db ${db})`, payload.length);
    this.selectInBuffer(db);
    this.buffer.command([RESTORE, key, expireMs ?? ZERO, payload, REPLACE, ABSTTL, ...eviction]);
    if (this.buffer.length >= COPY_CHUNK_BYTES) return this.sendCopy();
  }

  /**
   * Strings without a TTL, the most common keys, go many to an MSET: one command per MSET_KEYS keys costs
   * the target a fraction of a RESTORE each, and needs no payload. (The snapshot holds each key once, so
   * their order among the other keys does not matter.)
   */
  private copyString(db: number, key: Uint8Array, value: Uint8Array): void | Promise<void> {
    if (value.length > this.maxBulkBytes) throw this.tooLarge(`key ${JSON.stringify(utf8.decode(key))} (db ${db})`, value.length);
    if (this.strings.length > 0 && db !== this.stringsDb) this.flushStrings();
    this.stringsDb = db;
    this.strings.push(key, value);
    this.stringBytes += key.length + value.length;
    if (this.strings.length >= 2 * MSET_KEYS || this.stringBytes >= MSET_BYTES) {
      this.flushStrings();
      if (this.buffer.length >= COPY_CHUNK_BYTES) return this.sendCopy();
    }
  }

  private flushStrings(): void {
    if (this.strings.length === 0) return;
    this.selectInBuffer(this.stringsDb);
    this.buffer.commandOf(this.strings.length + 1, (i) => (i === 0 ? MSET : this.strings[i - 1]!));
    this.strings = [];
    this.stringBytes = 0;
  }

  /** FUNCTION LOAD REPLACE of each library the target can take; the others are counted for a warning. */
  private copyFunctions(functions: string[]): void {
    for (const code of functions) {
      // A release candidate's library is parts without the "#!" header FUNCTION LOAD needs.
      if (hasFunctions(this.targetFormat) && code.startsWith('#!')) this.buffer.command(['FUNCTION', 'LOAD', 'REPLACE', code]);
      else this.librariesLeftOut++;
    }
  }

  /** The target db of a key the core copies as stored (-1: not copied). */
  private routeStored(db: number, rdbType: number, key: Uint8Array): number {
    if (valueTypeOf(rdbType) === 'module') {
      this.sync.skipped(`key ${JSON.stringify(utf8.decode(key))} (db ${db}) not copied: a module value: only the module itself could rebuild it`);
      return -1;
    }
    return this.sync.route.place(db, key)?.db ?? -1;
  }

  /** RESTORE commands the core wrote (SELECTs among them), which leave the connection in db `endDb`. */
  private sendRestores(bytes: Uint8Array, commands: number, keys: number, endDb: number): Promise<void> {
    this.sync.copied(keys);
    const startDb = this.connectionDb;
    this.connectionDb = endDb;
    return this.sendCopyCommands(bytes, commands, startDb);
  }

  private sendCopy(): Promise<void> {
    const commands = this.buffer.commands;
    return this.sendCopyCommands(this.buffer.take(), commands, this.bufferStartDb);
  }

  /**
   * Sends copy commands (SELECT, RESTORE, MSET, FUNCTION LOAD) as a fenced block; a refusal fails the
   * sync naming the command's key (its first, for MSET), read back from the bytes sent: errors are rare,
   * the copy's commands many.
   */
  private sendCopyCommands(bytes: Uint8Array, commands: number, startDb: number): Promise<void> {
    this.sendFenced(bytes, commands, startDb).then(({ replies }) => {
      const refused = replies.findIndex((reply) => reply instanceof RespErrorReply);
      if (refused < 0) return;
      const [name, arg] = (new RespReplyReader().write(bytes)[refused] as Uint8Array[]).map((a) => utf8.decode(a));
      const what = name === 'SELECT' ? `db ${arg}` : name === 'FUNCTION' ? 'a function library' : JSON.stringify(arg);
      this.fail(new SyncError(`the target refused to copy ${what}: ${(replies[refused] as RespErrorReply).message}`));
    }, (err: unknown) => this.fail(err));
    return this.target.below(this.sync.maxInFlightBytes);
  }

  /** `functions`: the snapshot's function libraries, when its keys came as entries (the core writes them itself). */
  private async endCopy(replid: string, offset: number, functions: string[]): Promise<void> {
    if (this.replicationCopy) {
      this.sync.status.copy.targetLoading = true;
      try {
        this.sync.copied(await this.replicationCopy.finish());
      } finally {
        this.sync.status.copy.targetLoading = false;
      }
      this.replicationCopy = null;
      // The load replaced the whole dataset, our lease and state with it: the target is claimed again
      // (refused if another sync claimed it meanwhile).
      await this.claimLease();
    }
    this.flushStrings();
    this.copyFunctions(functions);
    if (this.buffer.commands > 0) await this.sendCopy();
    await this.target.below(0);
    if (this.failure) throw this.failure;
    const dropped = this.encoder.droppedFieldTtls;
    if (dropped > 0) this.sync.warn(`${dropped} hash(es) copied without their field TTLs: the target has none (Redis 7.4 and Valkey 9.0 have them)`);
    if (this.librariesLeftOut > 0) {
      this.sync.warn(`${this.librariesLeftOut} function librar${this.librariesLeftOut === 1 ? 'y' : 'ies'} of the snapshot not copied: ` +
        'the target has no functions (Redis 7.0+ and Valkey have them), or they are in a Redis 7.0 release candidate\'s format');
    }
    const position = this.position = { replid, offset, db: 0 };
    await this.guarded(0, [this.stateCommand(position, 'streaming')]);
    this.sync.applied(position, 0, 0);
    this.sync.phase('streaming', `snapshot copied (${this.sync.status.copy.keys} keys); applying writes`);
  }

  // ------------------------------------------------------------------ the writes

  /** FLUSHALL / FLUSHDB on the source: passed through when every key syncs as it is, else our keys deleted. */
  private async flushByCommand(db: number | null): Promise<void> {
    const route = this.sync.route;
    if (route.identity) return;
    if (this.batch) this.sendBatch();
    await this.target.below(0);
    const target = db === null ? null : route.targetDb(db);
    if (db !== null && target === null) return;
    await this.deleteOwnedKeys(target);
  }

  private apply(commands: ReplicaCommand[], replid: string, offset: number): void | Promise<void> {
    for (const command of commands) this.checkArgumentSizes(command); // before any of them is in a block
    const batch = this.openBatch();
    let db = batch.position.db;
    for (const command of commands) {
      db = command.db;
      this.translate(command, batch);
    }
    batch.position = this.position = { replid, offset, db };
    if (this.buffer.length >= BATCH_MAX_BYTES || batch.names.length >= BATCH_MAX_COMMANDS) {
      this.sendBatch();
      return this.target.below(this.sync.maxInFlightBytes);
    }
  }

  /** A write the target would refuse to read (it drops the connection: retrying cannot help) stops the sync. */
  private checkArgumentSizes(command: ReplicaCommand): void {
    if (command.offset - command.firstOffset + 1 <= this.maxBulkBytes) return; // no argument can be longer
    for (let i = 0; i < command.argCount; i++) {
      const length = command.arg(i).length;
      if (length > this.maxBulkBytes) {
        throw new SyncError(`${command.name.toUpperCase()} at offset ${command.offset} has an argument of ${length} bytes, more than the target ` +
          `accepts (proto-max-bulk-len ${this.maxBulkBytes}): raise proto-max-bulk-len on the target`);
      }
    }
  }

  private openBatch(): Batch {
    if (this.batch) return this.batch;
    this.batch = { names: [], writes: 0, position: this.position, openedMs: Date.now() };
    // The block closes once the events already received are in it (they come without a turn of the loop).
    setImmediate(() => {
      if (this.batch) this.sendBatch();
    });
    return this.batch;
  }

  /** Adds a source command to the block, as the target should run it (or nothing). */
  private translate(command: ReplicaCommand, batch: Batch): void {
    const sync = this.sync;
    const route = sync.route;
    const name = command.name;
    if (NOT_DATA.has(name)) return;
    const db = route.targetDb(command.db);
    if (db === null) return;
    if ((name === 'flushall' || name === 'flushdb') && !route.identity) return; // done by flushByCommand
    if (!route.allDbsAsThey && CROSS_DB.has(name) && (name !== 'copy' || hasDbOption(command))) {
      sync.warn(`${name.toUpperCase()} at offset ${command.offset} not applied: it names a database, which --db/--db-map would have to change`);
      return;
    }
    let args: Uint8Array[] | null = null;
    if (route.touchesKeys) {
      args = this.routedArgs(command);
      if (args === null) return;
    }
    let [targetDb, targetName] = [db, name];
    if (sync.options.transform) {
      const out = sync.options.transform({ kind: 'command', db, args: args ?? command.args });
      if (out === null) return;
      if (out.kind !== 'command') throw new SyncError('the transform hook turned a write into an entry: return a command, or null');
      [targetDb, args, targetName] = [out.db, out.args, utf8.decode(out.args[0]).toLowerCase()];
    }
    if (isFieldTtlWrite(targetName) && !hasFieldTtls(this.targetFormat)) {
      args = withoutFieldTtls(targetName, args ?? command.args);
      this.fieldTtlWriteChanged(command);
      if (args === null) return;
      targetName = utf8.decode(args[0]).toLowerCase();
    }
    if (setsStreamCounters(targetName) && !keepsStreamCounters(this.targetFormat)) {
      args = withoutStreamCounters(targetName, args ?? command.args);
    }
    if (this.selectInBuffer(targetDb)) batch.names.push('select');
    if (args) this.buffer.command(args);
    else this.buffer.commandOf(command.argCount, (i) => command.arg(i));
    batch.names.push(targetName);
    batch.writes++;
    if (targetName === 'flushall' || targetName === 'flushdb' || targetName === 'swapdb') this.keepOwnKeys(targetName, targetDb, args ?? command.args, batch);
  }

  /**
   * A FLUSHALL, FLUSHDB or SWAPDB passed through as it is empties db 0 or swaps it, and our state, owner
   * and lease keys live there: the owner and lease are written again in the same block (the state is at
   * its end), and SWAPDB's copies in the other db deleted.
   */
  private keepOwnKeys(name: string, db: number, args: Uint8Array[], batch: Batch): void {
    const put = (inDb: number, command: BufferedArg[]) => {
      if (this.selectInBuffer(inDb)) batch.names.push('select');
      this.buffer.command(command);
      batch.names.push(String(command[0]).toLowerCase());
    };
    if (name === 'flushdb' && db !== 0) return;
    if (name === 'swapdb') {
      const [a, b] = [1, 2].map((i) => Number(utf8.decode(args[i])));
      if (a === b || (a !== 0 && b !== 0)) return;
      put(a === 0 ? b! : a!, ['DEL', this.sync.stateKey, ...this.sync.lease.keys]);
    }
    for (const command of this.sync.lease.ownerCommands()) put(0, command);
  }

  /** Once per session: writes of field TTLs reach a target without them as what it can apply. */
  private fieldTtlWriteChanged(command: ReplicaCommand): void {
    if (this.warnedFieldTtlWrites) return;
    this.warnedFieldTtlWrites = true;
    this.sync.warn(`${command.name.toUpperCase()} at offset ${command.offset}: the target has no hash field TTLs, so such writes ` +
      'go without them (HSETEX as HSET, TTL-only commands left out); fields still go when they expire on the source, which sends HDEL');
  }

  /** The command's arguments with its keys renamed; null when it is not synced (filtered, or cannot be told). */
  private routedArgs(command: ReplicaCommand): Uint8Array[] | null {
    const positions = this.keys!.positions(command.name, command);
    if (positions === null) {
      this.sync.warn(`${command.name.toUpperCase()} at offset ${command.offset} not applied: its keys cannot be told, so --prefix/--key/--rename cannot be applied to it`);
      return null;
    }
    const args = command.args;
    let kept = 0;
    for (const at of positions) {
      const key = this.sync.route.key(args[at]!);
      if (key !== null) {
        args[at] = key;
        kept++;
      }
    }
    if (kept === positions.length) return args;
    if (kept > 0) {
      this.sync.warn(`${command.name.toUpperCase()} at offset ${command.offset} not applied: it touches keys both inside and outside the synced keys`);
    }
    return null;
  }

  private sendBatch(): void {
    const batch = this.batch!;
    this.batch = null;
    const stateDb = 0;
    if (this.selectInBuffer(stateDb)) batch.names.push('select');
    this.buffer.command(this.stateCommand(batch.position, 'streaming'));
    batch.names.push('set');
    this.unconfirmed.push(batch.openedMs);
    this.sendBlock().then((outcome) => {
      this.unconfirmed.shift();
      this.confirm(batch, outcome);
    }, (err: unknown) => this.fail(err));
  }

  private confirm(batch: Batch, { applied, replies }: BlockOutcome): void {
    if (!applied) {
      const refused = replies.findIndex((r) => r instanceof RespErrorReply);
      const why = refused >= 0 ? `${batch.names[refused]!.toUpperCase()}: ${(replies[refused] as RespErrorReply).message}` : 'EXEC failed';
      this.fail(new SyncError(`the target refused a block of writes (nothing of it applied): ${why}`));
      return;
    }
    replies.forEach((reply, i) => {
      if (reply instanceof RespErrorReply) this.sync.warn(`the target answered ${batch.names[i]!.toUpperCase()} with an error (the source did not): ${reply.message}`);
    });
    this.sync.applied(batch.position, batch.writes, 1);
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    this.replica?.stop();
  }
}

export class Sync {
  readonly options: SyncOptions;
  readonly route: KeyRoute;
  /** The route as the target's state records it. */
  readonly storedRoute: StoredRoute;
  readonly lease: TargetLease;
  readonly stateKey: string;
  readonly sourceName: string;
  readonly maxInFlightBytes: number;
  readonly status: SyncStatus = {
    phase: 'connecting',
    copy: noCopyYet(),
    applied: { commands: 0, transactions: 0, replid: '', offset: 0 },
    lag: { bytes: 0, ms: 0 },
    warnings: 0,
    restarts: 0,
  };
  /** Resolves when the sync has stopped (signal) and applied what it took; rejects with what ended it. */
  readonly done: Promise<SyncStatus>;
  private readonly source: RedisEndpoint;
  private readonly targetEndpoint: RedisEndpoint;
  private readonly abort = new AbortController();
  private session: Session | null = null;
  private keys: CommandKeys | null = null;

  constructor(options: SyncOptions) {
    this.options = options;
    this.source = parseRedisUrl(options.source);
    this.targetEndpoint = parseRedisUrl(options.target);
    this.sourceName = `${this.source.host}:${this.source.port}`;
    this.stateKey = options.stateKey ?? defaultStateKey(this.source);
    this.route = new KeyRoute(options, isStateKey(this.stateKey));
    if (options.transform && !options.transformName) {
      throw new TypeError('a transform hook needs a transformName: the target records it, so that a run with another hook does not continue what this one wrote');
    }
    this.storedRoute = { ...this.route.record, transform: options.transform ? options.transformName! : null };
    if (options.leaseMs !== undefined && !(Number.isFinite(options.leaseMs) && options.leaseMs >= 300)) {
      throw new TypeError(`leaseMs must be at least 300 ms, got ${options.leaseMs}`);
    }
    this.lease = new TargetLease(this.stateKey, options.leaseMs);
    if (options.copy !== undefined && options.copy !== 'restore' && options.copy !== 'replication') {
      throw new TypeError(`copy must be 'restore' or 'replication', got ${JSON.stringify(options.copy)}`);
    }
    if (options.copy === 'replication' && (!this.route.identity || options.transform)) {
      throw new TypeError('--copy replication copies the whole dataset as it is: it cannot be combined with --db, --db-map, ' +
        '--prefix, --key, --rename or a transform hook; use --copy restore');
    }
    this.maxInFlightBytes = options.maxInFlightBytes ?? 16 << 20;
    options.signal?.addEventListener('abort', () => this.stop(), { once: true });
    this.done = this.run();
    this.done.catch(() => undefined); // the caller may only look at status; the rejection is theirs to read
  }

  /** Stops: the writes already taken from the source are applied, then `done` resolves. */
  stop(): void {
    this.abort.abort();
    this.session?.stop();
  }

  private async run(): Promise<SyncStatus> {
    const { initialDelayMs = 100, maxDelayMs = 5000 } = this.options.reconnect ?? {};
    let delay = initialDelayMs;
    const timer = setInterval(() => this.emitStatus(), STATUS_INTERVAL_MS);
    try {
      while (!this.abort.signal.aborted) {
        try {
          await this.attempt();
          break;
        } catch (err) {
          if (!retryable(err) || this.abort.signal.aborted) throw err;
          this.status.restarts++;
          this.warn(`${(err as Error).message}; trying again in ${delay} ms (from the position the target holds)`);
          await sleep(delay, this.abort.signal);
          delay = Math.min(delay * 2, maxDelayMs);
        }
      }
      this.phase('stopped', 'stopped');
      return this.status;
    } catch (err) {
      this.phase('failed', (err as Error).message);
      throw err;
    } finally {
      clearInterval(timer);
      this.emitStatus();
    }
  }

  private async attempt(): Promise<void> {
    const timeoutMs = this.options.timeoutMs;
    // What the source writes (can its values go to the target as they are?), and its command table for filters.
    const source = await RedisConnection.open({ endpoint: this.source, tls: this.options.sourceTls, timeoutMs, role: 'source' });
    let sourceFormat: ServerFormat;
    try {
      sourceFormat = serverFormatFromInfo(replyText(await source.ok(['INFO', 'server'])));
      if (this.route.touchesKeys && !this.keys) this.keys = await CommandKeys.load(source);
    } finally {
      source.close();
    }
    const target = await RedisConnection.open({ endpoint: this.targetEndpoint, tls: this.options.targetTls, timeoutMs, role: 'target' });
    try {
      const targetFormat = serverFormatFromInfo(replyText(await target.ok(['INFO', 'server'])));
      const session = new Session(this, target, targetFormat, sourceFormat, this.keys, await maxBulkBytesOf(target));
      this.session = session;
      if (this.abort.signal.aborted) session.stop();
      await session.run();
    } catch (err) {
      throw err instanceof ConnectionError || err instanceof SyncError ? err : new SyncError((err as Error).message, { cause: err });
    } finally {
      this.session = null;
      target.close();
    }
  }

  // ------------------------------------------------------------------ what sessions report

  phase(phase: SyncPhase, detail: string): void {
    this.status.phase = phase;
    this.options.onEvent?.({ type: 'phase', phase, detail });
  }

  warn(message: string): void {
    this.status.warnings++;
    this.options.onEvent?.({ type: 'warning', message });
  }

  startCopy(): void {
    this.status.copy = noCopyYet();
  }

  copyProgress(bytes: number, total: number | null): void {
    this.status.copy.rdbBytes = bytes;
    this.status.copy.rdbTotal = total;
  }

  copied(keys = 1): void {
    this.status.copy.keys += keys;
  }

  skipped(message: string): void {
    this.status.copy.skipped++;
    this.warn(message);
  }

  applied(position: Checkpoint, commands: number, transactions: number): void {
    this.status.applied.replid = position.replid;
    this.status.applied.offset = position.offset;
    this.status.applied.commands += commands;
    this.status.applied.transactions += transactions;
  }

  private emitStatus(): void {
    const session = this.session;
    const oldest = session?.oldestUnconfirmedMs ?? null;
    this.status.lag = { bytes: session?.queuedBytes ?? 0, ms: oldest === null ? 0 : Date.now() - oldest };
    this.options.onEvent?.({ type: 'status', status: this.status });
  }
}

/** Starts a sync; see Sync for its status, stop() and done. */
export function sync(options: SyncOptions): Sync {
  return new Sync(options);
}
