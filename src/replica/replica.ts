// A Node program that a Redis or Valkey master treats as one of its replicas: it turns the snapshot and
// every later write into events, ACKs like a replica, and reconnects with PSYNC from where it stood.
import { RdbError } from '../core/errors.js';
import { RdbEventParser, type RestoreCommandsOptions } from '../core/rdb-event-parser.js';
import { RespError } from '../core/resp-error.js';
import { EntryBuilder } from '../rdb/entry-builder.js';
import { ReplicaCommand, type Checkpoint, type ReplicaEvent } from './events.js';
import { LinkLostError, ReplicaError, ReplicaLink, type LinkHandlers, type LinkOptions } from './link.js';
import { hostPort, parseRedisUrl, type RedisEndpoint } from './redis-url.js';

export interface ReplicaOptions extends Omit<LinkOptions, 'endpoint'> {
  /** redis://[user:password@]host[:port], or rediss:// for TLS. */
  url: string;
  /** Resume from here (PSYNC replid offset+1) instead of asking for a full sync. */
  checkpoint?: Checkpoint | null;
  /** Do not parse the snapshot into entries (its bytes are still read, and counted). */
  skipRdb?: boolean;
  /**
   * Hand over the snapshot unparsed, as 'rdb-bytes' events (each owning its bytes: the consumer may keep
   * them), for a consumer that stores it or forwards it to a server that loads it.
   */
  rdbBytes?: boolean;
  /**
   * Hand over the snapshot as 'restore-commands' events instead of 'entry' events: RESTORE commands the
   * core writes with each value as the snapshot holds it, for a server that loads its RDB version.
   */
  restoreCommands?: RestoreCommandsOptions;
  /**
   * Most memory one value of the snapshot may take while it is parsed (default 1 GiB); with
   * restoreCommands also the longest RESTORE payload, less its 10-byte footer. Beyond it: a 'too-large' RdbError.
   */
  maxScratchBytes?: number;
  /** Verify the snapshot's CRC64 (default true). */
  verifyChecksum?: boolean;
  /** Stops the replica; the iterator then ends. */
  signal?: AbortSignal;
  /** How often to send REPLCONF ACK (default 1000 ms, as Redis's replicas do). */
  ackIntervalMs?: number;
  /** When and how to reconnect (by default: always, with delays doubling from 100 ms up to 5 s). */
  reconnect?: ReconnectOptions;
  /**
   * How much memory events waiting for the consumer may take (default 64 MiB; estimated as their stream
   * bytes plus 640 bytes per event). Beyond it the socket is still read at line rate, into a temporary
   * file (`spoolDir`), and parsed once the consumer has taken half of what waits: a slow consumer never
   * makes the master drop us for an overfull output buffer.
   */
  maxQueuedBytes?: number;
}

/** When and how a replica reconnects after its link fails. */
export interface ReconnectOptions {
  /** Delays between attempts: doubling from initialDelayMs (default 100) up to maxDelayMs (default 5000). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /**
   * Whether a first connection that fails (refused, unknown host, handshake refused or cut: the link never
   * came up) is retried like a later one (default true: wait for the master). With false the replica ends
   * with that error: a URL that can never work fails at once instead of retrying forever.
   */
  waitForMaster?: boolean;
  /**
   * Give up once the replica has not been streaming for this long when an attempt fails (counted from the
   * first failure since writes last flowed; an attempt in progress is never cut short): the replica ends
   * with the last error. Default: never.
   */
  maxRetryTimeMs?: number;
  /**
   * Asked before each reconnection (not the first connection): where the master is now, as a URL, when it
   * moved (a cluster shard's replica promoted in a failover); null to try the same address again. The
   * checkpoint goes with it: a promoted replica continues its former master's stream.
   */
  relocate?: () => Promise<string | null>;
}

