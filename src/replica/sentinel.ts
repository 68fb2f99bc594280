// A master found through Redis Sentinel: redis+sentinel://[user:password@]host[:port][,host[:port]...]/<name>
// (rediss+sentinel:// for TLS). The sentinels are asked, in order, where the master named <name> is
// (SENTINEL get-master-addr-by-name; SENTINEL REPLICAS for --read-from replica); the user and password are the master's (sentinels are asked
// without). Asked again before every reconnection, so a replica link follows a failover to the promoted
// master, which continues the stream with PSYNC.
import type { ConnectionOptions } from 'node:tls';
import type { ReadFrom } from '../pipeline/source.js';
import { RespErrorReply, replyText, type RespValue } from '../resp/replies.js';
import { ConnectionError, RedisConnection } from '../sync/connection.js';
import { hostPort, redactUrl } from './redis-url.js';
import { withBackoff } from '../node/backoff.js';

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
 * Asks the sentinels of `url`, in order, until one answers `ask` with a result (undefined: it does not know
 * the master's name). Throws a retryable ConnectionError when none answers, and one that is not when those
 * that answer know no master of that name.
 */
async function askSentinels<T>(url: string, tls: ConnectionOptions | undefined, timeoutMs: number | undefined,
  ask: (connection: RedisConnection, parsed: SentinelUrl) => Promise<T | undefined>): Promise<T> {
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
      const answer = await ask(connection, parsed);
      if (answer !== undefined) return answer;
      unknown++;
    } catch (err) {
      failures.push(err instanceof RespErrorReply ? `sentinel ${host}:${port}: ${err.message}` : (err as Error).message);
    } finally {
      connection.close();
    }
  }
  const name = JSON.stringify(parsed.masterName);
  if (unknown > 0 && failures.length === 0) throw new ConnectionError(`no sentinel of ${redactUrl(url)} knows a master named ${name}`, false);
  throw new ConnectionError(`no sentinel of ${redactUrl(url)} told where master ${name} is: ${failures.join('; ')}`, true);
}

/** A node's URL: the Sentinel URL's scheme and credentials (the master's), at host:port. */
function nodeUrl(parsed: SentinelUrl, host: string, port: string): string {
  return `${parsed.scheme}://${parsed.userinfo}${hostPort(host, port)}`;
}

/**
 * The URL of the master the sentinels name now (the first that answers with an address). Throws a
 * retryable ConnectionError when none answers, and one that is not when those that answer know no master
 * of that name.
 */
export function sentinelMaster(url: string, tls?: ConnectionOptions, timeoutMs?: number): Promise<string> {
  return askSentinels(url, tls, timeoutMs, async (connection, parsed) => {
    const reply = await connection.call(['SENTINEL', 'get-master-addr-by-name', parsed.masterName]);
    if (reply instanceof RespErrorReply) throw reply;
    return Array.isArray(reply) && reply.length === 2 ? nodeUrl(parsed, replyText(reply[0]!), replyText(reply[1]!)) : undefined;
  });
}

/**
 * The URL of the node to read, as `readFrom` says: the master; or a replica the sentinels know healthy
 * (not down or disconnected, its link to the master up): `current` (host:port) while it is one, else the
 * first; with 'prefer-replica' the master when there is none. With 'replica' and none, a retryable
 * ConnectionError: one may come back.
 */
export async function sentinelNode(url: string, readFrom: ReadFrom, current?: string, tls?: ConnectionOptions, timeoutMs?: number): Promise<string> {
  if (readFrom === 'master') return sentinelMaster(url, tls, timeoutMs);
  const replicas = await askSentinels(url, tls, timeoutMs, async (connection, parsed) => {
    const reply = await connection.call(['SENTINEL', 'replicas', parsed.masterName]);
    if (reply instanceof RespErrorReply) {
      if (/no such master/i.test(reply.message)) return undefined;
      throw reply;
    }
    return (reply as RespValue[]).map((fields) => fieldsOf(fields as RespValue[])).filter(healthyReplica)
      .map((r) => ({ address: hostPort(r.get('ip')!, r.get('port')!), url: nodeUrl(parsed, r.get('ip')!, r.get('port')!) }));
  });
  const chosen = replicas.find((r) => r.address === current) ?? replicas[0];
  if (chosen) return chosen.url;
  if (readFrom === 'prefer-replica') return sentinelMaster(url, tls, timeoutMs);
  throw new ConnectionError(`--read-from replica: the sentinels of ${redactUrl(url)} know no replica of ${JSON.stringify(parseSentinelUrl(url).masterName)} that is up`, true);
}

/** A SENTINEL REPLICAS entry: a flat list of names and values. */
function fieldsOf(list: RespValue[]): Map<string, string> {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < list.length; i += 2) fields.set(replyText(list[i]!), replyText(list[i + 1]!));
  return fields;
}

function healthyReplica(replica: Map<string, string>): boolean {
  const flags = (replica.get('flags') ?? '').split(',');
  return !flags.some((f) => f === 's_down' || f === 'o_down' || f === 'disconnected') && replica.get('master-link-status') === 'ok' &&
    Boolean(replica.get('ip')) && Boolean(replica.get('port'));
}

export interface SentinelRetry {
  tls?: ConnectionOptions;
  /** Which node is asked again (sentinelNode): the master (default), or a replica. */
  readFrom?: ReadFrom;
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
 * What `ask` gets from the node the sentinels of `url` name (`node`: the one they named already; the
 * master, or with readFrom a replica). While that node cannot be reached (dead, and not yet failed over)
 * the sentinels are asked again after each delay, as a Sentinel source's link does. Resolves with the
 * answer and the node asked.
 */
export async function askSentinelNode<T>(url: string, node: string, ask: (node: string) => Promise<T>, retry: SentinelRetry = {}): Promise<{ node: string; answer: T }> {
  const { tls, timeoutMs, readFrom = 'master', maxRetryTimeMs = Infinity, onRetry } = retry;
  const since = Date.now();
  return withBackoff(async (before) => {
    if (before > 0) node = await sentinelNode(url, readFrom, undefined, tls, timeoutMs);
    return { node, answer: await ask(node) };
  }, (err, delay) => {
    if (!(err instanceof ConnectionError && err.retryable) || Date.now() - since + delay > maxRetryTimeMs) return false;
    onRetry?.(err.message, delay);
    return true;
  }, retry);
}
