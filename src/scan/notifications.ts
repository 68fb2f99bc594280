// What scan mode learns of changes: keyspace notifications (Redis src/notify.c), each naming a key that
// changed and its db on a `__keyevent@<db>__:<event>` channel, read on one subscribed connection. A flush
// (FLUSHDB, FLUSHALL) has no notification; client-side caching's invalidation message does announce it
// (a null one, to every tracking client whatever its prefixes), so the same connection tracks with a
// prefix no key has and redirects that message to itself.
import type { ConnectionOptions } from 'node:tls';
import { encodeCommand } from '../resp/encode.js';
import { RespErrorReply, replyText, type RespValue } from '../resp/replies.js';
import type { RedisEndpoint } from '../replica/redis-url.js';
import { ConnectionError, RedisConnection } from '../sync/connection.js';

/** The classes every change of a key is notified in (keyevent channels: E): what `A` stands for in Redis 7. */
const CLASSES = 'g$lshzxet';
export const NEEDED_FLAGS = `E${CLASSES}`;
/** A prefix no key is given: tracking then sends only the flush message. */
const NO_KEY_PREFIX = '\u0000redistap:flushes-only\u0000';
const KEYEVENT = /^__keyevent@(\d+)__:(.+)$/;
const PING_INTERVAL_MS = 10_000;

export interface NotificationHandlers {
  /** A key of `db` changed (`event`: set, hset, del, expired, rename_from...). */
  changed(db: number, key: Uint8Array, event: string): void;
  /** A db, or all of them, was flushed (which one is not said). */
  flushed(): void;
}

/** The letters notify-keyspace-events lacks for scan mode ('' when it has them all). */
export function missingFlags(current: string): string {
  const have = new Set(current.replace('A', CLASSES));
  return [...NEEDED_FLAGS].filter((letter) => !have.has(letter)).join('');
}

/**
 * The subscribed connection. Rejects `failed` when it drops (notifications are lost while it is down, so
 * the caller reads everything again).
 */
export class Notifications {
  /** Whether a flush is announced (false: the server refused CLIENT TRACKING, and flushes go unseen). */
  tracksFlushes = false;
  private readonly pinger: ReturnType<typeof setInterval>;

  private constructor(private readonly connection: RedisConnection) {
    this.pinger = setInterval(() => { connection.call(['PING']).catch(() => undefined); }, PING_INTERVAL_MS);
  }

  /** Subscribes (flush tracking first); `trackingRefused` hears why flushes cannot be announced. */
  static async subscribe(endpoint: RedisEndpoint, tls: ConnectionOptions | undefined, timeoutMs: number | undefined, handlers: NotificationHandlers,
    trackingRefused: (reason: string) => void): Promise<Notifications> {
    const connection = await RedisConnection.open({ endpoint, tls, timeoutMs, role: 'source (keyspace notifications)', onMessage: (m) => dispatch(m, handlers) });
    const notifications = new Notifications(connection);
    try {
      const id = await connection.ok(['CLIENT', 'ID']);
      const tracking = await connection.call(['CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id), 'BCAST', 'PREFIX', NO_KEY_PREFIX]);
      if (tracking instanceof RespErrorReply) trackingRefused(tracking.message);
      else notifications.tracksFlushes = true;
      const replies = await connection.send([
        ...(notifications.tracksFlushes ? [encodeCommand(['SUBSCRIBE', '__redis__:invalidate'])] : []),
        encodeCommand(['PSUBSCRIBE', '__keyevent@*__:*']),
      ], notifications.tracksFlushes ? 2 : 1);
      const refused = replies.find((r) => r instanceof RespErrorReply);
      if (refused) throw new ConnectionError(`the source refused a subscription to keyspace notifications: ${(refused as RespErrorReply).message}`, false);
    } catch (err) {
      notifications.close();
      throw err;
    }
    return notifications;
  }

  /** Calls `listener` once if the connection drops. */
  onFailure(listener: (error: Error) => void): void {
    this.connection.onFailure(listener);
  }

  close(): void {
    clearInterval(this.pinger);
    this.connection.close();
  }
}

function dispatch(message: RespValue[], handlers: NotificationHandlers): void {
  if (message.length === 3) {
    // The invalidation channel: null for a flush (the keys it names have our prefix: there are none).
    if (message[2] === null) handlers.flushed();
    return;
  }
  const channel = KEYEVENT.exec(replyText(message[2]!));
  const key = message[3];
  if (channel && key instanceof Uint8Array) handlers.changed(Number(channel[1]), key, channel[2]!);
}

/**
 * Makes the server notify every change (CONFIG SET notify-keyspace-events with the letters it lacks).
 * Returns the setting to put back when done (`previous`, null: nothing was changed), or why the setting
 * cannot be read (`unreadable`: CONFIG refused, as a managed service does, which sets it in a parameter
 * group). Throws when the setting is readable, lacks letters, and cannot be changed.
 */
export async function ensureNotifications(connection: RedisConnection): Promise<{ previous: string | null } | { unreadable: string }> {
  const got = await connection.call(['CONFIG', 'GET', 'notify-keyspace-events']);
  if (got instanceof RespErrorReply) return { unreadable: `notify-keyspace-events cannot be read (CONFIG GET: ${got.message})` };
  const current = Array.isArray(got) && got[1] instanceof Uint8Array ? replyText(got[1]) : '';
  const missing = missingFlags(current);
  if (missing === '') return { previous: null };
  const set = await connection.call(['CONFIG', 'SET', 'notify-keyspace-events', current + missing]);
  if (set instanceof RespErrorReply) {
    throw new ConnectionError(`the source's notify-keyspace-events is ${JSON.stringify(current)}, which lacks ${JSON.stringify(missing)}, ` +
      `and CONFIG SET was refused (${set.message}): set it to include ${NEEDED_FLAGS} (e.g. KEA), where the service takes its parameters`, false);
  }
  return { previous: current };
}
