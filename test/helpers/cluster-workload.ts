// Writes to a real Redis Cluster that the cluster tests share: keys of every type spread over all slots
// (each sent to the node serving it, by ClusterWriter), and waiting for a consumer to have them all.
import type { ClusterWriter } from './cluster-writer.js';
import type { RedisCluster } from './redis-cluster.js';
import { RedisClient } from './redis-server.js';

/** The port of the master serving `key` now. */
export async function portServing(writer: ClusterWriter, cluster: RedisCluster, key: string): Promise<number> {
  const slot = Number(await writer.call('CLUSTER', 'KEYSLOT', key));
  const { owners, ports } = await cluster.slotOwners();
  return ports.get(owners.get(slot)!)!;
}

/**
 * Waits until a consumer of the cluster's writes (a sync's target) holds them all: a marker written
 * through each master, then awaited with `has`. A shard's writes arrive in its order, so once every
 * shard's marker is there, every write made before is.
 */
export async function caughtUp(writer: ClusterWriter, cluster: RedisCluster, has: (key: string, value: string) => Promise<boolean>): Promise<void> {
  const round = `${Date.now()}-${Math.random()}`;
  const masters = await cluster.masters();
  const markers = new Map<number, string>();
  for (let i = 0; markers.size < masters.length; i++) {
    const port = await portServing(writer, cluster, `marker:${i}`);
    if (masters.includes(port) && !markers.has(port)) markers.set(port, `marker:${i}`);
  }
  for (const key of markers.values()) await writer.call('SET', key, round);
  const deadline = Date.now() + 60_000;
  for (const key of markers.values()) {
    while (!(await has(key, round))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${key} on the target`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * `count` rounds of writes of every type under `tag`, over many slots: strings (some with a TTL far off),
 * hashes, lists, sets, sorted sets, streams and counters (which a write applied twice or lost would
 * change), deletes, and a MULTI/EXEC on keys of one slot. Every one changes its key, so each is
 * replicated: returns how many writes (commands) that is.
 */
export async function writeEveryType(writer: ClusterWriter, cluster: RedisCluster, tag: string, count = 40): Promise<number> {
  let writes = 0;
  const write = async (...args: string[]) => {
    await writer.call(...args);
    writes++;
  };
  for (let i = 0; i < count; i++) {
    await write('SET', `${tag}:s:${i}`, `v${i}`);
    await write('HSET', `${tag}:h:${i % 7}`, `f${i}`, `${i}`);
    await write('RPUSH', `${tag}:l:${i % 5}`, `e${i}`);
    await write('SADD', `${tag}:set:${i % 6}`, `m${i}`);
    await write('ZADD', `${tag}:z:${i % 4}`, String(i), `m${i}`);
    await write('XADD', `${tag}:x:${i % 3}`, `${i + 1}-1`, 'f', `${i}`);
    await write('INCR', `${tag}:n:${i % 9}`);
    if (i % 10 === 0) await write('SET', `${tag}:ttl:${i}`, 'later', 'EX', '3600');
  }
  await write('DEL', `${tag}:s:3`);
  await write('LPOP', `${tag}:l:0`);
  await write('EXPIRE', `${tag}:s:5`, '7200');
  // A block on keys of one slot (a hash tag), on that slot's master.
  const c = await RedisClient.connect(await portServing(writer, cluster, `{${tag}}a`));
  try {
    await c.ok('MULTI');
    await c.ok('SET', `{${tag}}a`, '1');
    await c.ok('INCR', `{${tag}}b`);
    await c.ok('EXEC');
  } finally {
    c.close();
  }
  return writes + 2;
}
