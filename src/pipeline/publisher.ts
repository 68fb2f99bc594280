// `publish`: a source's writes as change events in a sink (a broker, a Redis stream), in order, never
// lost. The source is a Replica (PSYNC, snapshot, stream); the filter (event-filter.ts) picks the events;
// change-event.ts makes each a message; the sink (sink.ts) confirms batches of them. The position moves
// only past confirmed batches: the sink stores it with the messages (exactly once), or this publisher
// saves it in a file afterwards (at least once: ids let consumers and brokers drop repeats).
//
// While the sink is down, blocked or refusing, the unconfirmed batches stay in memory and are sent again
// in order once it is back; the replica keeps reading the source at line rate into its memory queue and
// its spool file, so the source never drops the link for an overfull output buffer. Past maxSpoolBytes
// the publisher stops with its position saved (never a silent drop).
import type { ConnectionOptions } from 'node:tls';
import type { RdbEntry } from '../rdb/entry.js';
import { Replica } from '../replica/replica.js';
import { sleep } from '../node/abortable-sleep.js';
import type { Checkpoint, ReplicaCommand, ReplicaEvent } from '../replica/events.js';
import { parseRedisUrl } from '../replica/redis-url.js';
import type { KeyClass } from '../sync/command-keys.js';
import { hashSlot } from '../cluster/hash-slot.js';
import { ChangeEvents, SEQ, type SnapshotMode } from './change-event.js';
import { EventFilter, type EventFilterOptions, type FilterRecord } from './event-filter.js';
import { PositionFile } from './position-file.js';
import { readCommandTable } from './source-commands.js';
import type { RunEvent } from './run-event.js';
import { SinkError, type Sink, type SinkBatch, type SinkMessage } from './sink.js';

