// A master found through Redis Sentinel: redis+sentinel://[user:password@]host[:port][,host[:port]...]/<name>
// (rediss+sentinel:// for TLS). The sentinels are asked, in order, where the master named <name> is
// (SENTINEL get-master-addr-by-name); the user and password are the master's (sentinels are asked
// without). Asked again before every reconnection, so a replica link follows a failover to the promoted
// master, which continues the stream with PSYNC.
import type { ConnectionOptions } from 'node:tls';
import { RespErrorReply, replyText } from '../resp/replies.js';
import { ConnectionError, RedisConnection } from '../sync/connection.js';
import { hostPort, redactUrl } from './redis-url.js';
import { sleep } from '../node/abortable-sleep.js';

export interface SentinelUrl {
  /** redis or rediss: how the master (and the sentinels) are spoken to. */
  scheme: 'redis' | 'rediss';
  /** `user:password@`, or '' (the master's credentials, as the URL gives them). */
  userinfo: string;
  sentinels: Array<{ host: string; port: number }>;
  masterName: string;
}

const SENTINEL_URL = /^(rediss?)\+sentinel:\/\/(?:([^@/]*)@)?([^/@]+)\/([^/?#]+)\/?$/i;
const DEFAULT_SENTINEL_PORT = 26379;

export function isSentinelUrl(url: string): boolean {
  return /^rediss?\+sentinel:/i.test(url);
}

export function parseSentinelUrl(url: string): SentinelUrl {
  const m = SENTINEL_URL.exec(url);
  if (!m) {
    throw new TypeError(`not a Sentinel URL: ${redactUrl(url)} (expected redis+sentinel://[user:password@]host[:port][,host[:port]...]/<master name>)`);
  }
  const sentinels = m[3]!.split(',').map((address) => {
    const at = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(address.trim());
    const port = Number(at?.[3] ?? DEFAULT_SENTINEL_PORT);
    if (!at || !(port > 0 && port <= 65535)) throw new TypeError(`${redactUrl(url)}: ${JSON.stringify(address)} is not a sentinel's host[:port]`);
    return { host: at[1] ?? at[2]!, port };
  });
  return { scheme: m[1]!.toLowerCase() as 'redis' | 'rediss', userinfo: m[2] ? `${m[2]}@` : '', sentinels, masterName: decodeURIComponent(m[4]!) };
}

/**
 * The URL of the master the sentinels name now (the first that answers with an address). Throws a
 * retryable ConnectionError when none answers, and one that is not when those that answer know no master
 * of that name.
 */
export async function sentinelMaster(url: string, tls?: ConnectionOptions, timeoutMs?: number): Promise<string> {
  const parsed = parseSentinelUrl(url);
  const failures: string[] = [];
  let unknown = 0;
  for (const { host, port } of parsed.sentinels) {
    let connection: RedisConnection;
    try {
      connection = await RedisConnection.open({ endpoint: { host, port, tls: parsed.scheme === 'rediss' }, tls, timeoutMs, role: 'sentinel' });
    } catch (err) {
      failures.push((err as Error).message);
      continue;
    }
    try {
      const reply = await connection.call(['SENTINEL', 'get-master-addr-by-name', parsed.masterName]);
      if (Array.isArray(reply) && reply.length === 2) {
        return `${parsed.scheme}://${parsed.userinfo}${hostPort(replyText(reply[0]!), replyText(reply[1]!))}`;
      }
      if (reply instanceof RespErrorReply) failures.push(`sentinel ${host}:${port}: ${reply.message}`);
      else unknown++;
    } catch (err) {
      failures.push((err as Error).message);
    } finally {
      connection.close();
    }
  }
  const name = JSON.stringify(parsed.masterName);
  if (unknown > 0 && failures.length === 0) throw new ConnectionError(`no sentinel of ${redactUrl(url)} knows a master named ${name}`, false);
  throw new ConnectionError(`no sentinel of ${redactUrl(url)} told where master ${name} is: ${failures.join('; ')}`, true);
}

export interface SentinelRetry {
  tls?: ConnectionOptions;
  timeoutMs?: number;
  /** Delays between attempts: doubling from initialDelayMs (100) to maxDelayMs (5000). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Gives up (the last failure thrown) once this long has passed without an answer (default: never). */
  maxRetryTimeMs?: number;
  /** Ends the waiting: the last failure is thrown. */
  signal?: AbortSignal;
  /** Told each failure that is retried, and the delay before the next attempt. */
  onRetry?: (message: string, delayMs: number) => void;
}

/**
 * What `ask` gets from the master the sentinels of `url` name (`master`: the one they named already).
 * While that master cannot be reached (dead, and not yet failed over) the sentinels are asked again
 * after each delay, as a Sentinel source's link does. Resolves with the answer and the master asked.
 */
export async function askSentinelMaster<T>(url: string, master: string, ask: (master: string) => Promise<T>, retry: SentinelRetry = {}): Promise<{ master: string; answer: T }> {
  const { tls, timeoutMs, initialDelayMs = 100, maxDelayMs = 5000, maxRetryTimeMs = Infinity, signal, onRetry } = retry;
  const since = Date.now();
  for (let delay = initialDelayMs; ; delay = Math.min(delay * 2, maxDelayMs)) {
    try {
      return { master, answer: await ask(master) };
    } catch (err) {
      if (!(err instanceof ConnectionError && err.retryable) || signal?.aborted || Date.now() - since + delay > maxRetryTimeMs) throw err;
      onRetry?.(err.message, delay);
      await sleep(delay, signal ?? new AbortController().signal);
      if (signal?.aborted) throw err;
      master = await sentinelMaster(url, tls, timeoutMs);
    }
  }
}
