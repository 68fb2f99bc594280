// A Redis Cluster as one source: its shards found through any node (topology.ts), a Replica of each
// shard's master, and each shard continuing from its own checkpoint. A cluster orders writes per shard
// only, so that is the order kept: the shards' events interleave as they arrive, each tagged with its shard.
//
// Which saved checkpoint is a shard's is told by its replication history, not by its node: a master keeps
// its replid across restarts with its data, and a replica promoted in a failover answers to its old
// master's as replid2; so a restart finds each shard's place whichever node serves it. A shard whose
// history matches no checkpoint (new, or restarted without its data) is copied from a new snapshot.
import { sleep } from '../node/abortable-sleep.js';
import { isClusterPosition, type Position } from '../pipeline/position.js';
import type { ReadFrom, ShardRef, ShardStart, Source } from '../pipeline/source.js';
import type { Checkpoint, ReplicaEvent } from '../replica/events.js';
import { parseRedisUrl } from '../replica/redis-url.js';
import { Replica, type ReplicaBacklog, type ReplicaOptions } from '../replica/replica.js';
import { replyText } from '../resp/replies.js';
import { ConnectionError, RedisConnection } from '../sync/connection.js';
import { readTopology, TopologyError, type ClusterNode, type ClusterTopology, type Shard } from './topology.js';

type ShardReplicaOptions = Omit<ReplicaOptions, 'checkpoint' | 'signal'>;

/** A shard to follow: where its stream is read, and from where in it. */
interface FollowedShard {
  ref: ShardRef;
  url: string;
  checkpoint: Checkpoint | null;
}

/** The replication histories a node answers to: its replid, and its former master's up to where it took over. */
interface Histories {
  replid: string;
  replid2: string;
}

export class ClusterSource implements Source {
  private replicas: Replica[] = [];
  /** Every node of the last topology read (URLs): asked for the topology when the one given is down. */
  private knownNodes: string[] = [];
  private stopped = false;
  private readonly abort = new AbortController();

  /** `onShards`: told the shards found, each with its checkpoint, before any of their events. */
  constructor(private readonly options: ShardReplicaOptions, private readonly readFrom: ReadFrom, private readonly from: Position | null,
    private readonly onShards: (shards: ShardStart[]) => void = () => undefined) {}

  get backlog(): ReplicaBacklog {
    let queuedBytes = 0;
    let spooledBytes = 0;
    for (const replica of this.replicas) {
      queuedBytes += replica.backlog.queuedBytes;
      spooledBytes += replica.backlog.spooledBytes;
    }
    return { queuedBytes, spooledBytes };
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    for (const replica of this.replicas) replica.stop();
  }

  async run(handle: (event: ReplicaEvent, shard?: ShardRef) => void | Promise<void>): Promise<void> {
    const shards = await this.discover();
    if (this.stopped) return;
    this.onShards(shards.map(({ ref, checkpoint }) => ({ shard: ref, from: checkpoint })));
    this.replicas = shards.map((shard) => new Replica({
      ...this.options, url: shard.url, checkpoint: shard.checkpoint,
      reconnect: { ...this.options.reconnect, relocate: () => this.relocate(shard) },
    }));
    try {
      await Promise.all(this.replicas.map((replica, i) => replica.run((event) => handle(event, shards[i]!.ref))));
    } finally {
      // One shard failed: the others stop with it (the pipeline ends, its position saved).
      this.stop();
    }
  }

  /**
   * The shards, each with the checkpoint its history matches. A first attempt that cannot reach the node
   * ends the source unless reconnect.waitForMaster (as a Replica's first connection does).
   */
  private async discover(): Promise<FollowedShard[]> {
    const { initialDelayMs = 100, maxDelayMs = 5000, waitForMaster = true } = this.options.reconnect ?? {};
    let delay = initialDelayMs;
    for (;;) {
      try {
        return await this.readShards();
      } catch (err) {
        if (!(err instanceof ConnectionError && err.retryable && waitForMaster) || this.stopped) throw err;
        await sleep(delay, this.abort.signal);
        delay = Math.min(delay * 2, maxDelayMs);
      }
    }
  }

