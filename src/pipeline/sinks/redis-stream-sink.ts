// A Redis stream as the sink: each message an XADD, each batch one fenced MULTI/EXEC that also writes the
// publisher's position, so the stream holds every event exactly once. The stream may live on the source
// server itself: its own writes come back in the source's stream, and ownsKey() keeps them from being
// published again. One publisher per stream: the lease and fencing of sync (target-lease.ts,
// fenced-block.ts) guard every block, so a second publisher refuses to start and one that lost the
// stream (frozen past its lease) has its blocks refused whole.
import type { ConnectionOptions } from 'node:tls';
import type { Checkpoint } from '../../replica/events.js';
import { positionOf, type Position } from '../position.js';
import { compareBytes } from '../../rdb/canonical-json.js';
import { startsWith } from '../../rdb/key-filter.js';
import { CommandBuffer, type EncodedArgs } from '../../resp/command-buffer.js';
import { RespErrorReply, replyText } from '../../resp/replies.js';
import { parseRedisUrl, redactUrl } from '../../replica/redis-url.js';
import { ConnectionError, RedisConnection } from '../../sync/connection.js';
import { fencedBlock } from '../../sync/fenced-block.js';
import { DEFAULT_LEASE_MS, TargetHeld, TargetLease } from '../../sync/target-lease.js';
import { SinkError, type Sink, type SinkBatch, type StoredPosition } from '../sink.js';

export interface RedisStreamSinkOptions {
  /** The stream's key (default: the URL's `stream` parameter, else redistap:events). */
  stream?: string;
  /** Trim the stream to about this many entries (XADD MAXLEN ~ N; default: the URL's `maxlen`, else no trimming). */
  maxLen?: number;
  /** Trim to exactly maxLen (MAXLEN = N), which costs the server more (default: approximately). */
  exactMaxLen?: boolean;
  tls?: ConnectionOptions;
  /** How long the stream stays this publisher's after it stops renewing its lease (default 30 s). */
  leaseMs?: number;
  /** No reply for this long is a failure (default 60 s). */
  timeoutMs?: number;
}

const DEFAULT_STREAM = 'redistap:events';
/** How long close() waits for the lease's release. */
const RELEASE_WAIT_MS = 2000;
const PARAMETERS = new Set(['stream', 'maxlen', 'exact']);
const encoder = new TextEncoder();
/** The field of a stream entry holding the event (after its id field). */
const EVENT_FIELD = encoder.encode('event');

/** The key keeping the position of the publisher of `stream` (its lease keys are under it). */
export function positionKeyOf(stream: string): string {
  return `redistap:publish:${stream}`;
}

class RedisStreamSink implements Sink {
  readonly name: string;
  readonly routeName: string;
  readonly storesPosition = true;
  private readonly stream: string;
  private readonly streamBytes: Uint8Array;
  private readonly positionKey: string;
  private readonly positionBytes: Uint8Array;
  /** `XADD <stream> [MAXLEN ~ N] * id`: what every message's XADD starts with. */
  private readonly xadd: EncodedArgs;
  /** Encodes each batch: its buffer grows to a batch's size once, and is kept from batch to batch. */
  private readonly commands = new CommandBuffer();
  private readonly lease: TargetLease;
  private connection: RedisConnection | null = null;
  private route: unknown = null;
  /** The last batch the stream holds (read at connect, then each batch written). */
  private storedSequence = 0;
  /** The last batch the stream's server confirmed (applied) to this sink, over all its connections. */
  private confirmedSequence = 0;
  private renewal: ReturnType<typeof setInterval> | null = null;
  private renewedMs = 0;

