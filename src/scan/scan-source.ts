// The source for servers that refuse replication (managed services: no SYNC, PSYNC or REPLCONF): a
// snapshot by SCAN with each key's DUMP, then every key a keyspace notification names, read again as it
// is now. Events are key states, not commands: the snapshot's keys as 'entry' events, then a 'key-state'
// per key read (its value, or null once it is gone), in the order read, so each key's states in order.
//
// The notifications are subscribed before the scan starts: a key changed while the scan runs is read
// again after it. Notifications of a key whose read is pending coalesce: a hot key is read as fast as
// it can be, not once per write. Pub/sub loses what it could not deliver, so whenever the subscription
// drops, and on a flush (announced by client tracking, since flushes notify nothing), everything is read
// again from a new snapshot: a full-sync-start tells consumers to drop what they hold. A restart does the
// same: there is no position to continue from. At least once; once writes stop, the consumer converges.
import type { ConnectionOptions } from 'node:tls';
import { sleep } from '../node/abortable-sleep.js';
import { RespErrorReply, replyText } from '../resp/replies.js';
import type { Checkpoint } from '../replica/events.js';
import { parseRedisUrl, type RedisEndpoint } from '../replica/redis-url.js';
import type { ReconnectOptions, ReplicaBacklog } from '../replica/replica.js';
import { ConnectionError, RedisConnection } from '../sync/connection.js';
import { randomBytes } from 'node:crypto';
import type { Source, SourceEvent } from '../pipeline/source.js';
import { KeyStates, type KeyRef, type KeyState } from './key-states.js';
import { ensureNotifications, NEEDED_FLAGS, Notifications } from './notifications.js';

export interface ScanSourceOptions {
  url: string;
  tls?: ConnectionOptions;
  /** A connection attempt, or a reply, silent for this long is a failure (default 60 s). */
  timeoutMs?: number;
  /** Where an earlier run stood: never continued from (a new snapshot says so: reason 'resync'). */
  checkpoint: Checkpoint | null;
  reconnect?: ReconnectOptions;
  /** Only these dbs (default: all). */
  dbs?: readonly number[];
  /** A glob SCAN's MATCH takes: only keys it matches are read by the snapshot. */
  match?: string;
  /** Keys never read (the sink's own, on the source's server: reading them at each of its writes would never end). */
  ignoreKey?: (db: number, key: Uint8Array) => boolean;
  /** Do not read a snapshot: only the changes from now on (tail --no-rdb). */
  skipRdb?: boolean;
}

type Handle = (event: SourceEvent) => void | Promise<void>;

/** Keys asked per SCAN call, and taken per round of reads of changed keys. */
const SCAN_COUNT = 500;
const READ_BATCH = 256;
/**
 * Payload bytes one pipelined round of DUMPs should bring back, about: the keys per round halve while
 * rounds bring more (big values), and double back while they bring a quarter of it, from 1 to 512. What
 * waits in memory is bounded so, but for a single key bigger than it.
 */
const ROUND_BYTES = 8 << 20;
const MAX_ROUND_KEYS = 512;

/** Keys scan mode writes to check that notifications are on (where the setting cannot be read): never read. */
const PROBE_PREFIX = 'redistap:probe:';
const PROBE_WAIT_MS = 3000;
const PROBE_BYTES = Buffer.from(PROBE_PREFIX);

function isProbeKey(key: Uint8Array): boolean {
  return key.length > PROBE_BYTES.length && PROBE_BYTES.equals(key.subarray(0, PROBE_BYTES.length));
}

/** The session ended for a new snapshot (a flush was announced, or a rescan asked). */
class Rescan extends Error {}