const PROGRESS_INTERVAL_MS = 100;
/** RESTORE commands are handed over in pieces of about this size: fewer events, socket writes and copies. */
const RESTORE_CHUNK_BYTES = 512 << 10;
const EARLY_ACK_FIRST_MS = 10;
/** What an event costs in memory beyond its stream bytes (a command event and its queue slot: ~650 B). */
const EVENT_BYTES = 640;

/**
 * Errors that would recur on every attempt end the replica: a refusal the master means (bad password...),
 * and a snapshot or stream we cannot read (TCP does not corrupt bytes; an unsupported format stays one).
 */
function isFatal(error: Error | null): boolean {
  if (error instanceof ReplicaError) return !error.retryable;
  return error instanceof RdbError || error instanceof RespError;
}

interface Queued {
  event: ReplicaEvent | null;
  /** Where the stream stands once the consumer has taken this item (transaction boundaries only). */
  checkpoint: Checkpoint | null;
  /** Memory this item accounts for, for flow control. */
  bytes: number;
}

/** How far behind the consumer is: memory taken by waiting events (estimated), and bytes in the spool file. */
export interface ReplicaBacklog {
  queuedBytes: number;
  spooledBytes: number;
}

/** Events of a replica: `for await (const e of replica)`; checkpoint() tells where the consumer stands. */
export class Replica implements AsyncIterable<ReplicaEvent> {
  private readonly options: ReplicaOptions;
  private queue: Queued[] = [];
  private head = 0;
  private wake: (() => void) | null = null;
  private arrived: Promise<void> | null = null;
  private started = false;
  private stopped = false;
  private failure: Error | null = null;
  private link: ReplicaLink | null = null;
  /** Where the link goes (or went last): the URL's, until reconnect.relocate moves it. */
  private endpoint: RedisEndpoint;
  private ackTimer: ReturnType<typeof setInterval> | null = null;
  private earlyAck: ReturnType<typeof setTimeout> | null = null;
  private consumed: Checkpoint | null;
  /** The checkpoint of the event the consumer holds: consumed once it asks for the next. */
  private handedOver: Checkpoint | null = null;
  /** whenConsumed()'s callers: each offset, and who waits for the consumer to reach it. */
  private consumedWaiters: Array<{ offset: number; resolve: () => void }> = [];
  private queuedBytes = 0;
  private readonly maxQueuedBytes: number;
  private holding = false;

  // Parse side: where the stream stands as read from the socket.
  private replid = '';
  private offset = 0;
  private db = 0;
  /** The last transaction boundary read: where a reconnect resumes. */
  private boundary: Checkpoint | null;
  private streaming = false;
  /** A link has come up (handshake done) since the replica started. */
  private everUp = false;
  /** The master has answered +FULLRESYNC and its snapshot has not begun yet. */
  private snapshotDue = false;
  private transaction: ReplicaCommand[] | null = null;
  private transactionFirst = 0;
  /** The snapshot being read: builder is null when the parser writes RESTORE commands. */
  private rdb: { parser: RdbEventParser | null; builder: EntryBuilder | null; bytes: number; total: number | null; keys: number; reportedAt: number } | null = null;

  constructor(options: ReplicaOptions) {
    this.options = options;
    this.endpoint = parseRedisUrl(options.url); // fails fast on a bad URL
    this.boundary = options.checkpoint ?? null;
    this.consumed = this.boundary;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 64 << 20;
    options.signal?.addEventListener('abort', () => this.stop(), { once: true });
  }

  /** Where the consumer stands: after the last transaction boundary it has taken. Null before any. */
  get checkpoint(): Checkpoint | null {
    return this.consumed;
  }

  /**
   * Resolves once the consumer has taken the stream up to `offset` (events handled, and whatever the
   * replica kept to itself there: PING, REPLCONF), or the replica stopped.
   */
  whenConsumed(offset: number): Promise<void> {
    if (this.stopped || (this.consumed?.offset ?? -1) >= offset) return Promise.resolve();
    return new Promise((resolve) => this.consumedWaiters.push({ offset, resolve }));
  }

