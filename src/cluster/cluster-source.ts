// A Redis Cluster as one source: its shards found through any node (topology.ts), a Replica of each
// shard's master, and each shard continuing from its own checkpoint. A cluster orders writes per shard
// only, so that is the order kept: the shards' events interleave as they arrive, each tagged with its shard.
//
// Which saved checkpoint is a shard's is told by its replication history, not by its node: a master keeps
// its replid across restarts with its data, and a replica promoted in a failover answers to its old
// master's as replid2; so a restart finds each shard's place whichever node serves it. A shard whose
// history matches no checkpoint (new, or restarted without its data) is copied from a new snapshot.
//
// The topology is read again every TOPOLOGY_INTERVAL_MS and whenever a shard's link fails: a shard is
// known by its nodes (its master and replicas), so after a failover its link goes to whichever of them is
// its master now, and a master none of whose nodes is followed yet (a shard added) is followed too.
//
// Resharding's writes (a key's RESTORE-ASKING where it enters, its DEL where it leaves) are handed over
// as moved events, told from a client's by migration-tracker.ts; a DEL it must wait on holds only its
// own shard's stream.
import { sleep } from '../node/abortable-sleep.js';
import { isClusterPosition, type Position } from '../pipeline/position.js';
import type { ReadFrom, ShardRef, ShardStart, Source, SourceEvent } from '../pipeline/source.js';
import type { Checkpoint } from '../replica/events.js';
import { parseRedisUrl } from '../replica/redis-url.js';
import { Replica, type ReplicaBacklog, type ReplicaOptions } from '../replica/replica.js';
import { ScanSource, type ScanSourceOptions } from '../scan/scan-source.js';
import { ConnectionError, RedisConnection } from '../sync/connection.js';
import { MigrationTracker } from './migration-tracker.js';
import { firstAnswer, readTopology, TopologyError, urlOfNode, type ClusterNode, type ClusterTopology, type Shard } from './topology.js';

type ShardReplicaOptions = Omit<ReplicaOptions, 'checkpoint' | 'signal'>;

/** How often the topology is read again for shards added (a link's failure reads it at once). */
const TOPOLOGY_INTERVAL_MS = 10_000;

/** A shard to follow: where its stream is read, and from where in it. */
interface FollowedShard {
  ref: ShardRef;
  url: string;
  checkpoint: Checkpoint | null;
  /** The IDs of its nodes as the last topology read showed them (its master first): who may serve it later. */
  members: string[];
  /** Its master's URL, as the last topology read showed it. */
  master: string;
  /** What reads its stream: a Replica, or in scan mode a ScanSource of its master. */
  replica?: Replica | ScanSource;
  /** Topology reads in a row that showed none of its nodes (removed from the cluster at the second). */
  absentReads: number;
}

/** Topology reads in a row without any node of a shard before it is taken as removed (one node may not know all yet). */
const READS_TO_REMOVE = 2;

/** The replication histories a node answers to: its replid, and its former master's up to where it took over. */
interface Histories {
  replid: string;
  replid2: string;
}

export class ClusterSource implements Source {
  private readonly followed: FollowedShard[] = [];
  private handle: (event: SourceEvent, shard?: ShardRef) => void | Promise<void> = () => undefined;
  /** Settles when every shard's replica has ended (resolves), or when one fails (rejects). */
  private ended: { resolve: () => void; reject: (error: unknown) => void } | null = null;
  private running = 0;
  private refreshing = false;
  /** Every node of the last topology read (URLs): asked for the topology when the one given is down. */
  private knownNodes: string[] = [];
  private stopped = false;
  private readonly abort = new AbortController();
  /** Tells the halves of a slot migration (RESTORE-ASKING, then DEL) from a client's writes. */
  private readonly migrations = new MigrationTracker({
    shardOfNode: (nodeId) => this.followed.find((f) => f.members.includes(nodeId))?.ref.id ?? nodeId,
    connectToMaster: (shard) => this.connectToMaster(shard),
    handedOver: async (shard, offset) => {
      const reader = this.followed.find((f) => f.ref.id === shard)?.replica;
      if (reader instanceof Replica) await reader.whenConsumed(offset);
    },
    signal: this.abort.signal,
  });

  /**
   * `onShards`: told the shards found, each with its checkpoint, before any of their events;
   * `onRemoved`: a shard no longer followed, none of its nodes being in the cluster any more.
   */
  constructor(private readonly options: ShardReplicaOptions, private readonly readFrom: ReadFrom, private readonly from: Position | null,
    private readonly onShards: (shards: ShardStart[]) => void = () => undefined, private readonly onRemoved: (shard: ShardRef) => void = () => undefined,
    /** Scan mode (scan/scan-source.ts): each shard's master read by SCAN + DUMP and its own keyspace notifications. */
    private readonly scan: Omit<ScanSourceOptions, 'url' | 'checkpoint'> | null = null) {}