export class ScanSource implements Source {
  private endpoint: RedisEndpoint;
  private readonly abort = new AbortController();
  /** Keys notified and not yet read, in the order first notified ("db:key" → the key). */
  private dirty = new Map<string, KeyRef>();
  private wake: (() => void) | null = null;
  private sessionFailure: Error | null = null;
  /** A flush was announced, or a rescan asked: the session ends for a new snapshot. */
  private rescanAsked = false;
  /** The snapshot's replid: one made up per snapshot, offsets counting the events after its start. */
  private replid = '';
  private offset = 0;
  private sessions = 0;
  /** notify-keyspace-events as it was before we changed it (null: not changed). */
  private notifySetting: string | null = null;
  /** Told of each probe key notified while a probe waits. */
  private probeSeen: ((key: string) => void) | null = null;
  /** Keys per pipelined round of reads (read()). */
  private roundKeys = 64;

  constructor(private readonly options: ScanSourceOptions) {
    this.endpoint = parseRedisUrl(options.url);
  }

  /** What waits: the keys notified and not yet read (an estimate of 64 bytes each: a name and a map entry). */
  get backlog(): ReplicaBacklog {
    return { queuedBytes: this.dirty.size * 64, spooledBytes: 0 };
  }

  stop(): void {
    this.abort.abort();
    this.wakeUp();
  }

  /** Reads everything again from a new snapshot (reason 'rescan'), as after a flush. */
  rescan(): void {
    this.rescanAsked = true;
    this.wakeUp();
  }

