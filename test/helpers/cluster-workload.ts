// Writes to a real Redis Cluster that the cluster tests share: keys of every type spread over all slots
// (each sent to the node serving it, by ClusterWriter), and the cluster's whole keyspace as the shared
// canonical dumper writes it, for comparing with what a consumer or a target rebuilt.
import type { ClusterWriter } from './cluster-writer.js';
import { canonicalDump } from './keyspace.js';
import type { RedisCluster } from './redis-cluster.js';
import { RedisClient } from './redis-server.js';

/** Every key of the cluster's masters, sorted. */
export async function clusterKeyspace(cluster: RedisCluster): Promise<string[]> {
  return (await cluster.masters()).flatMap((port) => canonicalDump(port)).sort();
}

/** The port of the master serving `key` now (CLUSTER KEYSLOT, CLUSTER NODES). */
export async function portServing(writer: ClusterWriter, key: string): Promise<number> {
  const slot = Number(await writer.call('CLUSTER', 'KEYSLOT', key));
  const nodes = String(await writer.call('CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '));
  for (const [, address, flags, , , , , , ...ranges] of nodes) {
    if (!flags!.split(',').includes('master') || flags!.includes('fail')) continue;
    for (const range of ranges) {
      const [a, b = a] = range.split('-').map(Number);
      if (slot >= a! && slot <= b!) return Number(/:(\d+)@/.exec(address!)![1]);
    }
  }
  throw new Error(`no master serves slot ${slot}`);
}

/**
 * `count` rounds of writes of every type under `tag`, over many slots: strings (some with a TTL far off),
 * hashes, lists, sets, sorted sets, streams and counters (which a write applied twice or lost would
 * change), deletes, and a MULTI/EXEC on keys of one slot.
 */
export async function writeEveryType(writer: ClusterWriter, tag: string, count = 40): Promise<void> {
  for (let i = 0; i < count; i++) {
    await writer.call('SET', `${tag}:s:${i}`, `v${i}`);
    await writer.call('HSET', `${tag}:h:${i % 7}`, `f${i}`, `${i}`);
    await writer.call('RPUSH', `${tag}:l:${i % 5}`, `e${i}`);
    await writer.call('SADD', `${tag}:set:${i % 6}`, `m${i}`);
    await writer.call('ZADD', `${tag}:z:${i % 4}`, String(i), `m${i}`);
    await writer.call('XADD', `${tag}:x:${i % 3}`, `${i + 1}-1`, 'f', `${i}`);
    await writer.call('INCR', `${tag}:n:${i % 9}`);
    if (i % 10 === 0) await writer.call('SET', `${tag}:ttl:${i}`, 'later', 'EX', '3600');
  }
  await writer.call('DEL', `${tag}:s:3`);
  await writer.call('LPOP', `${tag}:l:0`);
  await writer.call('EXPIRE', `${tag}:s:5`, '7200');
  const port = await portServing(writer, `{${tag}}a`);
  const c = await RedisClient.connect(port);
  try {
    await c.ok('MULTI');
    await c.ok('SET', `{${tag}}a`, '1');
    await c.ok('INCR', `{${tag}}b`);
    await c.ok('EXEC');
  } finally {
    c.close();
  }
}
