// A Redis Cluster's shards as one of its nodes sees them (CLUSTER NODES, which every version since 3.0
// answers): each master with the slots it serves and its replicas. What a cluster source follows (a
// replica link per shard) and a cluster target routes to.
import type { ConnectionOptions } from 'node:tls';
import { replyText } from '../resp/replies.js';
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
  const shards = [...masters.values()].sort((a, b) => (a.slots[0]?.[0] ?? 16384) - (b.slots[0]?.[0] ?? 16384));
  return { shards };
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

/** The topology as the node at `url` sees it. */
export async function readTopology(url: string, tls?: ConnectionOptions, timeoutMs?: number): Promise<ClusterTopology> {
  const connection = await RedisConnection.open({ endpoint: parseRedisUrl(url), tls, timeoutMs, role: 'cluster node' });
  try {
    return parseClusterNodes(replyText(await connection.ok(['CLUSTER', 'NODES'])));
  } finally {
    connection.close();
  }
}