  async run(handle: Handle): Promise<void> {
    const { initialDelayMs = 100, maxDelayMs = 5000, waitForMaster = true, maxRetryTimeMs = Infinity, relocate } = this.options.reconnect ?? {};
    let delay = initialDelayMs;
    let failingSince: number | null = null;
    let everUp = false;
    try {
      while (!this.stopped) {
        let error: Error;
        try {
          await this.session(handle, () => {
            everUp = true;
            delay = initialDelayMs;
            failingSince = null;
          });
          continue; // a rescan
        } catch (err) {
          if (this.stopped) return;
          error = err as Error;
        }
        failingSince ??= Date.now();
        const fatal = !(error instanceof ConnectionError) || !error.retryable || (!everUp && !waitForMaster);
        const gaveUp = !fatal && Date.now() - failingSince + delay > maxRetryTimeMs;
        if (fatal || gaveUp) {
          const failure = gaveUp ? new ConnectionError(`gave up after ${Math.round((Date.now() - failingSince) / 1000)} s without a working connection: ${error.message}`, false, { cause: error }) : error;
          await handle({ type: 'link-down', error: failure, reconnectInMs: null });
          throw failure;
        }
        await handle({ type: 'link-down', error, reconnectInMs: delay });
        await sleep(delay, this.abort.signal);
        delay = Math.min(delay * 2, maxDelayMs);
        // A cluster shard's master may be another node now (a failover): read there.
        const moved = relocate ? await relocate().catch(() => null) : null;
        if (moved) this.endpoint = parseRedisUrl(moved);
      }
    } finally {
      await this.restoreNotifySetting();
    }
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  /**
   * One subscription: a snapshot, then the changes, until the subscription or the reads fail (rejects),
   * a flush asks for a new snapshot (resolves), or the source is stopped.
   */
  private async session(handle: Handle, up: () => void): Promise<void> {
    const { tls, timeoutMs } = this.options;
    this.dirty = new Map();
    this.rescanAsked = false;
    this.sessionFailure = null;
    const reader = await RedisConnection.open({ endpoint: this.endpoint, tls, timeoutMs, role: 'source' });
    let notifications: Notifications | null = null;
    try {
      reader.onFailure((e) => this.failSession(e));
      const warnings: string[] = [];
      let unreadable: string | null = null;
      if (this.sessions === 0) {
        const setting = await ensureNotifications(reader);
        if ('unreadable' in setting) unreadable = setting.unreadable;
        else this.notifySetting = setting.previous;
      }
      notifications = await Notifications.subscribe(this.endpoint, tls, timeoutMs, {
        changed: (db, key) => this.changed(db, key),
        flushed: () => this.rescan(),
      }, (reason) => warnings.push(`the source refused CLIENT TRACKING (${reason}): a FLUSHDB or FLUSHALL is not seen until a rescan`));
      notifications.onFailure((e) => this.failSession(e));
      if (unreadable !== null) await this.probe(reader, unreadable, warnings);
      if (this.sessions === 0) for (const message of warnings) await handle({ type: 'warning', message });
      const states = new KeyStates(reader, await hasPexpiretime(reader));
      await handle({ type: 'link-up', host: this.endpoint.host, port: this.endpoint.port });
      up();
      await this.snapshot(handle, reader, states);
      await this.changes(handle, states);
    } catch (err) {
      if (err instanceof Rescan) return;
      throw err;
    } finally {
      this.sessions++;
      notifications?.close();
      reader.close();
    }
  }

  /** Reads every selected key (or none, with skipRdb) between a full-sync-start and a full-sync-end. */
  private async snapshot(handle: Handle, reader: RedisConnection, states: KeyStates): Promise<void> {
    const replid = randomBytes(20).toString('hex');
    const reason = this.sessions > 0 ? 'rescan' : this.options.checkpoint ? 'resync' : 'no-checkpoint';
    this.replid = replid;
    await handle({ type: 'full-sync-start', replid, offset: this.offset, reason });
    await handle({ type: 'flush', db: null, cause: 'full-sync' });
    let keys = 0;
    const bytesBefore = states.bytes;
    if (!this.options.skipRdb) {
      for (const db of await this.dbsWithKeys(reader)) {
        let cursor = '0';
        do {
          this.check();
          await states.select(db);
          const reply = await reader.ok(['SCAN', cursor, ...(this.options.match ? ['MATCH', this.options.match] : []), 'COUNT', SCAN_COUNT]) as [Uint8Array, Uint8Array[]];
          cursor = replyText(reply[0]);
          const read = await this.read(states, reply[1].filter((key) => !isProbeKey(key)).map((key) => ({ db, key })));
          for (const { entry } of read) {
            if (!entry) continue; // deleted since SCAN named it, or (a cluster's) migrated away
            keys++;
            await handle({ type: 'entry', entry });
          }
          await handle({ type: 'rdb-progress', bytes: states.bytes - bytesBefore, total: null });
        } while (cursor !== '0');
      }
    }
    this.check();
    await handle({ type: 'full-sync-end', replid, offset: ++this.offset, keys, bytes: states.bytes - bytesBefore, functions: [] });
  }

  /** Reads the notified keys again, a batch at a time, until the session ends. */
  private async changes(handle: Handle, states: KeyStates): Promise<void> {
    for (;;) {
      this.check();
      if (this.dirty.size === 0) {
        await new Promise<void>((resolve) => { this.wake = resolve; });
        continue;
      }
      const batch: KeyRef[] = [];
      for (const [id, ref] of this.dirty) {
        this.dirty.delete(id);
        batch.push(ref);
        if (batch.length === READ_BATCH) break;
      }
      for (const { db, key, entry } of await this.read(states, batch)) {
        // A key another node serves (a cluster's slot migrated, or migrating, away): its state is that node's to read.
        if (entry === undefined) continue;
        await handle({ type: 'key-state', replid: this.replid, offset: ++this.offset, db, key, entry });
      }
    }
  }

  /** The states of `keys`, read in rounds of roundKeys keys (adjusted by what each round brought back). */
  private async read(states: KeyStates, keys: KeyRef[]): Promise<KeyState[]> {
    const read: KeyState[] = [];
    for (let at = 0; at < keys.length;) {
      const round = keys.slice(at, at + this.roundKeys);
      at += round.length;
      const before = states.bytes;
      read.push(...await states.read(round));
      const bytes = states.bytes - before;
      if (bytes > ROUND_BYTES) this.roundKeys = Math.max(1, this.roundKeys >> 1);
      else if (bytes < ROUND_BYTES / 4) this.roundKeys = Math.min(MAX_ROUND_KEYS, this.roundKeys * 2);
    }
    return read;
  }

  /** Throws what ended the session: a failure, a flush (a rescan), a stop. */
  private check(): void {
    if (this.sessionFailure) throw this.sessionFailure;
    if (this.rescanAsked) throw new Rescan();
    if (this.stopped) throw new ConnectionError('stopped', false);
  }

  /**
   * Where notify-keyspace-events cannot be read: a probe key written (2 s TTL) must be notified, or
   * notifications are off and the source stops, saying the setting to make. A source that refuses the
   * write leaves the setting unchecked (a warning).
   */
  private async probe(reader: RedisConnection, unreadable: string, warnings: string[]): Promise<void> {
    const key = `${PROBE_PREFIX}${randomBytes(8).toString('hex')}`;
    const seen = new Promise<boolean>((resolve) => { this.probeSeen = (k) => { if (k === key) resolve(true); }; });
    const set = await reader.call(['SET', key, '1', 'PX', 2000]);
    if (set instanceof RespErrorReply) {
      warnings.push(`${unreadable}, and a probe key could not be written to check it (SET: ${set.message}): it must include the letters ` +
        `${NEEDED_FLAGS} (e.g. KEA); changes it does not notify are not seen until a rescan`);
      return;
    }
    const notified = await Promise.race([seen, sleep(PROBE_WAIT_MS, this.abort.signal).then(() => false)]);
    this.probeSeen = null;
    await reader.call(['DEL', key]); // nothing left behind (else its TTL removes it)
    if (!notified) {
      throw new ConnectionError(`keyspace notifications are off: ${unreadable}, and the probe key ${key} written was not notified within ` +
        `${PROBE_WAIT_MS / 1000} s. Set notify-keyspace-events to include ${NEEDED_FLAGS} (e.g. KEA), where the service takes its parameters`, false);
    }
    warnings.push(`${unreadable}; a probe key was notified, so notifications are on: make sure the setting includes every letter of ` +
      `${NEEDED_FLAGS} (e.g. KEA), or changes of the classes it leaves out are not seen until a rescan`);
  }

  private changed(db: number, key: Uint8Array): void {
    if (isProbeKey(key)) {
      this.probeSeen?.(Buffer.from(key).toString('latin1'));
      return;
    }
    if ((this.options.dbs && !this.options.dbs.includes(db)) || this.options.ignoreKey?.(db, key)) return;
    const id = `${db}:${Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1')}`;
    if (!this.dirty.has(id)) this.dirty.set(id, { db, key });
    this.wakeUp();
  }

  private failSession(error: Error): void {
    this.sessionFailure ??= error;
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** The dbs INFO keyspace lists (those holding keys), the selected ones only. */
  private async dbsWithKeys(reader: RedisConnection): Promise<number[]> {
    const dbs = [...replyText(await reader.ok(['INFO', 'keyspace'])).matchAll(/^db(\d+):/gm)].map((m) => Number(m[1]));
    return dbs.filter((db) => !this.options.dbs || this.options.dbs.includes(db)).sort((a, b) => a - b);
  }

  /** Puts notify-keyspace-events back as it was before this run changed it. */
  private async restoreNotifySetting(): Promise<void> {
    if (this.notifySetting === null) return;
    const setting = this.notifySetting;
    this.notifySetting = null;
    const { tls, timeoutMs } = this.options;
    try {
      const c = await RedisConnection.open({ endpoint: this.endpoint, tls, timeoutMs: Math.min(timeoutMs ?? 5000, 5000), role: 'source' });
      try {
        await c.ok(['CONFIG', 'SET', 'notify-keyspace-events', setting]);
      } finally {
        c.close();
      }
    } catch {
      // The source is gone: what we set stays (harmless: notifications nobody subscribes to).
    }
  }
}

/** Whether the server has PEXPIRETIME (Redis 7.0+, Valkey): COMMAND INFO knows it. */
async function hasPexpiretime(reader: RedisConnection): Promise<boolean> {
  const info = await reader.call(['COMMAND', 'INFO', 'pexpiretime']);
  return Array.isArray(info) && info[0] !== null && info[0] !== undefined;
}
