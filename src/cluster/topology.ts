// A Redis Cluster's shards as one of its nodes sees them: each master with the slots it serves and its
// replicas. What a cluster source follows (a replica link per shard) and a cluster target routes to.
// Read by CLUSTER SHARDS (7.0+: the endpoint clients should use, the TLS port, each node's health), else
// CLUSTER NODES (every version since 3.0). docs/dev/cluster-replication-notes.md has both replies.
import type { ConnectionOptions } from 'node:tls';
import { RespErrorReply, replyText, type RespValue } from '../resp/replies.js';
import { parseRedisUrl } from '../replica/redis-url.js';
import { RedisConnection } from '../sync/connection.js';

export interface ClusterNode {
  /** The node's 40-character ID. */
  id: string;
  host: string;
  port: number;
  role: 'master' | 'replica';
  /** A replica's master (null for a master). */
  masterId: string | null;
  /** Flagged fail or fail? (down, or thought down by the node asked). */
  failing: boolean;
}

/** A master, the slot ranges it serves (inclusive), and its replicas. */
export interface Shard {
  master: ClusterNode;
  slots: Array<[number, number]>;
  replicas: ClusterNode[];
}

export interface ClusterTopology {
  shards: Shard[];
}

/** CLUSTER NODES is not the text of a cluster node: what is wrong, and where. */
export class TopologyError extends Error {
  override name = 'TopologyError';
}

const NODE_ID = /^[0-9a-f]{40}$/;

/**
 * The shards of a CLUSTER NODES reply: one line per node,
 *   <id> <ip:port@cport[,hostname]> <flags> <master id or -> <ping-sent> <pong-recv> <epoch> <link> <slots...>
 * with slots as `a-b` or `a`, and slots in migration as `[a->-<id>]` / `[a-<-<id>]` (left out: the
 * slot is still the node's own until it is moved). Nodes without an address (noaddr, handshake) are left out.
 */
export function parseClusterNodes(text: string): ClusterTopology {
  const masters = new Map<string, Shard>();
  const replicas: ClusterNode[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const fields = line.split(' ');
    if (fields.length < 8) throw new TopologyError(`CLUSTER NODES line ${index + 1} has ${fields.length} fields, not 8 or more: ${JSON.stringify(line)}`);
    const [id, address, flagText, masterId] = fields as [string, string, string, string];
    if (!NODE_ID.test(id)) throw new TopologyError(`CLUSTER NODES line ${index + 1}: ${JSON.stringify(id)} is not a node ID`);
    const flags = new Set(flagText.split(','));
    if (flags.has('noaddr') || flags.has('handshake')) return;
    const { host, port } = addressOf(address, index + 1);
    const isMaster = flags.has('master');
    if (!isMaster && !flags.has('slave')) return; // neither yet (a node just met)
    const node: ClusterNode = { id, host, port, role: isMaster ? 'master' : 'replica', masterId: isMaster || masterId === '-' ? null : masterId,
      failing: flags.has('fail') || flags.has('fail?') };
    if (isMaster) masters.set(id, { master: node, slots: fields.slice(8).flatMap((s) => slotRange(s, index + 1)), replicas: [] });
    else replicas.push(node);
  });
  for (const replica of replicas) masters.get(replica.masterId ?? '')?.replicas.push(replica);
  return { shards: [...masters.values()].sort(byFirstSlot) };
}

/** The slots a node is migrating away, as its own CLUSTER NODES line shows them (only the `myself` line has them). */
export interface MigratingSlots {
  /** The node that answered. */
  self: string;
  /** Slot → the node it is migrating to (`[slot->-<id>]`; `[slot-<-<id>]`, importing, is left out). */
  migrating: Map<number, string>;
}

/** The migrating slots of the `myself` line of a CLUSTER NODES reply (none: a node that is moving nothing away). */
export function parseMigratingSlots(text: string): MigratingSlots {
  const line = text.split('\n').map((l) => l.trim().split(' ')).find((f) => f[2]?.split(',').includes('myself'));
  if (!line) throw new TopologyError('CLUSTER NODES has no line flagged myself');
  const migrating = new Map<number, string>();
  for (const field of line.slice(8)) {
    const m = /^\[(\d+)->-([0-9a-f]{40})\]$/.exec(field);
    if (m) migrating.set(Number(m[1]), m[2]!);
  }
  return { self: line[0]!, migrating };
}

