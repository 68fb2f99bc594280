// The shards of a Redis Cluster from CLUSTER SHARDS and CLUSTER NODES: hand-written replies in the formats
// Redis documents, and a real cluster of six redis-server processes (three masters, a replica each), where
// both replies must say the same, through a failover.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseClusterNodes, parseClusterShards, readTopology, TopologyError, type ClusterTopology } from '../src/cluster/topology.js';
import { haveRedisServer, RedisClient } from './helpers/redis-server.js';
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const D = 'd'.repeat(40);
const E = 'e'.repeat(40);

describe('parseClusterNodes', () => {
  it('groups replicas with their master, with its slot ranges; migration markers and nodes without an address left out', () => {
    const text = [
      `${A} 127.0.0.1:30001@40001,node-a myself,master - 0 0 1 connected 0-5460 [5461->-${B}]`,
      `${B} 127.0.0.1:30002@40002 master - 0 1700000000000 2 connected 5461-10922 [5461-<-${A}]`,
      `${C} [::1]:30003@40003 master,fail - 1700000000000 1700000000000 3 disconnected`,
      `${D} 127.0.0.1:30004@40004 slave ${A} 0 1700000000000 1 connected`,
      `${E} :0@0 slave,noaddr ${B} 0 0 2 disconnected`,
      `${'f'.repeat(40)} 127.0.0.1:30006@40006 master,fail? - 0 0 4 connected 10923 10924-16383`,
      '',
    ].join('\n');
    const topology = parseClusterNodes(text);
    expect(topology.shards.map((s) => [s.master.id, s.master.port, s.slots, s.replicas.map((r) => r.id)])).toEqual([
      [A, 30001, [[0, 5460]], [D]],
      [B, 30002, [[5461, 10922]], []],
      ['f'.repeat(40), 30006, [[10923, 10923], [10924, 16383]], []],
      [C, 30003, [], []],
    ]);
    expect(topology.shards[0]!.master).toEqual({ id: A, host: '127.0.0.1', port: 30001, role: 'master', masterId: null, failing: false });
    expect(topology.shards[0]!.replicas[0]).toEqual({ id: D, host: '127.0.0.1', port: 30004, role: 'replica', masterId: A, failing: false });
    expect(topology.shards[2]!.master.failing).toBe(true);
    expect(topology.shards[3]!.master).toMatchObject({ host: '[::1]', port: 30003, failing: true });
  });

  it('says which line is not a node, and why', () => {
    expect(() => parseClusterNodes(`${A} 127.0.0.1:30001@40001 master - 0 0 1`)).toThrow(TopologyError);
    expect(() => parseClusterNodes(`${A} 127.0.0.1:30001@40001 master - 0 0 1`)).toThrow('line 1 has 7 fields');
    expect(() => parseClusterNodes(`\nxyz 127.0.0.1:30001@40001 master - 0 0 1 connected`)).toThrow('line 2: "xyz" is not a node ID');
    expect(() => parseClusterNodes(`${A} 127.0.0.1@40001 master - 0 0 1 connected`)).toThrow('"127.0.0.1@40001" is not ip:port@cport');
    expect(() => parseClusterNodes(`${A} 127.0.0.1:1@2 master - 0 0 1 connected 5-3`)).toThrow('"5-3" is not a slot range');
    expect(() => parseClusterNodes(`${A} 127.0.0.1:1@2 master - 0 0 1 connected 16384`)).toThrow('"16384" is not a slot range');
  });
});

