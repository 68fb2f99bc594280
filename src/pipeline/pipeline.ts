// The change pipeline every streaming command runs on: a source (a Replica: PSYNC, snapshot, stream) →
// a stage (stage.ts: filters the source's events and makes them messages: change events for publish,
// JSON lines for tail) → a sink (sink.ts: a broker, a Redis stream, a file) that confirms batches of them.
// The position moves only past confirmed batches: the sink stores it with its messages (exactly once), or
// the pipeline saves it in a position file afterwards (at least once; ids let consumers drop repeats).
//
// While the sink is down, blocked or refusing, the unconfirmed batches stay in memory and are sent again
// in order once it is back; the replica keeps reading the source at line rate into its memory queue and
// its spool file, so the source never drops the link for an overfull output buffer. Past maxSpoolBytes
// the pipeline stops with its position saved (never a silent drop).
import { sleep } from '../node/abortable-sleep.js';
import type { Checkpoint, FullSyncReason } from '../replica/events.js';
import { PositionFile } from './position-file.js';
import { isClusterPosition, positionSummary, type Position } from './position.js';
import { slotRanges } from '../cluster/hash-slot.js';
import { isClusterNode } from '../cluster/topology.js';
import { askSentinelNode, isSentinelUrl, sentinelNode } from '../replica/sentinel.js';
import { openSource, type ShardRef, type ShardStart, type Source, type SourceEvent, type SourceOptions } from './source.js';
import type { RunEvent } from './run-event.js';
import { autoSourceMode, type SourceModeChoice } from '../scan/source-mode.js';
import { parseRedisUrl } from '../replica/redis-url.js';
import { RedisConnection } from '../sync/connection.js';
import { SinkError, type Sink, type SinkBatch } from './sink.js';
import type { Stage, StageOutput } from './stage.js';

export interface PipelineOptions<M> {
  /** The command running it (publish, tail), as the position file's lock names it to another process. */
  command: string;
  /** The source: a replica of this server, or of each shard of a cluster (the pipeline sets the checkpoint). */
  source: SourceOptions;
  stage: Stage<M>;
  sink: Sink<M>;
  /** A message's size, for batches and the bytes in flight. */
  sizeOf: (message: M) => number;
  /**
   * The file keeping the position, for a sink that does not store it itself (locked for the run; given
   * locked when the caller had to read it first); null: none kept.
   */
  positionFile: string | PositionFile | null;
  /**
   * How the source is read (source.ts: mode): 'auto' asks the server (scan/source-mode.ts) and says which.
   * Default 'replication'.
   */
  sourceMode?: SourceModeChoice;
  /** Why the command cannot run in scan mode as it was asked (an option scan mode cannot honour), if so. */
  scanRefusal?: string | null;
  /** Continue although the route changed since the position was saved: from a new snapshot. */
  resync?: boolean;
  /** What a refusal to continue under another route suggests instead of --resync (a command without one). */
  routeChangedHint?: string;
  /** Bytes of messages sent to the sink and not yet confirmed, at most (default 16 MiB). */
  maxInFlightBytes?: number;
  /** Bytes of the source's stream waiting in the spool file while the sink is behind, at most (default 1 GiB). */
  maxSpoolBytes?: number;
  /** Delays between attempts to reach the sink: doubling from initialDelayMs (100) to maxDelayMs (5000). */
  sinkReconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  signal?: AbortSignal;
  onEvent?: (event: PipelineEvent) => void;
  /** Every event of the source, before the stage gets it (progress lines, counters). */
  onSourceEvent?: (event: SourceEvent) => void;
}

export type PipelinePhase = 'connecting' | 'snapshot' | 'streaming' | 'stopped' | 'failed';