  private wakeConsumedWaiters(): void {
    const reached = this.consumed?.offset ?? -1;
    const waiting = this.consumedWaiters;
    this.consumedWaiters = waiting.filter((w) => !(this.stopped || w.offset <= reached));
    for (const w of waiting) if (this.stopped || w.offset <= reached) w.resolve();
  }

  /** How much of the stream waits for the consumer. */
  get backlog(): ReplicaBacklog {
    return { queuedBytes: this.queuedBytes, spooledBytes: this.link?.spooledBytes ?? 0 };
  }

  /**
   * Drops the link, which then reconnects as after a loss (asking reconnect.relocate where the master is):
   * the master moved (a failover announced). Not when the link is to `unlessAt` (host:port) already.
   */
  relink(reason: string, unlessAt?: string): void {
    if (this.node === unlessAt) return;
    this.link?.close(new LinkLostError(reason));
  }

  /** The node the link goes to (or went to last): host:port. */
  get node(): string {
    return hostPort(this.endpoint.host, this.endpoint.port);
  }

  /** Stops: closes the link; the iterator ends after the event it is on. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.link?.close();
    this.stopAcks();
    this.notify();
    this.wakeConsumedWaiters();
  }

  /**
   * The callback form: calls `handler` for every event, one at a time, until stopped; a promise it
   * returns is awaited before the next event. Events already received are handed over without a turn of
   * the event loop between them (the async iterator costs a promise per event).
   */
  async run(handler: (event: ReplicaEvent) => void | Promise<void>): Promise<void> {
    this.begin();
    try {
      do {
        for (let event = this.nextReady(); event; event = this.nextReady()) {
          const done = handler(event);
          if (done) await done;
        }
      } while (await this.more());
    } finally {
      this.stop();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<ReplicaEvent> {
    this.begin();
    return {
      next: () => this.nextEvent(),
      // The consumer left the loop: stop (the event it was on is not counted as consumed).
      return: () => {
        this.stop();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  private begin(): void {
    if (this.started) throw new Error('a Replica can be iterated (or run) only once');
    this.started = true;
    if (this.options.signal?.aborted) this.stop();
    else void this.connectLoop();
  }

  private async nextEvent(): Promise<IteratorResult<ReplicaEvent, undefined>> {
    for (;;) {
      const event = this.nextReady();
      if (event) return { done: false, value: event };
      if (!(await this.more())) return { done: true, value: undefined };
    }
  }

  /**
   * The next event already received, or undefined. Asking for it means the consumer is done with the
   * one handed over before: the checkpoint that came with it now counts as consumed.
   */
  private nextReady(): ReplicaEvent | undefined {
    if (this.handedOver) this.consumed = this.handedOver;
    this.handedOver = null;
    let event: ReplicaEvent | undefined;
    while (this.head < this.queue.length && !this.stopped && !event) {
      const item = this.take();
      if (item.event) {
        this.handedOver = item.checkpoint;
        event = item.event;
      } else if (item.checkpoint) {
        this.consumed = item.checkpoint;
      }
    }
    if (this.consumedWaiters.length > 0) this.wakeConsumedWaiters();
    return event;
  }

  /**
   * Once every queued event was taken: waits until something is queued and resolves true, or resolves
   * false when the replica has stopped, or stops it and throws the error that ended it. Every waiting
   * caller shares one promise.
   */
  private async more(): Promise<boolean> {
    if (this.failure) {
      this.stop();
      throw this.failure;
    }
    if (this.stopped) return false;
    this.arrived ??= new Promise<void>((resolve) => { this.wake = resolve; });
    await this.arrived;
    return true;
  }

  /** Queues an event (or only a checkpoint); `streamBytes`: the stream bytes it stands for. */
  private push(event: ReplicaEvent | null, checkpoint: Checkpoint | null = null, streamBytes = 0): void {
    const bytes = streamBytes + (event ? EVENT_BYTES * (event.type === 'transaction' ? event.commands.length : 1) : 0);
    this.queue.push({ event, checkpoint, bytes });
    this.queuedBytes += bytes;
    if (!this.holding && this.queuedBytes > this.maxQueuedBytes) {
      this.holding = true;
      this.link?.hold();
    }
    this.notify();
  }

  private take(): Queued {
    const item = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as Queued;
    // Drop taken slots once they are most of the array: a queue that never empties must not grow.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.queuedBytes -= item.bytes;
    if (this.holding && this.queuedBytes <= this.maxQueuedBytes / 2) {
      this.holding = false;
      this.link?.release();
    }
    return item;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    this.arrived = null;
    wake?.();
  }

  private async connectLoop(): Promise<void> {
    const { initialDelayMs = 100, maxDelayMs = 5000, waitForMaster = true, maxRetryTimeMs = Infinity, relocate } = this.options.reconnect ?? {};
    let delay = initialDelayMs;
    let failingSince: number | null = null;
    let attempts = 0;
    while (!this.stopped) {
      if (attempts++ > 0 && relocate) {
        const moved = await relocate().catch(() => null);
        if (moved) this.endpoint = parseRedisUrl(moved);
        if (this.stopped) return;
      }
      // Resolves when the link closes (with why and where), or with the error that kept it from opening.
      const error = await new Promise<Error>((resolve) => {
        this.connect(this.endpoint, (e) => resolve(this.linkLost(e))).catch(resolve);
      });
      this.link = null;
      this.stopAcks();
      if (this.stopped) return;
      if (this.streaming) {
        // The link had worked: start the backoff and the give-up clock over.
        delay = initialDelayMs;
        failingSince = null;
      }
      this.streaming = false;
      failingSince ??= Date.now();
      const failure = isFatal(error) ? error
        : !this.everUp && !waitForMaster ? error
          : Date.now() - failingSince + delay > maxRetryTimeMs
            ? new ReplicaError(`gave up after ${Math.round((Date.now() - failingSince) / 1000)} s without a working link: ${error.message}`, false, { cause: error })
            : null;
      if (failure) {
        this.failure = failure;
        this.push({ type: 'link-down', error: failure, reconnectInMs: null });
        return;
      }
      this.push({ type: 'link-down', error, reconnectInMs: delay });
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }

  /**
   * Why an open link closed, and where the stream stood: a close without an error is the master's (or
   * something between us) closing the connection.
   */
  private linkLost(error: Error | null): Error {
    // Other errors (a refusal, a snapshot that cannot be read) say what happened themselves.
    if (error && !(error instanceof LinkLostError)) return error;
    const rdb = this.rdb;
    const where = rdb ? (rdb.total === null ? `after ${rdb.bytes} bytes of a diskless snapshot` : `after ${rdb.bytes} of ${rdb.total} snapshot bytes`)
      : this.streaming ? `at offset ${this.offset}`
        : this.snapshotDue ? 'before the snapshot began'
          : 'before answering PSYNC';
    return new LinkLostError(`${error?.message ?? 'the master closed the connection'} ${where}`, { cause: error?.cause ?? error ?? undefined });
  }

  private async connect(endpoint: ReturnType<typeof parseRedisUrl>, closed: (error: Error | null) => void): Promise<void> {
    // Resume from the last boundary read (events after it were never completed on this side).
    const from = this.boundary;
    this.transaction = null;
    this.rdb = null;
    this.snapshotDue = false;
    if (from) {
      this.replid = from.replid;
      this.offset = from.offset;
      this.db = from.db;
    }
    const handlers: LinkHandlers = {
      fullResync: (replid, offset) => this.fullResync(replid, offset, from !== null),
      continued: (replid) => this.continued(replid),
      rdbBegin: (total) => this.rdbBegin(total),
      rdbData: (bytes, owned) => this.rdbData(bytes, owned),
      rdbEnd: () => this.rdbEnd(),
      command: (source, at, argCount, name, first, offset) => {
        this.command(new ReplicaCommand(this.db, source, at, argCount, name, first, offset));
      },
      closed,
    };
    this.link = await ReplicaLink.open({ ...this.options, endpoint }, from && { replid: from.replid, offset: from.offset }, handlers);
    if (this.holding) this.link.hold();
    if (this.stopped) this.link.close();
    this.everUp = true;
    this.push({ type: 'link-up', host: endpoint.host, port: endpoint.port });
  }

  private fullResync(replid: string, offset: number, hadCheckpoint: boolean): void {
    this.replid = replid;
    this.offset = offset;
    this.db = 0;
    this.snapshotDue = true;
    this.push({ type: 'full-sync-start', replid, offset, reason: hadCheckpoint ? 'resync' : 'no-checkpoint' });
    // A replica empties its dataset before it loads the snapshot (modules see a FLUSHALL here too).
    this.push({ type: 'flush', db: null, cause: 'full-sync' });
  }

  private continued(newReplid: string | null): void {
    if (newReplid && newReplid !== this.replid) {
      this.push({ type: 'replid-changed', from: this.replid, to: newReplid, offset: this.offset });
      this.replid = newReplid;
    }
    this.push({ type: 'resumed', replid: this.replid, offset: this.offset });
    this.startStreaming();
  }

  private rdbBegin(total: number | null): void {
    const restoreCommands = this.options.restoreCommands;
    const parser = this.options.skipRdb || this.options.rdbBytes ? null : RdbEventParser.createSync({
      verifyChecksum: this.options.verifyChecksum, restoreCommands, maxScratchBytes: this.options.maxScratchBytes,
    });
    this.snapshotDue = false;
    this.rdb = { parser, builder: restoreCommands ? null : new EntryBuilder(), bytes: 0, total, keys: 0, reportedAt: 0 };
  }

  private rdbData(bytes: Uint8Array, owned: boolean): void {
    const rdb = this.rdb!;
    rdb.bytes += bytes.length;
    if (rdb.parser) {
      rdb.parser.write(bytes, (batch) => rdb.builder!.consume(batch));
      this.takeEntries();
      if (rdb.parser.done) this.rdbEndRead(rdb.parser);
    }
    let unaccounted = bytes.length;
    if (this.options.rdbBytes) {
      this.push({ type: 'rdb-bytes', bytes: owned ? bytes : bytes.slice() }, null, unaccounted);
      unaccounted = 0;
    }
    // Progress at most every PROGRESS_INTERVAL_MS; the chunk's bytes are accounted for either way.
    const now = Date.now();
    const report = now - rdb.reportedAt >= PROGRESS_INTERVAL_MS;
    if (report) rdb.reportedAt = now;
    if (report || unaccounted > 0) this.push(report ? { type: 'rdb-progress', bytes: rdb.bytes, total: rdb.total } : null, null, unaccounted);
  }

  /** Hands over what the parser completed (RESTORE commands only once there are enough of them, or `all`). */
  private takeEntries(all = false): void {
    const rdb = this.rdb!;
    if (!rdb.builder) {
      this.takeRestoreCommands(rdb.parser!, all);
      return;
    }
    for (const entry of rdb.builder.take()) {
      rdb.keys++;
      this.push({ type: 'entry', entry });
    }
  }

  /** The commands the parser wrote so far, as one event that owns a copy of them. */
  private takeRestoreCommands(parser: RdbEventParser, all: boolean): void {
    const { bytes, commands, keys, librariesLeftOut, endDb } = parser.restoreOutput();
    if ((commands === 0 && librariesLeftOut === 0) || (!all && bytes.length < RESTORE_CHUNK_BYTES)) return;
    this.rdb!.keys += keys;
    this.push({ type: 'restore-commands', bytes: bytes.slice(), commands, keys, librariesLeftOut, endDb }, null, bytes.length);
    parser.restoreOutputTaken();
  }

  /** The parser read the RDB's end: nothing may follow it, and the link checks the end mark, if any, is next. */
  private rdbEndRead(parser: RdbEventParser): void {
    if (parser.trailingBytes > 0) throw new ReplicaError(`the snapshot has ${parser.trailingBytes} bytes after its end`, false);
    this.link?.snapshotEnded();
  }

  private rdbEnd(): void {
    const rdb = this.rdb!;
    if (rdb.parser) {
      rdb.parser.end((batch) => rdb.builder!.consume(batch));
      this.takeEntries(true);
      this.rdbEndRead(rdb.parser);
    }
    this.rdb = null;
    this.push(
      { type: 'full-sync-end', replid: this.replid, offset: this.offset, keys: rdb.keys, bytes: rdb.bytes, functions: rdb.builder?.metadata.functions ?? [] },
      this.mark(),
    );
    this.startStreaming();
    // A diskless master starts the command stream on the first ACK it reads once it has reaped the fork
    // that wrote the snapshot; an ACK that arrives before is ignored. So: one now, a few more soon.
    this.link?.ack(this.offset);
    this.ackEarly(EARLY_ACK_FIRST_MS);
  }

  private startStreaming(): void {
    this.streaming = true;
    this.stopAcks();
    this.ackTimer = setInterval(() => this.link?.ack(this.offset), this.ackInterval);
    this.ackTimer.unref?.();
  }

  private get ackInterval(): number {
    return this.options.ackIntervalMs ?? 1000;
  }

  /** ACKs after `delay`, then after twice that, ... until the regular interval takes over. */
  private ackEarly(delay: number): void {
    if (delay >= this.ackInterval) return;
    this.earlyAck = setTimeout(() => {
      this.link?.ack(this.offset);
      this.ackEarly(delay * 2);
    }, delay);
    this.earlyAck.unref?.();
  }

  private stopAcks(): void {
    if (this.ackTimer) clearInterval(this.ackTimer);
    if (this.earlyAck) clearTimeout(this.earlyAck);
    this.ackTimer = this.earlyAck = null;
  }

  /** Records a transaction boundary at the current position and returns it. */
  private mark(): Checkpoint {
    this.boundary = { replid: this.replid, offset: this.offset, db: this.db };
    return this.boundary;
  }

  private command(cmd: ReplicaCommand): void {
    const { name, firstOffset: first, offset } = cmd;
    const before = this.offset;
    this.offset = offset;
    if (name === 'replconf') {
      // GETACK is answered with the offset before it, as Redis's replicas do.
      if (cmd.argCount > 1 && cmd.argText(1).toLowerCase() === 'getack') this.link?.ack(before);
    } else if (name === 'select') {
      this.db = Number(cmd.argText(1));
    } else if (name === 'multi') {
      this.transaction = [];
      this.transactionFirst = first;
      return;
    } else if (name === 'exec' && this.transaction) {
      const commands = this.transaction;
      this.transaction = null;
      for (const c of commands) this.reportFlush(c.name, c.db);
      const firstOffset = this.transactionFirst;
      this.push({ type: 'transaction', replid: this.replid, commands, firstOffset, offset }, this.mark(), offset - firstOffset + 1);
      return;
    } else if (this.transaction) {
      this.transaction.push(cmd);
      return;
    } else if (name !== 'ping') {
      this.reportFlush(name, cmd.db);
      this.push({ type: 'command', replid: this.replid, command: cmd }, this.mark(), offset - first + 1);
      return;
    }
    if (!this.transaction) this.push(null, this.mark(), offset - first + 1);
  }

  /** FLUSHALL and FLUSHDB are announced by a flush event before the command (or transaction) itself. */
  private reportFlush(name: string, db: number): void {
    if (name === 'flushall') this.push({ type: 'flush', db: null, cause: 'command' });
    else if (name === 'flushdb') this.push({ type: 'flush', db, cause: 'command' });
  }
}