  constructor(private readonly url: string, private readonly options: RedisStreamSinkOptions) {
    const parsed = new URL(url);
    for (const key of parsed.searchParams.keys()) {
      if (!PARAMETERS.has(key)) throw new TypeError(`${redactUrl(url)}: unknown parameter ${JSON.stringify(key)} (use stream, maxlen, exact)`);
    }
    this.stream = options.stream ?? parsed.searchParams.get('stream') ?? DEFAULT_STREAM;
    const maxLenText = parsed.searchParams.get('maxlen');
    const maxLen = options.maxLen ?? (maxLenText === null ? undefined : Number(maxLenText));
    if (maxLen !== undefined && !(Number.isSafeInteger(maxLen) && maxLen > 0)) throw new TypeError(`maxlen must be a positive integer, got ${maxLenText ?? maxLen}`);
    const exact = options.exactMaxLen ?? parsed.searchParams.has('exact');
    const trim = maxLen === undefined ? [] : ['MAXLEN', exact ? '=' : '~', maxLen];
    this.xadd = CommandBuffer.encodeArgs(['XADD', this.stream, ...trim, '*', 'id']);
    this.streamBytes = encoder.encode(this.stream);
    this.positionKey = positionKeyOf(this.stream);
    this.positionBytes = encoder.encode(this.positionKey);
    this.lease = new TargetLease(this.positionKey, options.leaseMs ?? DEFAULT_LEASE_MS, 'publish');
    parsed.search = '';
    this.routeName = `stream ${this.stream}`;
    this.name = `${redactUrl(parsed.toString().replace(/\/$/, ''))} ${this.routeName}`;
  }