export interface PipelineStatus {
  phase: PipelinePhase;
  /** Messages put into batches for the sink, and those it confirmed (with the position they reach). */
  published: { events: number; batches: number };
  /**
   * From a cluster: `shards`, each shard's confirmed checkpoint; `replid` is '' and `offset` the sum of
   * theirs (it grows as any shard's stream is confirmed).
   */
  confirmed: { events: number; replid: string; offset: number; shards?: Checkpoint[] };
  /** Events read and not yet confirmed: bytes waiting (memory queue, spool, in flight), and how long the oldest has waited. */
  lag: { bytes: number; ms: number };
  /** Events read from the source waiting in memory (estimated bytes), and bytes of its stream in the spool file. */
  queuedBytes: number;
  spoolBytes: number;
  /** The replication link to the source, and how many times it came back after dropping. */
  source: 'up' | 'down';
  sourceReconnects: number;
  /** 'up', or 'down' while it is being reconnected. */
  sink: 'up' | 'down';
  fullSyncs: number;
  /** Times the sink was reconnected after a failure. */
  sinkReconnects: number;
  warnings: number;
}

export type PipelineEvent = RunEvent<PipelineStatus, PipelinePhase>;

/** A failure retrying cannot cure: the pipeline stops with it (its position saved). */
export class PipelineError extends Error {
  override name = 'PipelineError';
  /** Failures while stopping after this one (saving the position): told after it, never instead of it. */
  readonly also: string[] = [];
}

/** A batch handed to the sink and not yet confirmed. */
interface Pending<M> {
  batch: SinkBatch<M>;
  bytes: number;
  openedMs: number;
  confirmed: boolean;
  /** What the sink said it covers once this batch was confirmed (Sink.extent). */
  extent?: unknown;
}

const FULL_SYNC_REASONS: Record<FullSyncReason, string> = {
  'no-checkpoint': 'no position yet',
  resync: 'it could not continue from the position',
  rescan: 'scan mode reads everything again: its notifications dropped, a flush, or asked (SIGUSR1)',
};

const BATCH_MAX_BYTES = 1 << 20;
const BATCH_MAX_MESSAGES = 1000;
const STATUS_INTERVAL_MS = 1000;
const POSITION_SAVE_INTERVAL_MS = 1000;
/** How long a stop waits for the sink to confirm what was sent (a blocked broker may never). */
const DRAIN_TIMEOUT_MS = 10_000;

export class Pipeline<M> {
  readonly status: PipelineStatus = {
    phase: 'connecting',
    published: { events: 0, batches: 0 },
    confirmed: { events: 0, replid: '', offset: 0 },
    lag: { bytes: 0, ms: 0 },
    queuedBytes: 0,
    spoolBytes: 0,
    source: 'down',
    sourceReconnects: 0,
    sink: 'down',
    fullSyncs: 0,
    sinkReconnects: 0,
    warnings: 0,
  };
  /** Resolves when stopped (everything taken from the source confirmed, when the sink is up); rejects with what ended it. */
  readonly done: Promise<PipelineStatus>;
  private readonly options: PipelineOptions<M>;
  private readonly stage: Stage<M>;
  private readonly sink: Sink<M>;
  private readonly positionFile: PositionFile | null;
  private readonly abort = new AbortController();
  /** Aborted by stop() and by a failure: ends waits (reconnecting the sink). */
  private readonly halted = new AbortController();
  private readonly maxInFlightBytes: number;
  private readonly maxSpoolBytes: number;
  private readonly output: StageOutput<M>;
  private route: unknown;
  private source: Source | null = null;
  /** How the source is read (options.sourceMode, 'auto' resolved by prepare()). */
  private mode: 'replication' | 'scan' = 'replication';
  /** The source is a cluster (options.source.cluster, 'auto' resolved by prepare()). */
  private clustered = false;
  /** The source's URL: a Sentinel URL's master, as the sentinels name it (prepare()). */
  private sourceUrl = '';
  /** The Sentinel URL the source is followed through, if any. */
  private sentinel: string | undefined;
  private failure: unknown = null;

