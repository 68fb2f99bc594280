// `sync`: copies a source server's keyspace into a target server and keeps applying its writes, exactly
// once. It runs the change pipeline (pipeline/pipeline.ts): the source seen as a replica (Replica: PSYNC,
// snapshot, stream), sync's stage (sync-stage.ts: the snapshot's keys as RESTOREs, or its bytes for the
// target to load as a replica of ours; the writes through the route; the steps between them), and the
// target as its sink (target-sink.ts: many writes per fenced MULTI/EXEC, each block ending with
// SET <state key> <position>, so the target holds exactly the writes its stored position says).
// Any failure of the target, or of this process, is recovered the same way: reconnect, read the position
// back from the target, PSYNC from it. A copy cut short is deleted and made again; a source that cannot
// continue from the position (backlog gone, restarted without persistence) needs --resync to copy again.
import { autoSourceMode, type SourceModeChoice } from '../scan/source-mode.js';
import type { ConnectionOptions } from 'node:tls';
import { RdbError } from '../core/errors.js';
import { sleep } from '../node/abortable-sleep.js';
import type { RdbEntry } from '../rdb/entry.js';
import type { Checkpoint } from '../replica/events.js';
import { replyText } from '../resp/replies.js';
import { parseRedisUrl, type RedisEndpoint } from '../replica/redis-url.js';
import { isSentinelUrl, parseSentinelUrl, sentinelNode } from '../replica/sentinel.js';
import { describeServer, hasFunctions, loadsAsIs, serverFormatFromInfo, type ServerFormat } from '../rdb-write/server-format.js';
import { clusterEnabled, clusterNodeUrls, firstAnswer } from '../cluster/topology.js';
import { Pipeline, PipelineError } from '../pipeline/pipeline.js';
import type { ReadFrom } from '../pipeline/source.js';
import { positionSummary, type Position } from '../pipeline/position.js';
import type { RunEvent } from '../pipeline/run-event.js';
import { CommandKeys } from './command-keys.js';
import { ConnectionError, RedisConnection } from './connection.js';
import { KeyRoute, type KeyRouteOptions } from './key-route.js';
import { SyncError } from './sync-error.js';
import { SyncStage } from './sync-stage.js';
import { defaultStateKey, encodeState, isStateKey, type StoredRoute, type SyncState } from './sync-state.js';
import type { BufferedArg } from '../resp/command-buffer.js';
import { sizeOf, type TargetMessage } from './target-message.js';
import { TargetSink } from './target-sink.js';
import { ClusterTargetSink } from './cluster-target-sink.js';
import { checkClusterStateKey, clusterLease } from './slot-fence.js';
import { TargetLease } from './target-lease.js';

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
  /**
   * A source that is a node of a Redis Cluster is synced as its whole cluster: a replication link per
   * shard, the target's state holding each shard's position. Which node of each shard (or of the master's
   * group, behind Sentinel) is read: its master (default), a replica (keeping the fork of a full sync off
   * the master), or a replica when there is one up.
   */
  readFrom?: ReadFrom;
  /**
   * How the source is read: 'replication' (default: as a replica, every write applied as it was made),
   * 'scan' (SCAN + DUMP, then each key a keyspace notification names, copied again as it is then: for
   * services that refuse PSYNC; every start, and every lost subscription, copies everything again),
   * 'auto' (replication unless the server refuses it, asked at the first attempt).
   */
  sourceMode?: SourceModeChoice;
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
  /**
   * Attempts after a failure: delays doubling from initialDelayMs (100) to maxDelayMs (5000).
   * `waitForServers` (default true): a first attempt that cannot reach the source or the target (refused,
   * unknown host, a TLS port spoken to without TLS) is retried like a later one; false: the sync ends with
   * that error, so a URL that can never work fails at once. `maxRetryTimeMs` (default never): give up once
   * no attempt has reached both servers for this long when one fails (the source's replication link too).
   */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; waitForServers?: boolean; maxRetryTimeMs?: number };
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
  /**
   * Writes the target has confirmed, and the stream position it stores. From a cluster: `shards`, each
   * shard's checkpoint; `replid` is '' and `offset` the sum of theirs.
   */
  applied: { commands: number; transactions: number; replid: string; offset: number; shards?: Checkpoint[] };
  /** Writes read from the source and not yet confirmed by the target: bytes, and how long the oldest has waited. */
  lag: { bytes: number; ms: number };
  warnings: number;
  /** Times the sync started over after a failure (target or source). */
  restarts: number;
}