  /** Scan mode: each shard reads all its keys again. */
  rescan(): void {
    for (const { replica } of this.followed) if (replica instanceof ScanSource) replica.rescan();
  }

  get backlog(): ReplicaBacklog {
    let queuedBytes = 0;
    let spooledBytes = 0;
    for (const { replica } of this.followed) {
      queuedBytes += replica?.backlog.queuedBytes ?? 0;
      spooledBytes += replica?.backlog.spooledBytes ?? 0;
    }
    return { queuedBytes, spooledBytes };
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    for (const { replica } of this.followed) replica?.stop();
  }

  async run(handle: (event: SourceEvent, shard?: ShardRef) => void | Promise<void>): Promise<void> {
    this.handle = handle;
    const shards = await this.discover(null);
    if (this.stopped) return;
    const ended = new Promise<void>((resolve, reject) => { this.ended = { resolve, reject }; });
    this.follow(shards);
    const refresh = setInterval(() => void this.refresh(), TOPOLOGY_INTERVAL_MS);
    try {
      await ended;
    } finally {
      clearInterval(refresh);
      // One shard failed: the others stop with it (the pipeline ends, its position saved).
      this.stop();
    }
  }

  /** Starts a replica of each shard (the pipeline told first: their positions, before any event). */
  private follow(shards: FollowedShard[]): void {
    this.onShards(shards.map(({ ref, checkpoint }) => ({ shard: ref, from: checkpoint })));
    for (const shard of shards) {
      // The cluster has answered (discover: the first connection's rule) and so has one of this shard's
      // nodes: its master not answering is a failover under way, waited for as a link lost later is
      // (until maxRetryTimeMs), not the end of the source.
      const reconnect = { ...this.options.reconnect, waitForMaster: true, relocate: () => this.relocate(shard) };
      const replica = this.scan
        ? new ScanSource({ ...this.scan, url: shard.master, checkpoint: shard.checkpoint, reconnect })
        : new Replica({ ...this.options, url: shard.url, checkpoint: shard.checkpoint, reconnect });
      shard.replica = replica;
      this.followed.push(shard);
      this.running++;
      replica.run((event: SourceEvent) => this.deliver(event, shard.ref)).then(
        () => { if (--this.running === 0) this.ended?.resolve(); },
        (error: unknown) => this.ended?.reject(error),
      );
    }
  }

  /** Hands an event over; a DEL or RESTORE-ASKING as the migration tracker sees it (a DEL may wait on its barrier). */
  private deliver(event: SourceEvent, shard: ShardRef): void | Promise<void> {
    if (event.type !== 'command' || (event.command.name !== 'del' && event.command.name !== 'restore-asking')) return this.handle(event, shard);
    const seen = this.migrations.see(event.command, event.replid, shard.id);
    return seen instanceof Promise ? seen.then((e) => this.handle(e, shard)) : this.handle(seen, shard);
  }

  /**
   * Stops following the shards none of whose nodes the cluster lists any more, read after read (removed
   * with redis-cli --cluster del-node once their slots moved away; a dead node stays listed until then):
   * their link would retry a node that is gone until --max-retry-time, ending the source.
   */
  private dropRemoved(topology: ClusterTopology): void {
    const listed = new Set(topology.shards.flatMap((s) => membersOf(s)));
    for (const shard of this.followed) {
      if (shard.absentReads >= READS_TO_REMOVE) continue;
      if (shard.members.some((id) => listed.has(id))) {
        shard.absentReads = 0;
        continue;
      }
      if (++shard.absentReads < READS_TO_REMOVE) continue;
      this.onRemoved(shard.ref);
      shard.replica?.stop();
    }
  }

  /** A connection to the master of a followed shard, as the last topology read named it. */
  private async connectToMaster(shard: string): Promise<RedisConnection | null> {
    const followed = this.followed.find((f) => f.ref.id === shard);
    if (!followed) return null;
    const { tls, timeoutMs } = this.options;
    return RedisConnection.open({ endpoint: parseRedisUrl(followed.master), tls, timeoutMs, role: 'cluster node' });
  }

  /** Reads the topology again: members kept current, masters of no followed shard followed (shards added). */
  private async refresh(): Promise<void> {
    if (this.refreshing || this.stopped) return;
    this.refreshing = true;
    try {
      const topology = await this.readTopologyFromAny();
      this.dropRemoved(topology);
      const added = await this.discover(topology, true);
      if (added.length > 0 && !this.stopped) this.follow(added);
    } catch {
      // No node answers now: the next refresh, or a link's failure, reads it again.
    } finally {
      this.refreshing = false;
    }
  }

