// `sync` from a real Redis Cluster (six redis-server --cluster-enabled yes, joined by redis-cli --cluster
// create) into one server: every shard copied and streamed (one shard's copy cut and made again while the
// others' run), the target's state holding each shard's
// position, a FLUSHALL on one node deleting only its shard's keys, a restart continuing every shard with
// PSYNC, and a shard's failover (CLUSTER FAILOVER, a master SIGKILLed) continuing on the promoted replica
// without a new copy. Writes of every type (counters and lists among them: a write lost or applied twice
// changes them) go on throughout; the target must equal the cluster's keyspace (the shared dumper's view).
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncEvent, SyncItem } from '../src/sync/sync.js';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { clusterSuite } from './helpers/cluster-suite.js';
import { caughtUp, writeEveryType } from './helpers/cluster-workload.js';
import { haveRedisServer, RedisClient, type RedisServer } from './helpers/redis-server.js';
import { client, later, server, startSync, stopAll, syncedKeyspace, url, waitFor } from './helpers/sync-harness.js';

const live = haveRedisServer();

afterEach(stopAll);

describe.skipIf(!live)('sync from a Redis Cluster into one server', () => {
  const suite = clusterSuite();

  const alive = (n: RedisServer) => n.process.exitCode === null && n.process.signalCode === null;

  async function expectTargetEqualsCluster(target: RedisServer): Promise<void> {
    const c = await client(target);
    await caughtUp(suite.writer, suite.cluster, async (key, value) => String(await c.call('GET', key)) === value);
    const copy = syncedKeyspace(target.port).sort();
    expect(copy.length).toBeGreaterThan(100);
    expect(copy).toEqual(await suite.cluster.keyspace());
  }

  async function onMasters(...command: string[]): Promise<void> {
    for (const port of await suite.cluster.masters()) await (await suite.writer.client(port))!.ok(...command);
  }

  const copies = (events: SyncEvent[]) => events.filter((e) => e.type === 'phase' && e.phase === 'copying').length;

  async function streaming(s: { status: { phase: string } }): Promise<void> {
    await waitFor(`the sync to stream (${s.status.phase})`, () => s.status.phase === 'streaming' || s.status.phase === 'failed', 60_000);
    expect(s.status.phase).toBe('streaming');
  }

  it('copies every shard and applies every write once; its FLUSHALL deletes one shard\'s keys; a restart continues each shard with PSYNC', async () => {
    await writeEveryType(suite.writer, suite.cluster, 'before');
    const target = await server();
    const given = suite.cluster.nodes.find(alive)!;
    // Snapshots that take a while (each key saved 200 ms late: several seconds a shard): the shards'
    // copies overlap, and writes come while they run.
    await onMasters('CONFIG', 'SET', 'rdb-key-save-delay', '200000');
    // Through a transform hook (one that changes nothing): keys go as entries re-encoded, strings many to
    // an MSET, whose batches gather the keys of every shard's copy (the other cases take the RDB core's
    // RESTOREs).
    const hook = { transform: (item: SyncItem) => item, transformName: 'unchanged' };
    const first = startSync(given, target, hook);
    await waitFor('every shard copying', () => copies(first.events) === 3);
    // One shard's link cut while the copies run (each takes seconds, its keys coming at its end): that
    // shard copies again, replacing the keys of its slots only, while the others' copies go on.
    await (await suite.writer.client((await suite.cluster.masters())[0]!))!.ok('CLIENT', 'KILL', 'TYPE', 'replica');
    await waitFor('the cut shard copying again', () => copies(first.events) === 4, 60_000);
    await writeEveryType(suite.writer, suite.cluster, 'during');
    await streaming(first.sync);
    await onMasters('CONFIG', 'SET', 'rdb-key-save-delay', '0');
    await writeEveryType(suite.writer, suite.cluster, 'after');
    await expectTargetEqualsCluster(target);
    // One copy per shard, and the cut one's second; the target's state holds a position per shard.
    expect(copies(first.events)).toBe(4);
    const stateKey = `redistap:checkpoint:127.0.0.1:${given.port}`;
    const state = JSON.parse(String(await (await client(target)).call('GET', stateKey))) as { shards?: Array<{ replid: string }> };
    expect(state.shards).toHaveLength(3);
    expect(first.sync.status.applied.shards).toHaveLength(3);

    // A FLUSHALL on one master empties that node only: the target loses its shard's keys, no others.
    const keysBefore = syncedKeyspace(target.port).length;
    const flushed = (await suite.cluster.masters())[0]!;
    const flusher = await RedisClient.connect(flushed);
    await flusher.ok('FLUSHALL');
    flusher.close();
    await expectTargetEqualsCluster(target);
    const keysAfter = syncedKeyspace(target.port).length;
    expect(keysAfter).toBeLessThan(keysBefore);
    expect(keysAfter).toBeGreaterThan(0);

    // Stopped, written to meanwhile, started again: each shard continues from its own position.
    first.sync.stop();
    await first.sync.done;
    await writeEveryType(suite.writer, suite.cluster, 'while-stopped');
    const second = startSync(given, target, hook);
    await streaming(second.sync);
    await writeEveryType(suite.writer, suite.cluster, 'after-restart');
    await expectTargetEqualsCluster(target);
    expect(copies(second.events)).toBe(0);
    expect(second.events.filter((e) => e.type === 'phase' && /resumed/.test(e.detail))).not.toHaveLength(0);
  }, 240_000);

  it('continues each shard on its promoted replica after a CLUSTER FAILOVER and after its master is SIGKILLed: no new copy', async () => {
    await writeEveryType(suite.writer, suite.cluster, 'fo-before');
    const target = await server();
    const masterPorts = await suite.cluster.masters();
    const given = suite.cluster.nodes.find((n) => alive(n) && !masterPorts.includes(n.port))!; // a replica: it stays up
    const { sync: s, events } = startSync(given, target);
    await streaming(s);
    await writeEveryType(suite.writer, suite.cluster, 'fo-a');
    const copied = copies(events);
    expect(copied).toBe(3);

    // A graceful failover of one shard: its replica takes over.
    const nodes = String(await suite.writer.call('CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '));
    const portOf = (fields: string[]) => Number(/:(\d+)@/.exec(fields[1]!)![1]);
    const masters = nodes.filter((f) => f[2]!.includes('master') && !f[2]!.includes('fail'));
    const replicaOf = (master: string[]) => portOf(nodes.find((f) => f[3] === master[0])!);
    const gracefully = replicaOf(masters[0]!);
    await (await suite.writer.client(gracefully))!.ok('CLUSTER', 'FAILOVER');
    await waitFor('the graceful failover', async () => (await (await suite.writer.client(gracefully))!.info('replication', 'role')) === 'master');
    await writeEveryType(suite.writer, suite.cluster, 'fo-b');

    // Another shard's master killed: the cluster promotes its replica (cluster-node-timeout 1 s).
    const victim = suite.cluster.nodes.find((n) => n.port === portOf(masters[1]!))!;
    const promoted = replicaOf(masters[1]!);
    victim.process.kill('SIGKILL');
    await waitFor('the replica of the killed master promoted', async () =>
      (await (await suite.writer.client(promoted))!.info('replication', 'role')) === 'master', 60_000);
    await writeEveryType(suite.writer, suite.cluster, 'fo-c');

    await expectTargetEqualsCluster(target);
    expect(copies(events)).toBe(copied);
    expect(s.status.phase).toBe('streaming');
  }, 240_000);

  it('redistap sync killed (SIGKILL) while writes run, and started again: every shard continues with PSYNC, each write once', async () => {
    const target = await server();
    const given = suite.cluster.nodes.find(alive)!;
    const phases = (run: CliProcess) => run.lines.map((l) => JSON.parse(l) as { type: string; phase?: string })
      .filter((e) => e.type === 'phase').map((e) => e.phase);
    const start = () => {
      const run = cli(['sync', url(given), url(target), '--json']);
      later({ stop: () => { if (run.child.exitCode === null) run.child.kill('SIGKILL'); } });
      return run;
    };
    const first = start();
    await waitFor('the first run streaming', () => phases(first).includes('streaming'), 60_000);
    // Killed while a round of writes is being made: some of it applied, some not yet.
    const writes = writeEveryType(suite.writer, suite.cluster, 'killed');
    await waitFor('writes of the round applied', async () => (await (await client(target)).call('EXISTS', 'killed:s:10')) === 1, 60_000);
    first.child.kill('SIGKILL');
    await first.exit;
    await writes;
    await writeEveryType(suite.writer, suite.cluster, 'between');

    const second = start();
    await waitFor('the second run streaming', () => phases(second).includes('streaming'), 60_000);
    await writeEveryType(suite.writer, suite.cluster, 'after-kill');
    await expectTargetEqualsCluster(target);
    expect(phases(first).filter((p) => p === 'copying')).toHaveLength(3);
    expect(phases(second)).not.toContain('copying');
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);
  }, 180_000);

  it('refuses to continue a target synced from one server with a cluster source, and --resync copies it again', async () => {
    const single = await server();
    await (await client(single)).ok('SET', 'alone', '1');
    const target = await server();
    const stateKey = 'redistap:checkpoint:shared';
    const fromOne = startSync(single, target, { stateKey });
    await streaming(fromOne.sync);
    fromOne.sync.stop();
    await fromOne.sync.done;

    const given = suite.cluster.nodes.find(alive)!;
    const refused = startSync(given, target, { stateKey });
    await expect(refused.sync.done).rejects.toThrow(/written by a sync from one server, and this source is a Redis Cluster/);
    expect(syncedKeyspace(target.port).map((l) => JSON.parse(l).key)).toEqual(['alone']);

    const resynced = startSync(given, target, { stateKey, resync: true });
    await streaming(resynced.sync);
    await expectTargetEqualsCluster(target);
  }, 120_000);

  it('a new attempt finds the cluster through its other nodes when the node given has died', async () => {
    const target = await server();
    const nodes = String(await suite.writer.call('CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '));
    const portOf = (fields: string[]) => Number(/:(\d+)@/.exec(fields[1]!)![1]);
    // A master with a replica that is up: killed, the cluster promotes it.
    const replica = nodes.find((f) => f[2]!.includes('slave') && !f[2]!.includes('fail') &&
      nodes.some((m) => m[0] === f[3] && m[2]!.includes('master') && !m[2]!.includes('fail')))!;
    const given = suite.cluster.nodes.find((n) => n.port === portOf(nodes.find((m) => m[0] === replica[3])!))!;
    const { sync: s, events } = startSync(given, target);
    await streaming(s);
    await writeEveryType(suite.writer, suite.cluster, 'dead-a');

    given.process.kill('SIGKILL');
    await waitFor('its replica promoted', async () =>
      (await (await suite.writer.client(portOf(replica)))!.info('replication', 'role')) === 'master', 60_000);
    // The sync's connections to the target cut: it starts a new attempt, which cannot reach the node given.
    const killer = await RedisClient.connect(target.port);
    await killer.ok('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    killer.close();
    await waitFor('a new attempt', () => s.status.restarts > 0);
    await streaming(s);
    await writeEveryType(suite.writer, suite.cluster, 'dead-b');
    await expectTargetEqualsCluster(target);
    expect(copies(events)).toBe(3);
  }, 180_000);
});