  // The batch being filled, and those the sink has not confirmed, in order.
  private open: { messages: M[]; bytes: number; openedMs: number } | null = null;
  private readonly unconfirmed: Array<Pending<M>> = [];
  private inFlightBytes = 0;
  /**
   * Where each stream stands after the last event taken (null inside a snapshot), by shard ('' for a
   * single server's stream).
   */
  private readonly positions = new Map<string, Checkpoint | null>();
  /** The streams ('' or a shard's ID) inside a snapshot: there is no position to continue them from until it ends. */
  private readonly snapshots = new Set<string>();
  /** The sink's connection: a write of an older generation failing says nothing about the current one. */
  private generation = 0;
  private sinkUp = false;
  private recovering: Promise<void> | null = null;
  /** Sink failures since a batch was last confirmed: a sink that keeps refusing is retried with growing delays. */
  private failuresSinceConfirm = 0;
  private roomWaiters: Array<() => void> = [];
  /** The position the file holds (undefined: not written by this run, so it may hold another route's). */
  private savedPosition: Position | null | undefined = undefined;
  /** Where the confirmed events reach (null: inside a snapshot; undefined: nothing confirmed yet), and what the sink covers there. */
  private confirmedPosition: Position | null | undefined = undefined;
  private confirmedExtent: unknown = undefined;
  /**
   * Writes were left out since the last batch: the position moved with no message to carry it. (The stage
   * does not count the sink's own writes: moving the position is itself such a write on a Redis stream
   * sink that is the source's own server.)
   */
  private skippedWrites = false;
  /** The last batch's number (SinkBatch.sequence). */
  private sequence = 0;
  /** Streams whose link has been up (a later link-up is a reconnection), and those whose link is down now. */
  private readonly linksSeen = new Set<string>();
  private readonly linksDown = new Set<string>();
  /** A cluster's shards that have not streamed yet (neither resumed nor through their first snapshot). */
  private readonly shardsStarting = new Set<string>();

  constructor(options: PipelineOptions<M>) {
    this.options = options;
    this.stage = options.stage;
    this.sink = options.sink;
    const file = options.positionFile;
    this.positionFile = this.sink.storesPosition || !file ? null : typeof file === 'string' ? new PositionFile(file, options.command) : file;
    this.maxInFlightBytes = options.maxInFlightBytes ?? 16 << 20;
    this.maxSpoolBytes = options.maxSpoolBytes ?? 1 << 30;
    this.output = {
      emit: (message, closable) => this.add(message, closable),
      alone: (message) => {
        this.closeBatch();
        this.add(message);
        this.closeBatch();
      },
      warn: (message) => this.warn(message),
      streaming: () => this.streaming,
    };
    // A signal aborted already (a Ctrl-C while the caller was still starting) never fires again.
    if (options.signal?.aborted) this.stop();
    else options.signal?.addEventListener('abort', () => this.stop(), { once: true });
    this.done = this.run();
    this.done.catch(() => undefined);
  }

  /**
   * Scan mode: reads every key again, from a new snapshot (a reconciliation: keys a lost notification
   * left behind, a SWAPDB). Returns false when the source is not read in scan mode.
   */
  rescan(): boolean {
    // The mode, not the method: a cluster source has rescan() in either mode.
    if (this.mode !== 'scan' || !this.source?.rescan) return false;
    this.source.rescan();
    return true;
  }

  /** Stops reading the source; what was read is confirmed (while the sink is up), then `done` resolves. */
  stop(): void {
    this.abort.abort();
    this.halted.abort();
    this.source?.stop();
    // The replica may be waiting for room that a sink which is down or blocked would never make.
    this.wakeRoomWaiters();
  }