  /**
   * Where a shard's stream is read now, when that moved (a replica promoted by a failover, the replica
   * read from gone): the node readFrom picks in the shard that serves the shard's first slot, else (a
   * shard without slots) in the shard of the same master. Asked by the shard's replica before it
   * reconnects; null: try the same node again.
   */
  private async relocate(shard: FollowedShard): Promise<string | null> {
    const topology = await this.readTopologyFromAny();
    const first = shard.ref.slots[0]?.[0];
    const serving = topology.shards.filter((s) => !s.master.failing);
    const now = first === undefined
      ? serving.find((s) => s.master.id === shard.ref.id)
      : serving.find((s) => s.slots.some(([a, b]) => a <= first && first <= b));
    const node = now && this.nodeOf(now, shard.url);
    if (!node) return null;
    const url = urlOfNode(this.options.url, node);
    if (url === shard.url) return null;
    shard.url = url;
    shard.ref.node = `${node.host}:${node.port}`;
    return url;
  }

  /**
   * The node of `shard` to read, as readFrom says: among its replicas that are not failing, the one read
   * from already (`current`) if it is one, else the first; null when readFrom is 'replica' and it has none.
   */
  private nodeOf(shard: Shard, current?: string): ClusterNode | null {
    if (this.readFrom === 'master') return shard.master;
    const replicas = shard.replicas.filter((r) => !r.failing);
    const node = replicas.find((r) => urlOfNode(this.options.url, r) === current) ?? replicas[0];
    return node ?? (this.readFrom === 'prefer-replica' ? shard.master : null);
  }

  /** The topology, as the first node that answers sees it: the one given, then every node seen since. */
  private async readTopologyFromAny(): Promise<ClusterTopology> {
    const { url, tls, timeoutMs } = this.options;
    let lastError: unknown = null;
    for (const node of [url, ...this.knownNodes]) {
      try {
        const topology = await readTopology(node, tls, timeoutMs);
        this.knownNodes = topology.shards.flatMap((s) => [s.master, ...s.replicas]).map((n) => urlOfNode(url, n));
        return topology;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  private async readShards(): Promise<FollowedShard[]> {
    const { url } = this.options;
    const topology = await this.readTopologyFromAny();
    const saved = isClusterPosition(this.from) ? this.from.shards : this.from ? [this.from] : [];
    const shards: FollowedShard[] = [];
    for (const shard of topology.shards) {
      const node = this.nodeOf(shard);
      if (!node) {
        throw new TopologyError(`--read-from replica: the shard of ${shard.master.host}:${shard.master.port} (slots ${shard.slots.map(([a, b]) => `${a}-${b}`).join(',')}) ` +
          'has no replica that is up; use --read-from prefer-replica to read it from its master');
      }
      const nodeUrl = urlOfNode(url, node);
      const histories = await this.historiesOf(nodeUrl);
      const checkpoint = saved.find((cp) => cp.replid === histories.replid || cp.replid === histories.replid2) ?? null;
      shards.push({ ref: { id: shard.master.id, slots: shard.slots, node: `${node.host}:${node.port}` }, url: nodeUrl, checkpoint });
    }
    return shards;
  }

  private async historiesOf(nodeUrl: string): Promise<Histories> {
    const { tls, timeoutMs } = this.options;
    const connection = await RedisConnection.open({ endpoint: parseRedisUrl(nodeUrl), tls, timeoutMs, role: 'cluster node' });
    try {
      const info = replyText(await connection.ok(['INFO', 'replication']));
      const field = (name: string) => new RegExp(`^${name}:(\\S*)`, 'm').exec(info)?.[1] ?? '';
      return { replid: field('master_replid'), replid2: field('master_replid2') };
    } finally {
      connection.close();
    }
  }
}

/** The URL of a node: the one given, with the node's address (same scheme, user, password). */
export function urlOfNode(seed: string, node: Pick<ClusterNode, 'host' | 'port'>): string {
  const url = new URL(seed);
  url.hostname = node.host.includes(':') ? `[${node.host}]` : node.host;
  url.port = String(node.port);
  return url.toString();
}