  async connect(route: unknown, failed: (error: unknown) => void): Promise<void> {
    this.route = route;
    const endpoint = parseRedisUrl(this.url.replace(/\?.*$/, ''));
    const connection = await this.step(() => RedisConnection.open({ endpoint, tls: this.options.tls, timeoutMs: this.options.timeoutMs, role: 'stream\'s server' }));
    this.connection = connection;
    // Lost while no block is on its way (the source quiet): reconnected now, not at the next block.
    connection.onFailure((error) => failed(new SinkError(error.message, true, { cause: error })));
    try {
      await this.step(() => connection.ok(['SELECT', 0]));
      await this.step(() => this.lease.claim((args) => connection.call(args)));
      const type = replyText(await this.step(() => connection.ok(['TYPE', this.stream])) as Uint8Array | string);
      if (type !== 'stream' && type !== 'none') {
        throw new SinkError(`${this.stream} on ${this.name} is a ${type}, not a stream: give another ?stream=`, false);
      }
      this.storedSequence = (await this.readStored())?.sequence ?? 0;
      if (this.storedSequence < this.confirmedSequence) {
        // Restarted without them (no persistence, an fsync it had not made), failed over to a replica that
        // lagged, restored: going on would leave a gap in the stream.
        throw new SinkError(`the stream's server lost events it had confirmed: it holds batch ${this.storedSequence} of this publish, ` +
          `which had batch ${this.confirmedSequence} confirmed. Start publish again: it continues from the position the stream holds, ` +
          'publishing the lost events again', false);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.renewedMs = Date.now();
    this.renewal = setInterval(() => this.renew(), this.lease.leaseMs / 3);
  }

  async readPosition(): Promise<StoredPosition | null> {
    return this.readStored();
  }

  ownsKey(db: number, key: Uint8Array): boolean {
    return db === 0 && (compareBytes(key, this.streamBytes) === 0 || startsWith(key, this.positionBytes));
  }

  async write(batch: SinkBatch): Promise<void> {
    const connection = this.connection;
    if (!connection) throw new SinkError('not connected', true);
    // Sent again after a reconnect, and the stream already holds it (the EXEC applied; its reply was lost).
    if (batch.sequence <= this.storedSequence) return;
    if (batch.sequence !== this.storedSequence + 1) {
      throw new SinkError(`the stream holds batch ${this.storedSequence} of this publish, and the next to write is ${batch.sequence}: ` +
        'the batches between are missing from it. Start publish again: it continues from the position the stream holds', false);
    }
    this.storedSequence = batch.sequence;
    const commands = this.commands;
    for (const message of batch.messages) commands.commandAfter(this.xadd, [message.id, EVENT_FIELD, message.body]);
    commands.command(['SET', this.positionKey, JSON.stringify({ ...batch.position, sequence: batch.sequence, route: this.route, writtenMs: Date.now() })]);
    const count = commands.commands;
    const block = fencedBlock(this.lease.guardCommands(), commands.take(), count, 0);
    this.renewedMs = Date.now();
    const outcome = await this.step(async () => block.outcome(await connection.send(block.parts, block.replies)));
    const refused = outcome.replies.findIndex((r) => r instanceof RespErrorReply);
    if (!outcome.applied) {
      const reply = outcome.replies[refused] as RespErrorReply | undefined;
      // Out of memory (maxmemory), loading, busy with a script: it may take the block later.
      const passing = reply !== undefined && ['OOM', 'LOADING', 'BUSY'].includes(reply.code);
      throw new SinkError(`the stream's server refused a block of events (nothing of it applied): ${reply?.message ?? 'EXEC failed'}`, passing);
    }
    if (refused >= 0) {
      throw new SinkError(`the stream's server failed a command of an applied block: ${(outcome.replies[refused] as RespErrorReply).message}`, false);
    }
    this.confirmedSequence = Math.max(this.confirmedSequence, batch.sequence);
  }

  async close(): Promise<void> {
    if (this.renewal) clearInterval(this.renewal);
    this.renewal = null;
    const connection = this.connection;
    this.connection = null;
    if (!connection) return;
    // Released so that the next publish need not wait for the lease; a server that does not answer (frozen,
    // cut off) is not waited for: the lease then ends by itself.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = new Promise<void>((resolve) => { timer = setTimeout(resolve, RELEASE_WAIT_MS); });
    await Promise.race([connection.call(this.lease.releaseCommand()).catch(() => undefined), gaveUp]);
    clearTimeout(timer);
    connection.close();
  }

  private async readStored(): Promise<StoredPosition | null> {
    const value = await this.step(() => this.connection!.ok(['GET', this.positionKey]));
    if (!(value instanceof Uint8Array)) return null;
    let stored: Partial<Checkpoint> & { shards?: unknown; sequence?: number; route?: unknown };
    try {
      stored = JSON.parse(replyText(value));
    } catch {
      throw new SinkError(`${this.positionKey} on ${this.name} is not a publish position (not JSON): delete it to publish from a new snapshot`, false);
    }
    // Only a sequence: saved inside a snapshot, when there was nothing to continue from.
    const position = stored.replid === undefined && stored.shards === undefined ? null : this.positionIn(stored);
    return { position, sequence: Number.isSafeInteger(stored.sequence) ? stored.sequence! : 0, route: stored.route ?? null };
  }

  private positionIn(stored: Partial<Checkpoint> & { shards?: unknown }): Position {
    try {
      return positionOf(stored, 'not a position');
    } catch {
      throw new SinkError(`${this.positionKey} on ${this.name} holds no publish position ({"replid","offset","db"} or {"shards":[...]}): ` +
        'delete it to publish from a new snapshot', false);
    }
  }

  /** Renews the lease when no block has for a third of it. */
  private renew(): void {
    const connection = this.connection;
    if (!connection || Date.now() - this.renewedMs < this.lease.leaseMs / 3) return;
    this.renewedMs = Date.now();
    connection.call(this.lease.guardCommand()).catch(() => undefined); // a lost lease fails the next block
  }

  /** Runs a step, turning its failure into a SinkError: retryable as the connection says, another publish holding the stream not. */
  private async step<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof SinkError) throw err;
      if (err instanceof TargetHeld) throw new SinkError(err.message, false);
      if (err instanceof ConnectionError) throw new SinkError(err.message, err.retryable, { cause: err });
      throw new SinkError((err as Error).message, false, { cause: err });
    }
  }
}

/** A Redis stream sink: redis://[user:password@]host[:port][?stream=KEY&maxlen=N&exact] (rediss:// for TLS). */
export function redisStreamSink(url: string, options: RedisStreamSinkOptions = {}): Sink {
  return new RedisStreamSink(url, options);
}