/** Shards in the order of their first slot; those without slots last. */
function byFirstSlot(a: Shard, b: Shard): number {
  return (a.slots[0]?.[0] ?? 16384) - (b.slots[0]?.[0] ?? 16384);
}

/** `ip:port@cport[,hostname]` (the IP may be IPv6, with colons). */
function addressOf(address: string, line: number): { host: string; port: number } {
  const hostPort = address.split('@')[0]!.split(',')[0]!;
  const colon = hostPort.lastIndexOf(':');
  const port = Number(hostPort.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new TopologyError(`CLUSTER NODES line ${line}: ${JSON.stringify(address)} is not ip:port@cport`);
  }
  return { host: hostPort.slice(0, colon), port };
}

/** A slot field: `a-b` or `a` as a range; a migration marker (`[...]`) as none. */
function slotRange(field: string, line: number): Array<[number, number]> {
  if (field.startsWith('[')) return [];
  const m = /^(\d+)(?:-(\d+))?$/.exec(field);
  const [start, end] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [NaN, NaN];
  if (!(start >= 0 && end >= start && end < 16384)) throw new TopologyError(`CLUSTER NODES line ${line}: ${JSON.stringify(field)} is not a slot range`);
  return [[start, end]];
}

/** A RESP2 map (a flat array of keys and values) as an object; RESP3 maps come as RespMap and are not asked for. */
function fields(value: RespValue, what: string): Map<string, RespValue> {
  if (!Array.isArray(value) || value.length % 2 !== 0) throw new TopologyError(`CLUSTER SHARDS: ${what} is not a map`);
  const map = new Map<string, RespValue>();
  for (let i = 0; i < value.length; i += 2) map.set(replyText(value[i] as Uint8Array | string), value[i + 1]!);
  return map;
}

/**
 * The shards of a CLUSTER SHARDS reply: per shard a map of `slots` (start, end, start, end...) and
 * `nodes`, each node a map (id, port and tls-port when set, ip, endpoint, hostname when set, role,
 * replication-offset, health); the fields a node has vary, so they are read by name. `tlsPort`: the
 * client speaks TLS, so nodes are reached on their TLS port. The shard's master is its master that is not
 * failing (a failed master stays in its shard, as a master, until it rejoins as a replica).
 */
export function parseClusterShards(reply: RespValue, tlsPort = false): ClusterTopology {
  if (!Array.isArray(reply)) throw new TopologyError('CLUSTER SHARDS did not answer with an array');
  const shards: Shard[] = [];
  reply.forEach((entry, index) => {
    const shard = fields(entry, `shard ${index + 1}`);
    const bounds = (shard.get('slots') ?? []) as RespValue[];
    const slots: Array<[number, number]> = [];
    for (let i = 0; i + 1 < bounds.length; i += 2) slots.push([Number(bounds[i]), Number(bounds[i + 1])]);
    const nodes = ((shard.get('nodes') ?? []) as RespValue[]).map((n, at) => shardNode(fields(n, `node ${at + 1} of shard ${index + 1}`), tlsPort));
    const masters = nodes.filter((n) => n.role === 'master');
    const master = masters.find((n) => !n.failing) ?? masters[0];
    if (!master) return; // no master known yet (a node just met)
    const replicas = nodes.filter((n) => n.role === 'replica').map((n) => ({ ...n, masterId: master.id }));
    shards.push({ master, slots, replicas });
  });
  return { shards: shards.sort(byFirstSlot) };
}

