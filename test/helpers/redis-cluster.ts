// A real Redis Cluster for tests: `redis-server --cluster-enabled yes` processes on loopback ports (each
// with its cluster bus port free too), joined by `redis-cli --cluster create`, ready once every node
// says cluster_state:ok and knows all the others. Stopped by PID.
import { spawn, spawnSync } from 'node:child_process';
import { canonicalDump } from './keyspace.js';
import { freePort, portFree, RedisClient, startRedisServer, type RedisServer } from './redis-server.js';

export interface RedisCluster {
  nodes: RedisServer[];
  /** Ports of the nodes that are masters now (CLUSTER NODES of the first node that answers). */
  masters(): Promise<number[]>;
  /** Every key of the masters, as the shared canonical dumper writes them, sorted: the cluster's keyspace. */
  keyspace(): Promise<string[]>;
  /** FLUSHALL on every live node that says it is a master (asked of each: just after a failover, views lag). */
  flushMasters(): Promise<void>;
  /** The master serving each slot now, by node ID, and each master's port (CLUSTER NODES of the first node that answers). */
  slotOwners(): Promise<{ owners: Map<number, string>; ports: Map<string, number> }>;
  /**
   * A new master joined to the cluster (redis-cli --cluster add-node), given `slots` that hold no keys
   * (moved by CLUSTER SETSLOT IMPORTING/MIGRATING/NODE, as a reshard of empty slots does): a shard added.
   */
  addMaster(slots: number[]): Promise<RedisServer>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** cluster-node-timeout (ms): how soon a dead master is failed over (default 1000). */
  nodeTimeoutMs?: number;
  /** More redis-server options for every node. */
  extra?: string[];
}

/** A loopback port that is free, with its cluster bus port (port + 10000) free too. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (await portFree(port + 10000)) return port;
  }
}

/** Waits until `check` resolves true, polling; throws with `what` after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`cluster: ${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function infoField(port: number, section: string, field: string): Promise<string> {
  const c = await RedisClient.connect(port);
  try {
    return section === 'cluster'
      ? new RegExp(`^${field}:(.*?)\r?$`, 'm').exec(String(await c.ok('CLUSTER', 'INFO')))?.[1] ?? ''
      : await c.info(section, field);
  } finally {
    c.close();
  }
}

export async function startRedisCluster(options: ClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const total = masters * (1 + (options.replicasPerMaster ?? 1));
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < total; i++) {
      nodes.push(await startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1000), ...(options.extra ?? [])], { port: await clusterPort() }));
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas', String(options.replicasPerMaster ?? 1), '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const node of nodes) {
      await until(`node ${node.port} in a cluster that is ok and knows all ${total} nodes`, async () =>
        (await infoField(node.port, 'cluster', 'cluster_state')) === 'ok' &&
        Number(await infoField(node.port, 'cluster', 'cluster_known_nodes')) === total);
    }
    // Replicas have synced (their link is up): writes from here on reach them.
    for (const node of nodes) {
      await until(`node ${node.port}'s replication link`, async () =>
        (await infoField(node.port, 'replication', 'role')) === 'master' ||
        (await infoField(node.port, 'replication', 'master_link_status')) === 'up');
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const live = () => nodes.find((n) => n.process.exitCode === null && n.process.signalCode === null)!;
  /** The nodes that say they are masters (each asked: just after a failover the nodes' views lag), holding slots or not. */
  const mastersByRole = async () => {
    const ports: number[] = [];
    for (const node of nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null)) {
      const role = await infoField(node.port, 'replication', 'role').catch(() => 'gone'); // killed, its exit not yet seen
      if (role === 'master') ports.push(node.port);
    }
    return ports;
  };
  const call = async (port: number, ...args: string[]) => {
    const c = await RedisClient.connect(port);
    try {
      return await c.ok(...args);
    } finally {
      c.close();
    }
  };
  return {
    nodes,
    stop,
    async addMaster(slots: number[]) {
      const node = await startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1000), ...(options.extra ?? [])], { port: await clusterPort() });
      nodes.push(node);
      const add = spawnSync('redis-cli', ['--cluster', 'add-node', `127.0.0.1:${node.port}`, `127.0.0.1:${live().port}`], { encoding: 'utf8', timeout: 60_000 });
      if (add.status !== 0) throw new Error(`redis-cli --cluster add-node failed: ${add.stdout}${add.stderr}`);
      const known = nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null);
      const newId = String(await call(node.port, 'CLUSTER', 'MYID'));
      await until(`node ${node.port} known to every node`, async () => {
        for (const n of known) if (!String(await call(n.port, 'CLUSTER', 'NODES')).includes(newId)) return false;
        return true;
      });
      for (const slot of slots) {
        const lines = String(await call(live().port, 'CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '));
        const owner = lines.find((f) => f[2]!.includes('master') && f.slice(8).some((r) => {
          const [a, b = a] = r.split('-').map(Number);
          return a! <= slot && slot <= b!;
        }))!;
        const ownerPort = Number(/:(\d+)@/.exec(owner[1]!)![1]);
        if (Number(await call(ownerPort, 'CLUSTER', 'COUNTKEYSINSLOT', String(slot))) !== 0) throw new Error(`slot ${slot} holds keys`);
        await call(node.port, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', owner[0]!);
        await call(ownerPort, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', newId);
        for (const port of [node.port, ownerPort]) await call(port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', newId);
      }
      await until(`every node to see node ${node.port} serve its slots`, async () => {
        for (const n of known) {
          const line = String(await call(n.port, 'CLUSTER', 'NODES')).split('\n').find((l) => l.startsWith(newId))!;
          if (line.split(' ').slice(8).length === 0) return false;
        }
        return true;
      });
      return node;
    },
    async keyspace() {
      return (await mastersByRole()).flatMap((port) => canonicalDump(port)).sort();
    },
    async flushMasters() {
      for (const port of await mastersByRole()) await call(port, 'FLUSHALL');
    },
    async slotOwners() {
      const owners = new Map<number, string>();
      const ports = new Map<string, number>();
      for (const [id, address, flags, , , , , , ...ranges] of String(await call(live().port, 'CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '))) {
        if (!flags!.split(',').includes('master') || flags!.includes('fail')) continue;
        ports.set(id!, Number(/:(\d+)@/.exec(address!)![1]));
        for (const range of ranges) {
          if (range.startsWith('[')) continue; // a slot being migrated: still its node's own
          const [a, b = a] = range.split('-').map(Number);
          for (let slot = a!; slot <= b!; slot++) owners.set(slot, id!);
        }
      }
      return { owners, ports };
    },
    async masters() {
      const c = await RedisClient.connect(nodes.find((n) => n.process.exitCode === null && n.process.signalCode === null)!.port);
      try {
        const lines = String(await c.ok('CLUSTER', 'NODES')).trim().split('\n');
        return lines.filter((l) => /(^|,)master(,|$)/.test(l.split(' ')[2]!) && !l.split(' ')[2]!.includes('fail'))
          .map((l) => Number(/:(\d+)@/.exec(l.split(' ')[1]!)![1]));
      } finally {
        c.close();
      }
    },
  };
}

/** redis-cli --cluster reshard, run to its end (its output, or a failure with it). */
export function reshard(port: number, from: string, to: string, slots: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${port}`, '--cluster-from', from, '--cluster-to', to,
      '--cluster-slots', String(slots), '--cluster-yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    child.on('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`redis-cli --cluster reshard exited ${code}: ${output.slice(-3000)}`))));
  });
}