  private async run(): Promise<PipelineStatus> {
    const timer = setInterval(() => this.tick(), STATUS_INTERVAL_MS);
    const saver = this.positionFile ? setInterval(() => this.savePositionOrFail(), POSITION_SAVE_INTERVAL_MS) : null;
    let error: unknown = null;
    try {
      this.positionFile?.lock();
      await this.prepare();
      const stored = await this.storedPosition();
      if (!this.abort.signal.aborted) await this.stream(stored);
      await this.drain();
    } catch (err) {
      error = err;
    }
    clearInterval(timer);
    if (saver) clearInterval(saver);
    error ??= this.failure;
    // What was confirmed is saved, after a failure too (the events before it); a failure of that is told
    // with the one that ended the run, not instead of it.
    let late: unknown = null;
    try {
      this.savePosition();
    } catch (err) {
      if (error === null) error = err;
      else late = err;
    }
    await this.close();
    if (error === null) {
      this.phase('stopped', 'stopped');
      return this.status;
    }
    // Stopped while connecting (the source's command table, the sink): what failed was being given up.
    if (this.abort.signal.aborted && !this.failure) {
      this.phase('stopped', `stopped before starting (${(error as Error).message})`);
      return this.status;
    }
    const failure = error instanceof SinkError || error instanceof PipelineError ? error : new PipelineError((error as Error).message, { cause: error });
    if (late !== null) {
      if (failure instanceof PipelineError) failure.also.push((late as Error).message);
      else this.warn((late as Error).message);
    }
    this.phase('failed', failure.message);
    throw failure;
  }

  /** Releases the position file and the sink (after a reconnection in progress gave up). */
  private async close(): Promise<void> {
    this.positionFile?.unlock();
    this.halted.abort();
    await this.recovering;
    await this.sink.close();
    this.status.source = 'down';
    this.emitStatus();
  }

  /** The stage ready (the source's command table read), and the sink connected. */
  private async prepare(): Promise<void> {
    const { cluster, url, sentinel, tls, timeoutMs } = this.options.source;
    this.sentinel = sentinel ?? (isSentinelUrl(url) ? url : undefined);
    this.sourceUrl = isSentinelUrl(url) ? await sentinelNode(url, this.options.source.readFrom ?? 'master', undefined, tls, timeoutMs) : url;
    this.mode = await this.resolveMode();
    this.clustered = cluster === 'auto' ? await isClusterNode(this.sourceUrl, tls, timeoutMs) : cluster === true;
    await this.prepareStage();
    const route = this.stage.route(this.sink.routeName ?? this.sink.name);
    // A cluster's events have fields one server's do not, and its position another shape: neither continues the other.
    this.route = this.clustered ? { ...(route as object), cluster: true } : route;
    await this.connectSink();
    this.sinkUp = true;
    this.status.sink = 'up';
  }

  /**
   * The source mode: as asked, or for 'auto' the server's answer, told as a phase line. A server that
   * cannot be asked (not up yet, a refused password) is read as a replica, which reports that failure or
   * waits for the server as it always does (a handshake refused later names --source-mode scan).
   */
  private async resolveMode(): Promise<'replication' | 'scan'> {
    const { sourceMode = 'replication', scanRefusal } = this.options;
    let mode: 'replication' | 'scan' = sourceMode === 'scan' ? 'scan' : 'replication';
    if (sourceMode === 'auto') {
      const { tls, timeoutMs, psyncCommand } = this.options.source;
      const asked = await RedisConnection.open({ endpoint: parseRedisUrl(this.sourceUrl), tls, timeoutMs, role: 'source' })
        .then((connection) => autoSourceMode(connection, psyncCommand).finally(() => connection.close()))
        .catch(() => null);
      if (asked) {
        this.phase('connecting', asked.said);
        mode = asked.mode;
      }
    }
    if (mode === 'scan' && scanRefusal) throw new PipelineError(scanRefusal);
    return mode;
  }

  /**
   * The stage's preparation (publish reads the source's command table). Through Sentinel, the node they
   * name may be dead until they fail it over: they are asked again, with the source's reconnection delays,
   * as its link would be (a Sentinel source's link waits for its master: sentinel-source.ts).
   */
  private async prepareStage(): Promise<void> {
    const prepare = async (node: string) => { await this.stage.prepare?.(node); };
    if (!this.sentinel) return prepare(this.sourceUrl);
    const { tls, timeoutMs, reconnect } = this.options.source;
    this.sourceUrl = (await askSentinelNode(this.sentinel, this.sourceUrl, prepare, {
      tls, timeoutMs, readFrom: this.options.source.readFrom, initialDelayMs: reconnect?.initialDelayMs, maxDelayMs: reconnect?.maxDelayMs, maxRetryTimeMs: reconnect?.maxRetryTimeMs, signal: this.abort.signal,
      onRetry: (message, delay) => this.warn(`${message}; asking the sentinels again in ${delay} ms`),
    })).node;
  }