function shardNode(node: Map<string, RespValue>, tlsPort: boolean): ClusterNode {
  const text = (name: string) => {
    const value = node.get(name);
    return value === undefined || value === null ? undefined : replyText(value as Uint8Array | string);
  };
  const id = text('id') ?? '';
  const endpoint = text('endpoint');
  // '?': the node has no endpoint of the preferred type (cluster-preferred-endpoint-type hostname, none set).
  const host = endpoint && endpoint !== '?' ? endpoint : text('ip') ?? '';
  const port = Number(tlsPort ? node.get('tls-port') : node.get('port') ?? node.get('tls-port'));
  if (!NODE_ID.test(id) || !host || !(port > 0 && port <= 65535)) {
    throw new TopologyError(`CLUSTER SHARDS: a node without an ID, an address or a${tlsPort ? ' TLS' : ''} port: ${JSON.stringify(Object.fromEntries([...node].map(([k, v]) => [k, typeof v === 'number' ? v : replyText(v as Uint8Array)])))}`);
  }
  const role = text('role') === 'master' ? 'master' : 'replica';
  return { id, host, port, role, masterId: null, failing: text('health') === 'fail' };
}

/**
 * The topology as the node at `url` sees it: by CLUSTER SHARDS, or CLUSTER NODES from a server that does
 * not have it (before 7.0).
 */
export async function readTopology(url: string, tls?: ConnectionOptions, timeoutMs?: number): Promise<ClusterTopology> {
  const endpoint = parseRedisUrl(url);
  const connection = await RedisConnection.open({ endpoint, tls, timeoutMs, role: 'cluster node' });
  try {
    const shards = await connection.call(['CLUSTER', 'SHARDS']);
    if (!(shards instanceof RespErrorReply)) return parseClusterShards(shards, endpoint.tls);
    if (!/unknown subcommand|unknown command/i.test(shards.message)) throw new TopologyError(`CLUSTER SHARDS failed: ${shards.message}`);
    return parseClusterNodes(replyText(await connection.ok(['CLUSTER', 'NODES'])));
  } finally {
    connection.close();
  }
}

/**
 * Whether the server at `url` is a node of a Redis Cluster (INFO cluster: cluster_enabled:1). A server
 * that cannot be reached now is taken as not one: what follows connects to it as to one server, and
 * reports that failure its own way (at once, or retried with --wait).
 */
export async function isClusterNode(url: string, tls?: ConnectionOptions, timeoutMs?: number): Promise<boolean> {
  let connection: RedisConnection;
  try {
    connection = await RedisConnection.open({ endpoint: parseRedisUrl(url), tls, timeoutMs, role: 'source' });
  } catch {
    return false;
  }
  try {
    return await clusterEnabled(connection);
  } finally {
    connection.close();
  }
}

/** Whether the server is a node of a Redis Cluster (INFO cluster; a server that does not say is not). */
export async function clusterEnabled(connection: RedisConnection): Promise<boolean> {
  try {
    return (await connection.info('cluster')).get('cluster_enabled') === '1';
  } catch {
    return false;
  }
}

/** The URL of a node: the one given, with the node's address (same scheme, user, password). */
export function urlOfNode(seed: string, node: Pick<ClusterNode, 'host' | 'port'>): string {
  const url = new URL(seed);
  url.hostname = node.host.includes(':') ? `[${node.host}]` : node.host;
  url.port = String(node.port);
  return url.toString();
}

/**
 * What `ask` makes of the first of `nodes` that answers (each asked once, in order: the node given
 * first, then those seen before); rejects with the first one's error when none does.
 */
export async function firstAnswer<T>(nodes: Iterable<string>, ask: (node: string) => Promise<T>): Promise<T> {
  let firstError: unknown = null;
  for (const node of new Set(nodes)) {
    try {
      return await ask(node);
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError;
}

/** The URLs of every node of the cluster `url` is a node of; `known` when its topology cannot be read. */
export async function clusterNodeUrls(url: string, tls: ConnectionOptions | undefined, timeoutMs: number | undefined, known: string[]): Promise<string[]> {
  try {
    const topology = await readTopology(url, tls, timeoutMs);
    return topology.shards.flatMap((s) => [s.master, ...s.replicas]).map((node) => urlOfNode(url, node));
  } catch {
    return known;
  }
}
