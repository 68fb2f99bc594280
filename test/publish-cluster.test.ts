// publish from a real Redis Cluster (six redis-server --cluster-enabled yes, joined by redis-cli --cluster
// create) into a Redis stream: every shard's snapshot and writes, each event with its shard and its key's
// slot as the cluster computes them (CLUSTER KEYSLOT, CLUSTER NODES), and a restart that continues every
// shard from the position the stream holds. A consumer per shard (each into its own fresh server, since a
// shard's snapshot replaces its own slots only) rebuilds, from the events alone, the cluster's keyspace.
import { afterAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../src/pipeline/publisher.js';
import { redisStreamSink } from '../src/pipeline/sinks/redis-stream-sink.js';
import { clusterSuite } from './helpers/cluster-suite.js';
import { writeEveryType } from './helpers/cluster-workload.js';
import { readEventStream, rebuildPerShard, type ChangeEventJson } from './helpers/event-consumer.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const live = haveRedisServer();

async function until(what: string, done: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type ClusterEvent = ChangeEventJson & { shard?: string; slot?: number | null; slots?: Array<[number, number]> };

describe.skipIf(!live)('publish from a Redis Cluster', () => {
  const suite = clusterSuite();
  const servers: RedisServer[] = [];

  afterAll(async () => {
    for (const s of servers) await s.stop();
  });

  async function server(): Promise<RedisServer> {
    const s = await startRedisServer();
    servers.push(s);
    return s;
  }

  it('every shard\'s snapshot and writes, each with its shard and slot; a restart continues every shard; consumers rebuild the keyspace', async () => {
    await writeEveryType(suite.writer, suite.cluster, 'before');
    const target = await server();
    const sink = () => redisStreamSink(`redis://127.0.0.1:${target.port}?stream=ev`);
    const source = `redis://127.0.0.1:${suite.cluster.nodes[0]!.port}`;
    const run = async (writes: () => Promise<void>): Promise<Publisher> => {
      const p = publish({ source, sink: sink(), snapshot: 'values' });
      await until('streaming', () => p.status.phase === 'streaming' || p.status.phase === 'failed');
      expect(p.status.phase).toBe('streaming');
      await writes();
      return p;
    };
    const reader = await RedisClient.connect(target.port);
    const events = async () => (await readEventStream(reader, 'ev')).events as ClusterEvent[];
    const writesIn = async () => (await events()).filter((e) => e.event === 'write').length;

    let expectedWrites = 0;
    const first = await run(async () => { expectedWrites += await writeEveryType(suite.writer, suite.cluster, 'during'); });
    await until('the first run\'s writes in the stream', async () => (await writesIn()) === expectedWrites);
    first.stop();
    await first.done;

    expectedWrites += await writeEveryType(suite.writer, suite.cluster, 'stopped');
    const second = await run(async () => undefined);
    await until('the writes made while publish was stopped', async () => (await writesIn()) === expectedWrites);
    second.stop();
    await second.done;

    const all = await events();
    // One snapshot per shard, in the first run only: the second continued all three.
    const starts = all.filter((e) => e.event === 'full-sync-start');
    expect(starts).toHaveLength(3);
    expect(new Set(starts.map((e) => e.shard)).size).toBe(3);
    expect(second.status.fullSyncs).toBe(0);
    // Its status says where each shard's confirmed events reach (the stream's stored position), and their sum.
    const stored = JSON.parse(String(await reader.call('GET', 'redistap:publish:ev'))) as { shards: Array<{ offset: number }> };
    expect(second.status.confirmed.shards).toEqual(stored.shards);
    expect(second.status.confirmed.offset).toBe(stored.shards.reduce((sum, cp) => sum + cp.offset, 0));
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);

    // Each key's event: the slot the cluster gives its key, and a shard whose slots hold it.
    const slotsOf = new Map(starts.map((e) => [e.shard!, e.slots!]));
    for (const e of all.filter((x) => x.event === 'write' || x.event === 'snapshot')) {
      const key = String(e.event === 'write' ? e.keys && Array.isArray(e.keys) ? e.keys[0] : undefined : e.key);
      expect(e.slot).toBe(Number(await suite.writer.call('CLUSTER', 'KEYSLOT', key)));
      expect(slotsOf.get(e.shard!)!.some(([a, b]) => a <= e.slot! && e.slot! <= b)).toBe(true);
    }

    // A consumer per shard, each into a fresh server: together they hold the cluster's keyspace.
    const { keyspace: rebuilt, stats } = await rebuildPerShard(all, slotsOf.keys(), server);
    expect([...stats.values()].map((s) => s.fullSyncs)).toEqual([1, 1, 1]);
    expect(rebuilt).toEqual(await suite.cluster.keyspace());
    reader.close();
  }, 120_000);
});