  /** Where to continue from: the position stored (by the sink, or in the file) under the same route. */
  private async storedPosition(): Promise<Position | null> {
    const stored = this.sink.storesPosition ? await this.sink.readPosition!() : this.positionFile?.load() ?? null;
    if (!stored) return null;
    this.sequence = stored.sequence;
    if (!stored.position) return null;
    // A position saved before routes were recorded (a tail checkpoint of an earlier version) is taken as it is.
    if (stored.route === undefined) return stored.position;
    const was = JSON.stringify(stored.route);
    if (was === JSON.stringify(this.route)) return stored.position;
    const where = this.positionFile?.path ?? this.sink.name;
    if (!this.options.resync) {
      throw new PipelineError(`the position (${where}) was saved with other options: ${was}, now ` +
        `${JSON.stringify(this.route)}. Continuing would leave consumers with events of both. Run with the same options, or ` +
        (this.options.routeChangedHint ?? 'add --resync to start from a new snapshot (a full-sync-start event tells consumers to drop what they hold)'));
    }
    this.warn('--resync: the options changed since the position was saved: starting from a new snapshot');
    return null;
  }

  private async stream(from: Position | null): Promise<void> {
    if (!this.clustered) this.positions.set('', isClusterPosition(from) ? null : from);
    this.confirmedPosition = this.savedPosition = from ?? undefined;
    if (from) this.confirmedAt(from);
    const scan = { ...this.options.source.scan, ignoreKey: this.sink.ownsKey?.bind(this.sink) };
    this.source = openSource({ ...this.options.source, scan, mode: this.mode, url: this.sourceUrl, sentinel: this.sentinel, cluster: this.clustered }, from, this.positionFile?.path ?? this.sink.name,
      (shards) => this.startShards(shards), (shard) => this.removeShard(shard));
    if (this.abort.signal.aborted) this.source.stop();
    await this.source.run((event, shard) => this.handle(event, shard));
  }

  /** A cluster's shards, found: each stands where it continues from until its events move it. */
  private startShards(shards: ShardStart[]): void {
    for (const { shard, from } of shards) {
      this.positions.set(shard.id, from);
      this.shardsStarting.add(shard.id);
    }
  }

  /**
   * A cluster's shard no longer followed (every node of it removed): it has no place in the position from
   * the next batch on (a checkpoint of it kept meanwhile matches no shard at a restart), nor in the status.
   */
  private removeShard(shard: ShardRef): void {
    this.positions.delete(shard.id);
    this.snapshots.delete(shard.id);
    this.shardsStarting.delete(shard.id);
    this.linksDown.delete(shard.id);
    if (this.linksDown.size === 0) this.status.source = 'up';
    this.warn(`the shard of ${shard.node} (slots ${slotRanges(shard.slots)}) is no longer in the cluster (none of its nodes is listed): no longer followed`);
  }

  /** Every stream is streaming: none inside a snapshot, no shard of a cluster still starting. */
  private get streaming(): boolean {
    return this.snapshots.size === 0 && this.shardsStarting.size === 0;
  }

  /** Where the source stands: a single stream's checkpoint (null inside a snapshot), or each shard's that has one. */
  private position(): Position | null {
    if (!this.clustered) return this.positions.get('') ?? null;
    const shards: Checkpoint[] = [];
    for (const cp of this.positions.values()) if (cp) shards.push(cp);
    return { shards };
  }

  private handle(event: SourceEvent, shard?: ShardRef): void | Promise<void> {
    if (this.failure) {
      this.source!.stop();
      return;
    }
    this.options.onSourceEvent?.(event);
    this.follow(event, shard);
    try {
      if (this.stage.handle(event, this.output, shard)) this.skippedWrites = true;
    } catch (err) {
      this.fail(err);
      return;
    }
    return this.room();
  }