export type SyncEvent = RunEvent<SyncStatus, SyncPhase>;

export { SyncError } from './sync-error.js';

const STATUS_INTERVAL_MS = 1000;
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

function noCopyYet(): SyncStatus['copy'] {
  return { keys: 0, skipped: 0, rdbBytes: 0, rdbTotal: null, targetLoading: false };
}

/** What ended a run of the pipeline, unwrapped (the pipeline wraps what is not its own). */
function causeOf(error: unknown): unknown {
  return error instanceof PipelineError && error.cause !== undefined ? error.cause : error;
}

function retryable(error: unknown): boolean {
  const cause = causeOf(error);
  return cause instanceof ConnectionError && cause.retryable;
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
  /** The source's address (null: a Sentinel URL's master, asked at each attempt). */
  private readonly source: RedisEndpoint | null;
  private readonly abort = new AbortController();
  /** The pipeline of the current attempt. */
  private pipeline: Pipeline<TargetMessage> | null = null;
  private keys: CommandKeys | null = null;
  private clusterTargetLease: TargetLease | null = null;
  /** The source's cluster nodes, as the last attempt read them: asked when the node given does not answer. */
  private clusterNodes: string[] = [];
  /** How the source is read (options.sourceMode; 'auto' resolved at the first attempt that reached the source). */
  private mode: 'replication' | 'scan' | undefined;
  /** A cluster target's nodes, as last read: a new attempt tries them when the node given does not answer. */
  private targetClusterNodes: string[] = [];
  /** The current attempt reached both servers; some attempt ever did. */
  private reachedBoth = false;
  private everReachedBoth = false;

  constructor(options: SyncOptions) {
    this.options = options;
    // Behind Sentinel the source is the master the sentinels name at each attempt.
    this.source = isSentinelUrl(options.source) ? null : parseRedisUrl(options.source);
    parseRedisUrl(options.target); // a malformed target URL is refused here, not at the first attempt
    this.sourceName = this.source ? `${this.source.host}:${this.source.port}` : `sentinel/${parseSentinelUrl(options.source).masterName}`;
    this.stateKey = options.stateKey ?? defaultStateKey(this.sourceName);
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
    // A signal aborted already (a Ctrl-C while the caller was still starting) never fires again.
    if (options.signal?.aborted) this.stop();
    else options.signal?.addEventListener('abort', () => this.stop(), { once: true });
    this.done = this.run();
    this.done.catch(() => undefined); // the caller may only look at status; the rejection is theirs to read
  }

  /** Scan mode: copies every key again (Pipeline.rescan); false when the source is not read in scan mode (or not now). */
  rescan(): boolean {
    return this.pipeline?.rescan() ?? false;
  }

  /** Stops: the writes already taken from the source are applied, then `done` resolves. */
  stop(): void {
    this.abort.abort();
    this.pipeline?.stop();
  }

  /**
   * Attempts until stopped or failed for good: any failure of the target or of the link to it starts
   * over from the position the target holds (a failure of the source's link is the replica's to cure).
   */
  private async run(): Promise<SyncStatus> {
    const { initialDelayMs = 100, maxDelayMs = 5000, waitForServers = true, maxRetryTimeMs = Infinity } = this.options.reconnect ?? {};
    let delay = initialDelayMs;
    let failingSince: number | null = null;
    const timer = setInterval(() => this.emitStatus(), STATUS_INTERVAL_MS);
    try {
      while (!this.abort.signal.aborted) {
        try {
          await this.attempt();
          break;
        } catch (err) {
          if (!retryable(err) || this.abort.signal.aborted) throw err;
          if (this.reachedBoth) {
            // That attempt had worked: the backoff and the give-up clock start over.
            this.reachedBoth = false;
            delay = initialDelayMs;
            failingSince = null;
          }
          failingSince ??= Date.now();
          if (!this.everReachedBoth && !waitForServers) throw err;
          if (Date.now() - failingSince + delay > maxRetryTimeMs) {
            throw new SyncError(`gave up after ${Math.round((Date.now() - failingSince) / 1000)} s without reaching both servers: ${(err as Error).message}`, { cause: err });
          }
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

  /**
   * A connection to the source: the server given (behind Sentinel: the master the sentinels name), or,
   * when that was a cluster's node and does not answer now (a master killed, its replica promoted), any
   * other node of the cluster seen at the last attempt. `url`: the one that answered. Fails as the one
   * given failed when none does.
   */
  private async openSource(timeoutMs: number | undefined): Promise<{ connection: RedisConnection; url: string }> {
    const given = this.source ? this.options.source : await sentinelNode(this.options.source, this.options.readFrom ?? 'master', undefined, this.options.sourceTls, timeoutMs);
    return openFirst([given, ...this.clusterNodes], this.options.sourceTls, timeoutMs, 'source');
  }

  /** How the source is read: as asked, or for 'auto' what the server (behind `source`) answers, said as a phase line. */
  private async sourceModeOf(source: RedisConnection): Promise<'replication' | 'scan'> {
    const asked = this.options.sourceMode ?? 'replication';
    if (asked !== 'auto') return asked;
    const { mode, said } = await autoSourceMode(source);
    this.phase('connecting', said);
    return mode;
  }

  /** Whether the source is read in scan mode (decided at the first attempt). */
  get scanning(): boolean {
    return this.mode === 'scan';
  }

  /** A connection to the target: the node given, or (a cluster's) another of its nodes seen before. */
  private openTarget(timeoutMs: number | undefined): Promise<{ connection: RedisConnection; url: string }> {
    return openFirst([this.options.target, ...this.targetClusterNodes], this.options.targetTls, timeoutMs, 'target');
  }

  /**
   * A Redis Cluster target: refused with --copy replication, and with a route writing any db but 0 (a
   * cluster has no other); the source's command table is read (every write goes to the master of its
   * keys' slot).
   */
  private async checkClusterTarget(byReplication: boolean, timeoutMs: number | undefined): Promise<void> {
    if (byReplication) throw new SyncError('--copy replication cannot copy into a Redis Cluster (each master holds some slots only): use --copy restore');
    const dbs = this.route.targetDbs;
    if (dbs === null || dbs.some((db) => db !== 0)) {
      throw new SyncError(`the target is a Redis Cluster, which has database 0 only, and this sync writes ${this.route.describe()}: pass --db 0, or --db-map N:0 for source database N`);
    }
    checkClusterStateKey(this.stateKey);
    if (this.keys) return;
    const { connection } = await this.openSource(timeoutMs);
    try {
      this.keys = await CommandKeys.load(connection);
    } finally {
      connection.close();
    }
  }

  /** The lease of a cluster target (kept across attempts, as `lease`: a new attempt takes over its own). */
  private clusterLease(): TargetLease {
    this.clusterTargetLease ??= clusterLease(this.stateKey, this.options.leaseMs);
    return this.clusterTargetLease;
  }

  /** One attempt: connections to both servers, then the pipeline from the source into the target. */
  private async attempt(): Promise<void> {
    const timeoutMs = this.options.timeoutMs;
    // What the source writes (can its values go to the target as they are?), and its command table for filters.
    const { connection: source, url: sourceUrl } = await this.openSource(timeoutMs);
    let sourceFormat: ServerFormat;
    let clustered: boolean;
    try {
      sourceFormat = serverFormatFromInfo(replyText(await source.ok(['INFO', 'server'])));
      this.mode ??= await this.sourceModeOf(source);
      clustered = await clusterEnabled(source);
      this.clusterNodes = clustered ? await clusterNodeUrls(sourceUrl, this.options.sourceTls, timeoutMs, this.clusterNodes) : [];
      if (this.route.touchesKeys && !this.keys) this.keys = await CommandKeys.load(source);
    } finally {
      source.close();
    }
    const { connection: target, url: targetUrl } = await this.openTarget(timeoutMs);
    this.reachedBoth = this.everReachedBoth = true;
    let sink: TargetSink | ClusterTargetSink | null = null;
    let ended: unknown = null;
    try {
      const targetFormat = serverFormatFromInfo(replyText(await target.ok(['INFO', 'server'])));
      const byReplication = this.options.copy === 'replication';
      // Into a cluster the copy goes key by key (each to its slot's master): never the RDB core's one list of RESTOREs.
      const clusterTarget = await clusterEnabled(target);
      this.targetClusterNodes = clusterTarget ? await clusterNodeUrls(targetUrl, this.options.targetTls, timeoutMs, this.targetClusterNodes) : [];
      if (byReplication && this.mode === 'scan') throw new SyncError('--copy replication needs a snapshot from the source\'s replication, which scan mode does not read: use --copy restore');
      const asStored = this.mode === 'replication' && !byReplication && !this.options.transform && !this.route.renames && loadsAsIs(sourceFormat, targetFormat) && !clusterTarget;
      if (byReplication && clustered) {
        throw new SyncError('--copy replication loads one snapshot as the whole dataset: a cluster\'s shards each have their own; use --copy restore');
      }
      if (byReplication && !loadsAsIs(sourceFormat, targetFormat)) {
        throw new SyncError(`--copy replication: the target (${describeServer(targetFormat)}) cannot load the snapshot of the source (${describeServer(sourceFormat)}) as it is; use --copy restore`);
      }
      if (clusterTarget) await this.checkClusterTarget(byReplication, timeoutMs);
      const maxBulkBytes = await maxBulkBytesOf(target);
      const stage = new SyncStage(this, targetFormat, this.keys, maxBulkBytes, clusterTarget);
      sink = clusterTarget
        ? new ClusterTargetSink(this, this.clusterLease(), targetUrl, this.options.targetTls, timeoutMs)
        : new TargetSink(this, target, byReplication);
      this.pipeline = new Pipeline<TargetMessage>({
        command: 'sync', stage, sink, sizeOf, positionFile: null, maxInFlightBytes: this.maxInFlightBytes, maxSpoolBytes: Infinity, sourceMode: this.mode,
        source: {
          // Behind Sentinel: the node it names now, its failovers followed through it.
          url: sourceUrl, sentinel: this.source ? undefined : this.options.source,
          tls: this.options.sourceTls, timeoutMs, cluster: clustered, readFrom: this.options.readFrom,
          // The source just answered: its replication link retries (until maxRetryTimeMs without it).
          reconnect: { ...this.options.reconnect, waitForMaster: true },
          rdbBytes: byReplication,
          maxScratchBytes: asStored ? maxBulkBytes - PAYLOAD_FOOTER_BYTES : undefined,
          restoreCommands: asStored ? {
            routeKey: (db, rdbType, key) => stage.routeStored(db, rdbType, key), routeEveryKey: !this.route.identity,
            functions: hasFunctions(targetFormat),
          } : undefined,
        },
        onEvent: (event) => {
          if (event.type === 'warning') this.warn(event.message);
        },
      });
      if (this.abort.signal.aborted) this.pipeline.stop();
      try {
        await this.pipeline.done;
      } catch (err) {
        const cause = causeOf(err);
        if (cause instanceof RdbError && cause.kind === 'too-large' && asStored) {
          throw stage.tooLarge(`a value of the snapshot (at byte offset ${cause.offset})`, cause.detail + PAYLOAD_FOOTER_BYTES);
        }
        throw err;
      }
    } catch (err) {
      ended = err;
      const cause = causeOf(err);
      throw cause instanceof ConnectionError || cause instanceof SyncError ? cause : new SyncError((cause as Error).message, { cause });
    } finally {
      this.pipeline = null;
      // Stopped, or failed for good: the next sync need not wait for the lease to end. (A sync that will
      // try again keeps it.)
      if (sink && !retryable(ended)) await sink.release();
      target.close();
    }
  }

  // ------------------------------------------------------------------ what the stage and the sink report

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

  applied(position: Position, commands: number, transactions: number): void {
    Object.assign(this.status.applied, positionSummary(position));
    this.status.applied.commands += commands;
    this.status.applied.transactions += transactions;
  }

  /** SET of the state key: where the sync stands (written inside a fenced block). */
  stateCommand(position: Position | null, state: SyncState['state']): BufferedArg[] {
    const value: SyncState = { position, state, source: this.sourceName, writtenMs: Date.now(), route: this.storedRoute };
    return ['SET', this.stateKey, encodeState(value)];
  }

  private emitStatus(): void {
    if (this.pipeline) this.status.lag = { ...this.pipeline.status.lag };
    this.options.onEvent?.({ type: 'status', status: this.status });
  }
}

/** Starts a sync; see Sync for its status, stop() and done. */
export function sync(options: SyncOptions): Sync {
  return new Sync(options);
}

/** A connection to the first of `urls` that answers, and its URL. */
function openFirst(urls: string[], tls: ConnectionOptions | undefined, timeoutMs: number | undefined, role: 'source' | 'target'): Promise<{ connection: RedisConnection; url: string }> {
  return firstAnswer(urls, async (url) => ({ connection: await RedisConnection.open({ endpoint: parseRedisUrl(url), tls, timeoutMs, role }), url }));
}