describe('parseClusterShards', () => {
  const node = (id: string, port: number, role: string, health = 'online', more: unknown[] = []) =>
    ['id', id, 'port', port, ...more, 'ip', '10.0.0.1', 'endpoint', '10.0.0.1', 'role', role, 'replication-offset', 72156, 'health', health];
  it('reads each node by its field names; the shard\'s master is its master that is not failing', () => {
    const reply = [
      ['slots', [10923, 16383], 'nodes', [node(C, 30003, 'master', 'fail'), node(D, 30004, 'master', 'online', ['tls-port', 31004]), node(E, 30005, 'replica', 'loading')]],
      ['slots', [0, 5460, 5461, 5470], 'nodes', [node(A, 30001, 'master', 'online', ['hostname', 'a.example']), node(B, 30002, 'replica')]],
      ['slots', [], 'nodes', [node('f'.repeat(40), 30006, 'master')]],
    ];
    const topology = parseClusterShards(reply);
    expect(topology.shards.map((s) => [s.master.id, s.master.port, s.slots, s.replicas.map((r) => [r.id, r.masterId])])).toEqual([
      [A, 30001, [[0, 5460], [5461, 5470]], [[B, A]]],
      [D, 30004, [[10923, 16383]], [[E, D]]],
      ['f'.repeat(40), 30006, [], []],
    ]);
  });

  it('over TLS, reaches nodes on their TLS port, and refuses a node without one', () => {
    const tls = [['slots', [0, 16383], 'nodes', [node(A, 30001, 'master', 'online', ['tls-port', 31001])]]];
    expect(parseClusterShards(tls, true).shards[0]!.master.port).toBe(31001);
    expect(parseClusterShards(tls, false).shards[0]!.master.port).toBe(30001);
    expect(() => parseClusterShards([['slots', [], 'nodes', [node(B, 30002, 'master')]]], true)).toThrow('a node without an ID, an address or a TLS port');
  });

  it('says what is not a shard', () => {
    expect(() => parseClusterShards('OK')).toThrow('CLUSTER SHARDS did not answer with an array');
    expect(() => parseClusterShards([['slots']])).toThrow('shard 1 is not a map');
    expect(() => parseClusterShards([['slots', [], 'nodes', [['id', A, 'ip', '1.2.3.4']]]])).toThrow('a node without an ID, an address or a port');
  });
});

/** Every slot exactly once, over the shards. */
function slotsCovered(topology: ClusterTopology): number[] {
  const owners = new Array<number>(16384).fill(0);
  for (const shard of topology.shards) for (const [a, b] of shard.slots) for (let s = a; s <= b; s++) owners[s]!++;
  return [...new Set(owners)];
}

describe.skipIf(!haveRedisServer())('readTopology on a real cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => { cluster = await startRedisCluster(); }, 60_000);
  afterAll(async () => { await cluster?.stop(); });

  it('finds three shards, each with its replica, covering every slot once; a CLUSTER FAILOVER swaps a shard\'s roles', async () => {
    const url = (port: number) => `redis://127.0.0.1:${port}`;
    const before = await readTopology(url(cluster.nodes[0]!.port));
    const asked = await RedisClient.connect(cluster.nodes[0]!.port);
    const nodes = parseClusterNodes(String(await asked.ok('CLUSTER', 'NODES')));
    asked.close();
    // The two replies agree (CLUSTER SHARDS knows no master IDs: it groups replicas by shard).
    expect(before).toEqual(nodes);
    expect(before.shards).toHaveLength(3);
    expect(slotsCovered(before)).toEqual([1]);
    for (const shard of before.shards) {
      expect(shard.replicas).toHaveLength(1);
      expect(shard.replicas[0]!.masterId).toBe(shard.master.id);
    }
    expect(new Set(before.shards.flatMap((s) => [s.master.port, s.replicas[0]!.port]))).toEqual(new Set(cluster.nodes.map((n) => n.port)));

    const shard = before.shards[1]!;
    const replica = await RedisClient.connect(shard.replicas[0]!.port);
    try {
      await replica.ok('CLUSTER', 'FAILOVER');
    } finally {
      replica.close();
    }
    let after = before;
    const deadline = Date.now() + 20_000;
    while (after.shards.find((s) => s.slots[0]?.[0] === shard.slots[0]![0])!.master.id !== shard.replicas[0]!.id) {
      if (Date.now() > deadline) throw new Error(`no failover seen: ${JSON.stringify(after)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await readTopology(url(shard.master.port));
    }
    const promoted = after.shards.find((s) => s.master.id === shard.replicas[0]!.id)!;
    expect(promoted.slots).toEqual(shard.slots);
    expect(promoted.replicas.map((r) => r.id)).toEqual([shard.master.id]);
    expect(slotsCovered(after)).toEqual([1]);
  }, 60_000);
});