  /**
   * Where the stream stands once `event` is taken, and the status it changes. Set before the stage makes
   * the event's messages: a batch they fill closes with the position after them.
   */
  private follow(event: SourceEvent, shard?: ShardRef): void {
    const stream = shard?.id ?? '';
    const positions = this.positions;
    // A shard's phase lines name it: a cluster's shards each have their own.
    const from = shard ? `shard ${shard.node} (slots ${slotRanges(shard.slots)})` : 'the source';
    switch (event.type) {
      case 'command':
      case 'moved': positions.set(stream, { replid: event.replid, offset: event.command.offset, db: event.command.db }); break;
      case 'key-state': positions.set(stream, { replid: event.replid, offset: event.offset, db: event.db }); break;
      case 'warning': this.warn(event.message); break;
      case 'transaction':
        positions.set(stream, { replid: event.replid, offset: event.offset, db: event.commands.at(-1)?.db ?? positions.get(stream)?.db ?? 0 });
        break;
      case 'full-sync-start':
        // The writes before it keep their position: no batch spans the start of a snapshot.
        this.closeBatch();
        this.status.fullSyncs++;
        this.phase('snapshot', `full sync from ${from} (${FULL_SYNC_REASONS[event.reason]})`);
        this.snapshots.add(stream);
        positions.set(stream, null);
        break;
      case 'full-sync-end':
        this.snapshots.delete(stream);
        this.shardsStarting.delete(stream);
        // Without a replication ID (a SYNC-style transfer) there is nothing a restart could continue from.
        positions.set(stream, event.replid ? { replid: event.replid, offset: event.offset, db: 0 } : null);
        if (this.streaming) this.phase('streaming', `snapshot done (${this.stage.snapshotSummary?.() ?? `${event.keys} keys`}); streaming writes`);
        break;
      case 'replid-changed': positions.set(stream, { replid: event.to, offset: event.offset, db: positions.get(stream)?.db ?? 0 }); break;
      case 'resumed':
        this.shardsStarting.delete(stream);
        if (this.streaming) this.phase('streaming', `resumed from ${from} at offset ${event.offset} of ${event.replid}`);
        break;
      case 'link-up':
        if (this.linksSeen.has(stream)) this.status.sourceReconnects++;
        this.linksSeen.add(stream);
        this.linksDown.delete(stream);
        if (this.linksDown.size === 0) this.status.source = 'up';
        break;
      case 'link-down':
        this.linksDown.add(stream);
        this.status.source = 'down';
        // The last one (no reconnection) carries the error the pipeline ends with, told once, by it.
        if (event.reconnectInMs !== null) this.warn(`link down: ${event.error.message}; reconnecting in ${event.reconnectInMs} ms`);
        break;
      default: break;
    }
  }

  // ------------------------------------------------------------------ batches → the sink

  /** Adds a message to the open batch; `closable` false: the batch must not end after it (inside a MULTI/EXEC block). */
  private add(message: M, closable = true): void {
    if (!this.open) {
      this.open = { messages: [], bytes: 0, openedMs: Date.now() };
      // The batch closes once the events already received are in it (they come without a turn of the loop).
      setImmediate(() => this.closeBatch());
    }
    this.open.messages.push(message);
    this.open.bytes += this.options.sizeOf(message);
    this.status.published.events++;
    if (closable && (this.open.bytes >= BATCH_MAX_BYTES || this.open.messages.length >= BATCH_MAX_MESSAGES)) this.closeBatch();
  }

  private closeBatch(): void {
    const open = this.open;
    if (!open) return;
    this.open = null;
    this.skippedWrites = false;
    this.push({ messages: open.messages, position: this.position(), sequence: ++this.sequence }, open.bytes, open.openedMs);
    this.status.published.batches++;
  }

  private push(batch: SinkBatch<M>, bytes: number, openedMs: number): void {
    const pending: Pending<M> = { batch, bytes, openedMs, confirmed: false };
    this.unconfirmed.push(pending);
    this.inFlightBytes += bytes;
    if (this.sinkUp && !this.failure) this.send(pending);
  }