export interface PublishOptions extends EventFilterOptions {
  /** redis://[user:password@]host[:port] (rediss:// for TLS) of the server whose writes are published. */
  source: string;
  sourceTls?: ConnectionOptions;
  /** Where the events go (sinks/: amqpSink, natsSink, redisStreamSink; or sinkFromUrl). */
  sink: Sink;
  /** What of a snapshot is published (default 'none': its start and end only). */
  snapshot?: SnapshotMode;
  /**
   * Spread the events over this many partitions by their key's hash slot (CRC16, hash tags: keys sharing
   * a {tag} share a partition), for N consumers that each see their keys in order; an event naming no key
   * (FLUSHALL, the lifecycle events) goes to every partition. A multi-key write goes with its first key.
   * Default 1. The `{partition}` template field routes them.
   */
  partitions?: number;
  /** 'json' (default), or 'json+resp': each write also carries its command as RESP (base64, field `resp`). */
  format?: 'json' | 'json+resp';
  /**
   * Changes or drops events before they are published: gets each event as its JSON object, returns it
   * (the same or changed, its id kept) or null to leave it out. Needs transformName.
   */
  transform?: (event: Record<string, unknown>) => Record<string, unknown> | null;
  /** The hook's name, kept with the position: a later run with another refuses to continue (as for filters). */
  transformName?: string;
  /**
   * The file keeping the position, for a sink that does not store it with its messages (a broker); null:
   * none (every start publishes from a new snapshot). Required (a path or null) for such sinks.
   */
  positionFile?: string | null;
  /** Continue although the filters or snapshot mode changed since the position was saved: from a new snapshot. */
  resync?: boolean;
  /** Bytes of messages sent to the sink and not yet confirmed, at most (default 16 MiB). */
  maxInFlightBytes?: number;
  /** Bytes of the source's stream waiting in the spool file while the sink is behind, at most (default 1 GiB). */
  maxSpoolBytes?: number;
  /** No data from the source for this long is a failure of its link (default 60 s). */
  timeoutMs?: number;
  /** Delays between attempts to reach the sink or the source: doubling from initialDelayMs (100) to maxDelayMs (5000). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  signal?: AbortSignal;
  onEvent?: (event: PublishEvent) => void;
}

export type PublishPhase = 'connecting' | 'snapshot' | 'streaming' | 'stopped' | 'failed';

export interface PublishStatus {
  phase: PublishPhase;
  /** Events put into batches for the sink, and those it confirmed (with the position they reach). */
  published: { events: number; batches: number };
  confirmed: { events: number; replid: string; offset: number };
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

export type PublishEvent = RunEvent<PublishStatus, PublishPhase>;

/** A failure retrying cannot cure: publish stops with it (its position saved). */
export class PublishError extends Error {
  override name = 'PublishError';
}

/** The route a position was written under: a later run with another one would skip or mix events. */
interface RouteIdentity {
  filter: FilterRecord;
  snapshot: SnapshotMode;
  sink: string;
  partitions: number;
  format: 'json' | 'json+resp';
  transform: string | null;
}

/** A batch handed to the sink and not yet confirmed. */
interface Pending {
  batch: SinkBatch;
  bytes: number;
  openedMs: number;
  confirmed: boolean;
}

const BATCH_MAX_BYTES = 1 << 20;
const BATCH_MAX_MESSAGES = 1000;
const STATUS_INTERVAL_MS = 1000;
const utf8 = new TextDecoder();
const encoder = new TextEncoder();
const POSITION_SAVE_INTERVAL_MS = 1000;
/** How long a stop waits for the sink to confirm what was sent (a blocked broker may never). */
const DRAIN_TIMEOUT_MS = 10_000;
/** Replicated commands that are not data. */
const NOT_DATA = new Set(['publish', 'spublish', 'ping', 'replconf', 'select', 'multi', 'exec']);

export class Publisher {
  readonly status: PublishStatus = {
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
  readonly done: Promise<PublishStatus>;
  private readonly options: PublishOptions;
  private readonly sink: Sink;
  private readonly sourceName: string;
  private readonly snapshot: SnapshotMode;
  private readonly positionFile: PositionFile | null;
  private readonly abort = new AbortController();
  /** Aborted by stop() and by a failure: ends waits (reconnecting the sink). */
  private readonly halted = new AbortController();
  private readonly maxInFlightBytes: number;
  private readonly maxSpoolBytes: number;
  private readonly partitions: number;
  private route!: RouteIdentity;
  private filter!: EventFilter;
  private events!: ChangeEvents;
  private replica: Replica | null = null;
  private failure: unknown = null;

  // The batch being filled, and those the sink has not confirmed, in order.
  private open: { messages: SinkMessage[]; bytes: number; openedMs: number } | null = null;
  private readonly unconfirmed: Pending[] = [];
  private inFlightBytes = 0;
  /** Where the stream stands after the last event put in a batch (null inside a snapshot). */
  private position: Checkpoint | null = null;
  /** The sink's connection: a write of an older generation failing says nothing about the current one. */
  private generation = 0;
  private sinkUp = false;
  private recovering: Promise<void> | null = null;
  /** Sink failures since a batch was last confirmed: a sink that keeps refusing is retried with growing delays. */
  private failuresSinceConfirm = 0;
  private roomWaiters: Array<() => void> = [];
  /** The position the file holds (undefined: not written by this run, so it may hold another route's). */
  private savedPosition: Checkpoint | null | undefined = undefined;
  /** Where the confirmed events reach (null: inside a snapshot; undefined: nothing confirmed yet). */
  private confirmedPosition: Checkpoint | null | undefined = undefined;
  /**
   * The snapshot being published: its replid and offset (its events' place); `seqs`: keys given a seq so
   * far; `keys`: those published (the transform hook may drop some).
   */
  private snapshotPlace: { replid: string; offset: number; seqs: number; keys: number } | null = null;
  /**
   * Writes were left out (filtered) since the last batch: the position moved with no message to carry it.
   * (Not set by the sink's own writes: moving the position is itself such a write on a Redis stream sink
   * that is the source's own server.)
   */
  private skippedWrites = false;
  /** The last batch's number (SinkBatch.sequence). */
  private sequence = 0;
  private linkWasUp = false;

  constructor(options: PublishOptions) {
    this.options = options;
    this.sink = options.sink;
    const source = parseRedisUrl(options.source);
    this.sourceName = source.host.includes(':') ? `[${source.host}]:${source.port}` : `${source.host}:${source.port}`;
    this.snapshot = options.snapshot ?? 'none';
    if (!['none', 'keys', 'values'].includes(this.snapshot)) throw new TypeError(`snapshot must be none, keys or values, got ${JSON.stringify(this.snapshot)}`);
    if (!this.sink.storesPosition && options.positionFile === undefined) {
      throw new TypeError(`${this.sink.name} does not keep the position with its messages: give a position file ` +
        '(where a restart continues from), or null to publish from a new snapshot at every start');
    }
    this.positionFile = this.sink.storesPosition || !options.positionFile ? null : new PositionFile(options.positionFile);
    this.partitions = options.partitions ?? 1;
    if (!(Number.isSafeInteger(this.partitions) && this.partitions >= 1 && this.partitions <= 16384)) {
      throw new TypeError(`partitions must be an integer from 1 to 16384, got ${options.partitions}`);
    }
    if (options.format !== undefined && options.format !== 'json' && options.format !== 'json+resp') {
      throw new TypeError(`format must be 'json' or 'json+resp', got ${JSON.stringify(options.format)}`);
    }
    if (options.transform && !options.transformName) {
      throw new TypeError('a transform hook needs a transformName: the position records it, so that a run with another hook does not continue what this one published');
    }
    this.maxInFlightBytes = options.maxInFlightBytes ?? 16 << 20;
    this.maxSpoolBytes = options.maxSpoolBytes ?? 1 << 30;
    options.signal?.addEventListener('abort', () => this.stop(), { once: true });
    this.done = this.run();
    this.done.catch(() => undefined);
  }

  /** Stops reading the source; what was read is confirmed (while the sink is up), then `done` resolves. */
  stop(): void {
    this.abort.abort();
    this.halted.abort();
    this.replica?.stop();
    // The replica may be waiting for room that a sink which is down or blocked would never make.
    this.wakeRoomWaiters();
  }

  private async run(): Promise<PublishStatus> {
    const timer = setInterval(() => this.tick(), STATUS_INTERVAL_MS);
    const saver = this.positionFile ? setInterval(() => this.savePosition(), POSITION_SAVE_INTERVAL_MS) : null;
    try {
      this.positionFile?.lock();
      await this.prepare();
      const stored = await this.storedPosition();
      if (!this.abort.signal.aborted) await this.stream(stored);
      await this.drain();
      if (this.failure) throw this.failure;
      this.savePosition();
      if (this.failure) throw this.failure;
      this.phase('stopped', 'stopped');
      return this.status;
    } catch (err) {
      // Stopped while connecting (the source's command table, the sink): what failed was being given up.
      if (this.abort.signal.aborted && !this.failure) {
        this.phase('stopped', `stopped before publishing (${(err as Error).message})`);
        return this.status;
      }
      const error = err instanceof SinkError || err instanceof PublishError ? err : new PublishError((err as Error).message, { cause: err });
      this.phase('failed', error.message);
      throw error;
    } finally {
      clearInterval(timer);
      if (saver) clearInterval(saver);
      if (this.failure) this.savePosition(); // best effort: what was confirmed before the failure
      this.positionFile?.unlock();
      this.halted.abort();
      await this.recovering; // a reconnection in progress gives up (halted) before the sink is closed
      await this.sink.close();
      this.status.source = 'down';
      this.emitStatus();
    }
  }

  /** The source's command table (keys and classes of writes), the filter, and the sink connected. */
  private async prepare(): Promise<void> {
    const table = await readCommandTable(this.options.source, this.options.sourceTls, this.options.timeoutMs);
    try {
      this.filter = new EventFilter(this.options, table);
    } catch (err) {
      throw new PublishError((err as Error).message);
    }
    const format = this.options.format ?? 'json';
    this.events = new ChangeEvents(this.sourceName, { snapshot: this.snapshot, partitions: this.partitions, resp: format === 'json+resp' });
    this.route = { filter: this.filter.record, snapshot: this.snapshot, sink: this.sink.routeName ?? this.sink.name, partitions: this.partitions, format,
      transform: this.options.transform ? this.options.transformName! : null };
    await this.connectSink();
    this.sinkUp = true;
    this.status.sink = 'up';
  }

  /** Where to continue from: the position stored (by the sink, or in the file) under the same route. */
  private async storedPosition(): Promise<Checkpoint | null> {
    const stored = this.sink.storesPosition ? await this.sink.readPosition!() : this.positionFile?.load() ?? null;
    if (!stored) return null;
    this.sequence = stored.sequence;
    if (!stored.position) return null;
    const was = JSON.stringify(stored.route);
    if (was === JSON.stringify(this.route)) return stored.position;
    if (!this.options.resync) {
      throw new PublishError(`the position (${this.positionFile?.path ?? this.sink.name}) was saved with other options: ${was}, now ` +
        `${JSON.stringify(this.route)}. Continuing would leave consumers with events of both. Run with the same options, or add ` +
        '--resync to publish from a new snapshot (a full-sync-start event tells consumers to drop what they hold)');
    }
    this.warn('--resync: the options changed since the position was saved: publishing from a new snapshot');
    return null;
  }

  private async stream(from: Checkpoint | null): Promise<void> {
    this.position = from;
    this.confirmedPosition = this.savedPosition = from ?? undefined;
    if (from) this.status.confirmed = { events: 0, replid: from.replid, offset: from.offset };
    this.replica = new Replica({
      url: this.options.source, tls: this.options.sourceTls, checkpoint: from,
      timeoutMs: this.options.timeoutMs, reconnect: this.options.reconnect,
      skipRdb: this.snapshot === 'none',
    });
    if (this.abort.signal.aborted) this.replica.stop();
    await this.replica.run((event) => this.handle(event));
  }

  private handle(event: ReplicaEvent): void | Promise<void> {
    if (this.failure) {
      this.replica!.stop();
      return;
    }
    switch (event.type) {
      case 'command': this.write([event.command], event.replid, event.command.offset, null); break;
      case 'transaction': this.write(event.commands, event.replid, event.offset, event.firstOffset); break;
      case 'entry': this.snapshotKey(event.entry); break;
      case 'full-sync-start':
        if (!event.replid) {
          // Its offsets start again from 0 at every connection: ids would repeat, with other events.
          this.fail(new PublishError('the source answered PSYNC with a SYNC-style transfer (PSYNC renamed or refused?): ' +
            'without a replication ID the events would have no lasting ids'));
          return;
        }
        this.status.fullSyncs++;
        this.phase('snapshot', `full sync from the source (${event.reason === 'resync' ? 'it could not continue from the position' : 'no position yet'})`);
        this.snapshotPlace = { replid: event.replid, offset: event.offset, seqs: 0, keys: 0 };
        this.position = null;
        this.addAll(this.events.fullSyncStart(event.replid, event.offset, event.reason));
        break;
      case 'full-sync-end': {
        const place = this.snapshotPlace!;
        // The position before the event: a batch it fills closes with the position after it (so everywhere below).
        this.position = { replid: event.replid, offset: event.offset, db: 0 };
        this.addAll(this.events.fullSyncEnd(place.replid, place.offset, SEQ.firstSnapshotKey + place.seqs, place.keys));
        this.snapshotPlace = null;
        this.phase('streaming', `snapshot done (${place.keys} keys published); publishing writes`);
        break;
      }
      case 'replid-changed':
        this.position = { replid: event.to, offset: event.offset, db: this.position?.db ?? 0 };
        this.addAll(this.events.replidChanged(event.from, event.to, event.offset));
        break;
      case 'resumed':
        this.phase('streaming', `resumed from the source at offset ${event.offset} of ${event.replid}`);
        return;
      case 'link-up':
        if (this.linkWasUp) this.status.sourceReconnects++;
        this.linkWasUp = true;
        this.status.source = 'up';
        return;
      case 'link-down':
        this.status.source = 'down';
        this.warn(`the source link dropped${event.error ? `: ${event.error.message}` : ''}; reconnecting`);
        return;
      default: return;
    }
    return this.room();
  }

  // ------------------------------------------------------------------ events → messages

  private write(commands: ReplicaCommand[], replid: string, offset: number, txFirst: number | null): void {
    const selected: Array<{ command: ReplicaCommand; keys: number[]; keyClass: KeyClass | null }> = [];
    for (const command of commands) {
      const name = command.name;
      if (NOT_DATA.has(name)) continue;
      const chosen = this.filter.write(name, command.db, command);
      if (chosen === 'keys-unknown') {
        this.unknownKeys(name, command.offset);
        continue;
      }
      if (chosen === null) continue;
      const keys = chosen.keys ?? [];
      if (this.sinkOwnsAll(command, keys)) continue;
      selected.push({ command, keys, keyClass: chosen.keyClass });
    }
    // The position first: a batch the last of these messages fills closes with the position after them.
    const last = commands[commands.length - 1];
    this.position = { replid, offset, db: last ? last.db : this.position?.db ?? 0 };
    const published = this.publishWrites(selected, replid, txFirst === null ? null : `${replid}-${offset}`);
    // Writes left out (by the filter or the hook; not the sink's own): the position moved with no message.
    if (published === 0 && (selected.length > 0 || !commands.every((c) => NOT_DATA.has(c.name) || this.sinkOwnsAll(c, this.filter.keysOf(c))))) {
      this.skippedWrites = true;
    }
  }

  /**
   * The selected writes of a command or block as messages: each to its first key's partition, or a copy to
   * every partition when it names no key; a block's writes numbered among those of its partition.
   */
  private publishWrites(selected: Array<{ command: ReplicaCommand; keys: number[]; keyClass: KeyClass | null }>, replid: string, txId: string | null): number {
    const partitionOf = selected.map(({ command, keys }) => (keys.length === 0 ? null : this.partitionOf(command.arg(keys[0]!))));
    const counts = new Array<number>(this.partitions).fill(0);
    for (const p of partitionOf) if (p === null) counts.forEach((_, i) => counts[i]!++); else counts[p]!++;
    const next = new Array<number>(this.partitions).fill(0);
    let messages: SinkMessage[] = [];
    selected.forEach(({ command, keys, keyClass }, i) => {
      const one = partitionOf[i]!;
      for (const p of one === null ? counts.map((_, q) => q) : [one]) {
        const tx = txId === null ? null : { id: txId, index: next[p]!++, count: counts[p]! };
        messages.push(this.events.write(command, replid, keys, keyClass, tx, p, one === null && this.partitions > 1));
      }
    });
    if (this.options.transform) messages = this.transformedBlock(messages, txId);
    // A block's messages go in one batch: its position (after the block) must come with all of them.
    messages.forEach((message, i) => this.add(message, i === messages.length - 1));
    return messages.length;
  }

  /**
   * A command's or block's messages as the transform hook leaves them; when it drops some writes of a
   * block, those it keeps are numbered again among themselves (tx.index, tx.count), so that a consumer
   * waiting for a block's count of writes gets them all.
   */
  private transformedBlock(messages: SinkMessage[], txId: string | null): SinkMessage[] {
    const kept: Array<{ message: SinkMessage; event: Record<string, unknown> }> = [];
    for (const message of messages) {
      const event = this.transformEvent(message);
      if (event !== null) kept.push({ message, event });
    }
    if (txId !== null && kept.length < messages.length) {
      const counts = new Map<number, number>();
      for (const { message } of kept) counts.set(message.route.partition, (counts.get(message.route.partition) ?? 0) + 1);
      const next = new Map<number, number>();
      for (const { message, event } of kept) {
        const p = message.route.partition;
        if (event.tx) event.tx = { id: txId, index: next.get(p) ?? 0, count: counts.get(p)! };
        next.set(p, (next.get(p) ?? 0) + 1);
      }
    }
    return kept.map(({ message, event }) => this.encodeTransformed(message, event));
  }

  private partitionOf(key: Uint8Array): number {
    return this.partitions === 1 ? 0 : hashSlot(key) % this.partitions;
  }

  /** A write only to keys the sink writes itself (a Redis stream sink on the source's own server). */
  private sinkOwnsAll(command: ReplicaCommand, keys: number[]): boolean {
    if (!this.sink.ownsKey || keys.length === 0) return false;
    return keys.every((at) => this.sink.ownsKey!(command.db, command.arg(at)));
  }

  private unknownKeys(name: string, offset: number): void {
    const warning = this.filter.unknownKeysWarning(name, offset);
    if (warning) this.warn(warning);
  }

  private snapshotKey(entry: RdbEntry): void {
    const place = this.snapshotPlace;
    if (!place || !this.filter.snapshotKey(entry.db, entry.key, entry.type)) return;
    if (this.sink.ownsKey?.(entry.db, entry.key)) return;
    const message = this.events.snapshotKey(entry, place.replid, place.offset, SEQ.firstSnapshotKey + place.seqs, this.partitionOf(entry.key));
    if (message === null) {
      if (entry.type === 'module') this.warn(`snapshot key ${JSON.stringify(new TextDecoder().decode(entry.key))} (db ${entry.db}) is a module value: not published`);
      return;
    }
    place.seqs++;
    if (this.addEvent(message)) place.keys++;
  }

  // ------------------------------------------------------------------ batches → the sink

  private addAll(messages: SinkMessage[]): void {
    for (const message of messages) this.addEvent(message);
  }

  /** Adds a lifecycle or snapshot event, as the transform hook leaves it; false when the hook dropped it. */
  private addEvent(message: SinkMessage): boolean {
    if (!this.options.transform) {
      this.add(message);
      return true;
    }
    const event = this.transformEvent(message);
    if (event !== null) this.add(this.encodeTransformed(message, event));
    return event !== null;
  }

  /** Adds a message to the open batch; `closable`: the batch may end after it (not inside a MULTI/EXEC block). */
  private add(message: SinkMessage, closable = true): void {
    if (!this.open) {
      this.open = { messages: [], bytes: 0, openedMs: Date.now() };
      // The batch closes once the events already received are in it (they come without a turn of the loop).
      setImmediate(() => this.closeBatch());
    }
    this.open.messages.push(message);
    this.open.bytes += message.body.length;
    this.status.published.events++;
    if (closable && (this.open.bytes >= BATCH_MAX_BYTES || this.open.messages.length >= BATCH_MAX_MESSAGES)) this.closeBatch();
  }

  /** The event as the transform hook returns it (null: dropped). */
  private transformEvent(message: SinkMessage): Record<string, unknown> | null {
    return this.options.transform!(JSON.parse(utf8.decode(message.body)) as Record<string, unknown>);
  }

  /** A message of the hook's event, its id and partition kept; its route follows the command, db and class the hook set. */
  private encodeTransformed(message: SinkMessage, event: Record<string, unknown>): SinkMessage {
    event.id = message.id;
    const route = { ...message.route };
    if (typeof event.command === 'string') route.command = event.command;
    if (typeof event.db === 'number') route.db = event.db;
    if (typeof event.class === 'string') route.class = event.class;
    return { id: message.id, route, body: encoder.encode(JSON.stringify(event)) };
  }

  private closeBatch(): void {
    const open = this.open;
    if (!open) return;
    this.open = null;
    const pending: Pending = { batch: { messages: open.messages, position: this.position, sequence: ++this.sequence }, bytes: open.bytes, openedMs: open.openedMs, confirmed: false };
    this.skippedWrites = false;
    this.unconfirmed.push(pending);
    this.inFlightBytes += pending.bytes;
    this.status.published.batches++;
    if (this.sinkUp) this.send(pending);
  }

  /** Resolves when there is room for more in flight (the replica meanwhile queues and spools the source). */
  private room(): Promise<void> | undefined {
    if (this.halted.signal.aborted || this.inFlightBytes + (this.open?.bytes ?? 0) <= this.maxInFlightBytes) return undefined;
    this.closeBatch();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private send(pending: Pending): void {
    const generation = this.generation;
    this.sink.write(pending.batch).then(() => this.confirmed(pending), (err: unknown) => this.sinkFailed(err, generation));
  }

  /** A batch confirmed (even by an earlier connection of the sink): the position moves past every confirmed batch in front. */
  private confirmed(pending: Pending): void {
    pending.confirmed = true;
    this.failuresSinceConfirm = 0;
    while (this.unconfirmed[0]?.confirmed) {
      const done = this.unconfirmed.shift()!;
      this.inFlightBytes -= done.bytes;
      this.status.confirmed.events += done.batch.messages.length;
      const position = done.batch.position;
      // Null inside a snapshot: once its start is confirmed, no earlier position may be continued from.
      this.confirmedPosition = position;
      if (position) {
        this.status.confirmed.replid = position.replid;
        this.status.confirmed.offset = position.offset;
      }
    }
    if (this.inFlightBytes <= this.maxInFlightBytes / 2) this.wakeRoomWaiters();
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
      const { initialDelayMs = 100, maxDelayMs = 5000 } = this.options.reconnect ?? {};
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

  /** Connects the sink, retrying while it is unreachable (with the delays of `reconnect`). */
  private async connectSink(): Promise<void> {
    const { initialDelayMs = 100, maxDelayMs = 5000 } = this.options.reconnect ?? {};
    let delay = initialDelayMs;
    for (;;) {
      if (this.halted.signal.aborted) throw new SinkError('stopped', false);
      try {
        await this.sink.connect(this.route);
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
          'the position stays before them, so the next start publishes again those the sink did not take');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** A sink's message, naming the sink once. */
  private sinkSays(message: string): string {
    return message.startsWith(this.sink.name) ? message : `${this.sink.name}: ${message}`;
  }

  private savePosition(): void {
    const position = this.confirmedPosition;
    if (!this.positionFile || position === undefined || position === this.savedPosition) return;
    try {
      this.positionFile.save(position, this.route);
      this.savedPosition = position;
    } catch (err) {
      this.fail(new PublishError(`cannot save the position in ${this.positionFile.path}: ${(err as Error).message}`));
    }
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    this.halted.abort();
    this.replica?.stop();
    this.wakeRoomWaiters();
  }

  // ------------------------------------------------------------------ status

  /** Carries the position past writes left out, in a batch with no message, when nothing else would. */
  private carryPosition(): void {
    if (!this.skippedWrites || this.open || this.unconfirmed.length > 0 || !this.position || this.snapshotPlace) return;
    this.skippedWrites = false;
    const pending: Pending = { batch: { messages: [], position: this.position, sequence: ++this.sequence }, bytes: 0, openedMs: Date.now(), confirmed: false };
    this.unconfirmed.push(pending);
    if (this.sinkUp) this.send(pending);
  }

  private tick(): void {
    this.carryPosition();
    const spooled = this.replica?.backlog.spooledBytes ?? 0;
    if (spooled > this.maxSpoolBytes && !this.failure) {
      this.fail(new PublishError(`${spooled} bytes of the source's stream wait in the spool file while ${this.sink.name} ` +
        `${this.sinkUp ? 'confirms too slowly' : 'is down'} (limit ${this.maxSpoolBytes}): stopped, the position of the last confirmed event saved`));
    }
    this.emitStatus();
  }

  private emitStatus(): void {
    const backlog = this.replica?.backlog;
    const oldest = this.unconfirmed[0]?.openedMs ?? this.open?.openedMs ?? null;
    this.status.queuedBytes = backlog?.queuedBytes ?? 0;
    this.status.spoolBytes = backlog?.spooledBytes ?? 0;
    this.status.lag = {
      bytes: (backlog ? backlog.queuedBytes + backlog.spooledBytes : 0) + this.inFlightBytes + (this.open?.bytes ?? 0),
      ms: oldest === null ? 0 : Date.now() - oldest,
    };
    this.options.onEvent?.({ type: 'status', status: this.status });
  }

  private phase(phase: PublishPhase, detail: string): void {
    this.status.phase = phase;
    this.options.onEvent?.({ type: 'phase', phase, detail });
  }

  private warn(message: string): void {
    this.status.warnings++;
    this.options.onEvent?.({ type: 'warning', message });
  }
}

/** Starts publishing; see Publisher for its status, stop() and done. */
export function publish(options: PublishOptions): Publisher {
  return new Publisher(options);
}