  /**
   * The shards to follow, each with the checkpoint its history matches: all of `topology`'s (read again
   * when null), or with `onlyNew` those none of whose nodes is a followed shard's. A first attempt that
   * cannot reach the node ends the source unless reconnect.waitForMaster (as a Replica's first connection does).
   */
  private async discover(topology: ClusterTopology | null, onlyNew = false): Promise<FollowedShard[]> {
    const { initialDelayMs = 100, maxDelayMs = 5000, waitForMaster = true } = this.options.reconnect ?? {};
    let delay = initialDelayMs;
    for (;;) {
      try {
        return await this.readShards(topology ?? await this.readTopologyFromAny(), onlyNew);
      } catch (err) {
        if (!(err instanceof ConnectionError && err.retryable && waitForMaster) || this.stopped) throw err;
        topology = null;
        await sleep(delay, this.abort.signal);
        delay = Math.min(delay * 2, maxDelayMs);
      }
    }
  }

  /**
   * Where a shard's stream is read now, when that moved (a replica promoted by a failover, the replica
   * read from gone): the node readFrom picks in the shard whose master is one of its members. Asked by
   * the shard's replica before it reconnects; null: try the same node again.
   */
  private async relocate(shard: FollowedShard): Promise<string | null> {
    const topology = await this.readTopologyFromAny();
    const now = this.shardOf(shard, topology);
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

  /**
   * The shard of `topology` that `followed` is now: the one whose master (not failing) is one of its
   * members; its members and slots are updated from it (a replica added, a failed master gone, a reshard).
   */
  private shardOf(followed: FollowedShard, topology: ClusterTopology): Shard | undefined {
    const now = topology.shards.find((s) => !s.master.failing && followed.members.includes(s.master.id));
    if (now) {
      followed.members = membersOf(now);
      followed.master = urlOfNode(this.options.url, now.master);
      // Slots moved by a reshard: what the shard's next steps (a copy, a FLUSHALL) cover.
      followed.ref.slots = now.slots;
    }
    return now;
  }

  /** The topology, as the first node that answers sees it: the one given, then every node seen since. */
  private async readTopologyFromAny(): Promise<ClusterTopology> {
    const { url, tls, timeoutMs } = this.options;
    const topology = await firstAnswer([url, ...this.knownNodes], (node) => readTopology(node, tls, timeoutMs));
    this.knownNodes = topology.shards.flatMap((s) => [s.master, ...s.replicas]).map((n) => urlOfNode(url, n));
    return topology;
  }

  private async readShards(topology: ClusterTopology, onlyNew: boolean): Promise<FollowedShard[]> {
    const { url } = this.options;
    for (const followed of this.followed) this.shardOf(followed, topology);
    const known = new Set(this.followed.flatMap((f) => f.members));
    const saved = isClusterPosition(this.from) ? this.from.shards : this.from ? [this.from] : [];
    const shards: FollowedShard[] = [];
    for (const shard of topology.shards) {
      // A failed master without slots is a dead node whose shard moved on (its replica promoted).
      if (shard.master.failing && shard.slots.length === 0) continue;
      if (onlyNew && (shard.master.failing || membersOf(shard).some((id) => known.has(id)))) continue;
      const node = this.nodeOf(shard);
      if (!node) {
        throw new TopologyError(`--read-from replica: the shard of ${shard.master.host}:${shard.master.port} (slots ${shard.slots.map(([a, b]) => `${a}-${b}`).join(',')}) ` +
          'has no replica that is up; use --read-from prefer-replica to read it from its master');
      }
      const nodeUrl = urlOfNode(url, node);
      // A shard's nodes share its history: any that answers says it (its master may be down).
      const histories = await this.historiesOf([node, shard.master, ...shard.replicas].map((n) => urlOfNode(url, n)));
      const checkpoint = saved.find((cp) => cp.replid === histories.replid || cp.replid === histories.replid2) ?? null;
      shards.push({ ref: { id: shard.master.id, slots: shard.slots, node: `${node.host}:${node.port}` }, url: nodeUrl, checkpoint,
        members: membersOf(shard), master: urlOfNode(url, shard.master), absentReads: 0 });
    }
    this.migrations.noteOwners(topology);
    return shards;
  }

  /** The histories the first of `nodeUrls` that answers reports. */
  private async historiesOf(nodeUrls: string[]): Promise<Histories> {
    const { tls, timeoutMs } = this.options;
    return firstAnswer(nodeUrls, async (nodeUrl) => {
      const connection = await RedisConnection.open({ endpoint: parseRedisUrl(nodeUrl), tls, timeoutMs, role: 'cluster node' });
      try {
        const info = await connection.info('replication');
        return { replid: info.get('master_replid') ?? '', replid2: info.get('master_replid2') ?? '' };
      } finally {
        connection.close();
      }
    });
  }
}

/** What `ask` gets from the first of `nodes` that answers; the last failure when none does. */
function membersOf(shard: Shard): string[] {
  return [shard.master.id, ...shard.replicas.map((r) => r.id)];
}