  /** Resolves when there is room for more in flight (the replica meanwhile queues and spools the source). */
  private room(): Promise<void> | undefined {
    if (this.inFlightBytes + (this.open?.bytes ?? 0) <= this.maxInFlightBytes || this.halted.signal.aborted) return undefined;
    this.closeBatch();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private send(pending: Pending<M>): void {
    const generation = this.generation;
    this.sink.write(pending.batch).then(() => {
      pending.extent = this.sink.extent?.(pending.batch);
      this.confirmed(pending);
    }, (err: unknown) => this.sinkFailed(err, generation));
  }

  /** A batch confirmed (even by an earlier connection of the sink): the position moves past every confirmed batch in front. */
  private confirmed(pending: Pending<M>): void {
    pending.confirmed = true;
    this.failuresSinceConfirm = 0;
    while (this.unconfirmed[0]?.confirmed) {
      const done = this.unconfirmed.shift()!;
      this.inFlightBytes -= done.bytes;
      this.status.confirmed.events += done.batch.messages.length;
      const position = done.batch.position;
      // Null inside a snapshot: once its start is confirmed, no earlier position may be continued from.
      this.confirmedPosition = position;
      this.confirmedExtent = done.extent;
      if (position) this.confirmedAt(position);
    }
    if (this.inFlightBytes <= this.maxInFlightBytes / 2) this.wakeRoomWaiters();
  }

  private confirmedAt(position: Position): void {
    Object.assign(this.status.confirmed, positionSummary(position));
  }

  private wakeRoomWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  private sinkFailed(err: unknown, generation: number): void {
    if (generation !== this.generation) return; // that connection is already being replaced
    if (!(err instanceof SinkError) || !err.retryable) {
      this.fail(err);
      return;
    }
    this.generation++;
    this.sinkUp = false;
    this.status.sink = 'down';
    this.warn(`${this.sinkSays(err.message)}; reconnecting (${this.unconfirmed.length} batches wait to be sent again)`);
    this.recovering = this.recoverSink().catch((error: unknown) => {
      if (!this.abort.signal.aborted) this.fail(error); // stopped while the sink was down: the position stays
    }).finally(() => { this.recovering = null; });
  }

  /** Reconnects the sink and sends every unconfirmed batch again, in order. */
  private async recoverSink(): Promise<void> {
    await this.sink.close();
    // A sink that refuses again what it just refused (a full stream, a queue at its limit) is not sent the whole
    // backlog again at once: wait, doubling from initialDelayMs to maxDelayMs, until a batch is confirmed.
    if (++this.failuresSinceConfirm > 1) {
      const { initialDelayMs = 100, maxDelayMs = 5000 } = this.options.sinkReconnect ?? {};
      await sleep(Math.min(initialDelayMs * 2 ** (this.failuresSinceConfirm - 2), maxDelayMs), this.halted.signal);
      if (this.halted.signal.aborted) throw this.failure ?? new SinkError(`${this.sink.name}: stopped while waiting to retry`, true);
    }
    await this.connectSink();
    this.status.sinkReconnects++;
    // Up only now, with the older batches sent first in this same turn: a newer one must not go before them.
    this.sinkUp = true;
    this.status.sink = 'up';
    for (const pending of this.unconfirmed) if (!pending.confirmed) this.send(pending);
  }

  /** Connects the sink, retrying while it is unreachable (with the delays of `sinkReconnect`). */
  private async connectSink(): Promise<void> {
    const { initialDelayMs = 100, maxDelayMs = 5000 } = this.options.sinkReconnect ?? {};
    let delay = initialDelayMs;
    for (;;) {
      if (this.halted.signal.aborted) throw new SinkError('stopped', false);
      try {
        const generation = this.generation;
        await this.sink.connect(this.route, (error) => this.sinkFailed(error, generation));
        if (this.halted.signal.aborted) {
          await this.sink.close(); // stopped meanwhile: this connection must not resend anything
          throw new SinkError('stopped', false);
        }
        return;
      } catch (err) {
        if (!(err instanceof SinkError) || !err.retryable || this.halted.signal.aborted) throw err;
        this.warn(`${this.sinkSays(err.message)}; trying again in ${delay} ms`);
        await sleep(delay, this.halted.signal);
        if (this.failure) throw this.failure;
        delay = Math.min(delay * 2, maxDelayMs);
      }
    }
  }

  /**
   * Stopped: waits until everything read is confirmed, unless the sink is down or does not confirm within
   * DRAIN_TIMEOUT_MS (the position then stays where it is).
   */
  private async drain(): Promise<void> {
    if (this.open) this.closeBatch();
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (this.unconfirmed.length > 0 && !this.failure && this.sinkUp) {
      if (Date.now() > deadline) {
        const events = this.unconfirmed.reduce((n, p) => n + p.batch.messages.length, 0);
        this.warn(`stopped with ${events} events not yet confirmed by ${this.sink.name} after ${DRAIN_TIMEOUT_MS / 1000} s: ` +
          'the position stays before them, so the next start sends again those the sink did not take');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** A sink's message, naming the sink once. */
  private sinkSays(message: string): string {
    return message.startsWith(this.sink.name) ? message : `${this.sink.name}: ${message}`;
  }

  /**
   * Saves the confirmed position, after the sink made durable what it covers (the messages first: a crash
   * between the two repeats nothing). Throws a PipelineError when it cannot.
   */
  private savePosition(): void {
    const position = this.confirmedPosition;
    if (!this.positionFile || position === undefined || position === this.savedPosition) return;
    try {
      this.sink.makeDurable?.();
      this.positionFile.save(position, this.route, this.confirmedExtent);
      this.savedPosition = position;
    } catch (err) {
      throw new PipelineError(`cannot save the position in ${this.positionFile.path}: ${(err as Error).message}`);
    }
  }

  private savePositionOrFail(): void {
    try {
      this.savePosition();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    this.halted.abort();
    this.source?.stop();
    this.wakeRoomWaiters();
  }

  // ------------------------------------------------------------------ status

  /** Carries the position past writes left out, in a batch with no message, when nothing else would. */
  private carryPosition(): void {
    const position = this.position();
    if (!this.skippedWrites || this.open || this.unconfirmed.length > 0 || !position || this.snapshots.size > 0) return;
    this.skippedWrites = false;
    this.push({ messages: [], position, sequence: ++this.sequence }, 0, Date.now());
  }

  private tick(): void {
    this.carryPosition();
    const spooled = this.source?.backlog.spooledBytes ?? 0;
    if (spooled > this.maxSpoolBytes && !this.failure) {
      this.fail(new PipelineError(`${spooled} bytes of the source's stream wait in the spool file while ${this.sink.name} ` +
        `${this.sinkUp ? 'confirms too slowly' : 'is down'} (limit ${this.maxSpoolBytes}): stopped, the position of the last confirmed event saved`));
    }
    this.emitStatus();
  }

  private emitStatus(): void {
    const backlog = this.source?.backlog;
    const oldest = this.unconfirmed[0]?.openedMs ?? this.open?.openedMs ?? null;
    this.status.queuedBytes = backlog?.queuedBytes ?? 0;
    this.status.spoolBytes = backlog?.spooledBytes ?? 0;
    this.status.lag = {
      bytes: (backlog ? backlog.queuedBytes + backlog.spooledBytes : 0) + this.inFlightBytes + (this.open?.bytes ?? 0),
      ms: oldest === null ? 0 : Date.now() - oldest,
    };
    this.options.onEvent?.({ type: 'status', status: this.status });
  }

  private phase(phase: PipelinePhase, detail: string): void {
    this.status.phase = phase;
    this.options.onEvent?.({ type: 'phase', phase, detail });
  }

  private warn(message: string): void {
    this.status.warnings++;
    this.options.onEvent?.({ type: 'warning', message });
  }
}
