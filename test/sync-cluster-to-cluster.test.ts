// `sync` from a real Redis Cluster into another (six redis-server --cluster-enabled yes each, joined by
// redis-cli --cluster create): every source shard copied and streamed into the target's masters by slot,
// each target slot's position holding every source shard's checkpoint, so a restart skips per write what
// it had applied. Writes of every type (counters and lists among them: a write lost or applied twice
// changes them) go on throughout; the target cluster's keyspace must equal the source's (the shared
// dumper's view of every master), the sync's own keys aside. Cases: the copy with writes during and
// after it, a FLUSHALL on one source master, a restart; a source shard's CLUSTER FAILOVER with redistap
// SIGKILLed just after it and started again (its shard continuing under the promoted replica's replid).
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncEvent } from '../src/sync/sync.js';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { clusterSuite } from './helpers/cluster-suite.js';
import { caughtUp, writeEveryType } from './helpers/cluster-workload.js';
import { haveRedisServer, RedisClient } from './helpers/redis-server.js';
import { later, startSync, stopAll, url, waitFor } from './helpers/sync-harness.js';

const live = haveRedisServer();

afterEach(stopAll);

describe.skipIf(!live)('sync from a Redis Cluster into a Redis Cluster', () => {
  const from = clusterSuite();
  const into = clusterSuite();

  afterEach(async () => {
    // Each test starts on empty clusters (the sync's own keys too).
    for (const cluster of [from.cluster, into.cluster]) await cluster.flushMasters();
  });

  const copies = (events: SyncEvent[]) => events.filter((e) => e.type === 'phase' && e.phase === 'copying').length;

  async function onSourceMasters(...command: string[]): Promise<void> {
    for (const port of await from.cluster.masters()) await (await from.writer.client(port))!.ok(...command);
  }

  const targetKeyspace = async () => (await into.cluster.keyspace()).filter((l) => !l.includes('"key":"redistap:'));

  /** Waits until a marker written through each source master is in the target, then compares the keyspaces. */
  async function expectTargetEqualsSource(): Promise<void> {
    await caughtUp(from.writer, from.cluster, async (key, value) => String(await into.writer.call('GET', key)) === value);
    const copy = await targetKeyspace();
    expect(copy.length).toBeGreaterThan(100);
    expect(copy).toEqual(await from.cluster.keyspace());
  }

  async function streaming(s: { status: { phase: string } }, events: SyncEvent[]): Promise<void> {
    await waitFor(`the sync to stream (${s.status.phase})`, () => s.status.phase === 'streaming' || s.status.phase === 'failed', 60_000);
    expect(s.status.phase, JSON.stringify(events.slice(-8))).toBe('streaming');
  }

  it('copies every shard and applies every write once; a FLUSHALL on one source master deletes its shard\'s keys; a restart continues without a copy', async () => {
    await writeEveryType(from.writer, from.cluster, 'before');
    // Snapshots that take a while (each key saved 20 ms late): writes come while the shards' copies run.
    await onSourceMasters('CONFIG', 'SET', 'rdb-key-save-delay', '20000');
    const first = startSync(from.cluster.nodes[0]!, into.cluster.nodes[0]!, { dbs: [0] });
    await waitFor('every shard copying', () => copies(first.events) === 3);
    await writeEveryType(from.writer, from.cluster, 'during');
    await streaming(first.sync, first.events);
    await onSourceMasters('CONFIG', 'SET', 'rdb-key-save-delay', '0');
    await writeEveryType(from.writer, from.cluster, 'after');
    await expectTargetEqualsSource();
    expect(copies(first.events)).toBe(3);
    expect(first.sync.status.applied.shards).toHaveLength(3);

    // One master's FLUSHALL empties that node only: the target loses the keys of its slots, no others.
    const keysBefore = (await targetKeyspace()).length;
    const flusher = await RedisClient.connect((await from.cluster.masters())[0]!);
    await flusher.ok('FLUSHALL');
    flusher.close();
    await writeEveryType(from.writer, from.cluster, 'after-flush', 10);
    await expectTargetEqualsSource();
    expect((await targetKeyspace()).length).toBeLessThan(keysBefore);

    // Stopped, written to meanwhile, started again: each shard continues from the floor, each slot skipping what it had.
    first.sync.stop();
    await first.sync.done;
    await writeEveryType(from.writer, from.cluster, 'while-stopped');
    const second = startSync(from.cluster.nodes[1]!, into.cluster.nodes[1]!, { dbs: [0], stateKey: first.sync.stateKey });
    await streaming(second.sync, second.events);
    await writeEveryType(from.writer, from.cluster, 'after-restart');
    await expectTargetEqualsSource();
    expect(copies(second.events)).toBe(0);
  }, 240_000);

  it('a source shard\'s CLUSTER FAILOVER under writes, redistap SIGKILLed as it resumes on the promoted replica and started again: no copy, each write once', async () => {
    await writeEveryType(from.writer, from.cluster, 'fo-before');
    const phases = (run: CliProcess) => run.lines.map((l) => JSON.parse(l) as { type: string; phase?: string; detail?: string })
      .filter((e) => e.type === 'phase');
    const start = () => {
      const run = cli(['sync', url(from.cluster.nodes[0]!), url(into.cluster.nodes[0]!), '--db', '0', '--json']);
      later({ stop: () => { if (run.child.exitCode === null) run.child.kill('SIGKILL'); } });
      return run;
    };
    const first = start();
    await waitFor('the first run streaming', () => phases(first).some((p) => p.phase === 'streaming'), 60_000);

    // Writes all the while: the failed-over shard's slots get writes before and after its replid changes.
    let round = 0;
    let writing = true;
    // A round's MULTI goes to the master serving its slot when the round starts: one the failover demotes
    // meanwhile refuses it (MOVED, READONLY), which the comparison does not mind (it compares keyspaces).
    const duringFailover = (e: Error) => {
      if (!/MOVED|READONLY|CLUSTERDOWN|TRYAGAIN/.test(e.message)) throw e;
    };
    const writes = (async () => { while (writing) await writeEveryType(from.writer, from.cluster, `fo-${round++}`, 10).catch(duringFailover); })();
    await waitFor('writes under way', () => round >= 2, 60_000);
    const nodes = String(await from.writer.call('CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '));
    const portOf = (fields: string[]) => Number(/:(\d+)@/.exec(fields[1]!)![1]);
    const master = nodes.find((f) => f[2]!.includes('master') && !f[2]!.includes('fail'))!;
    const promoted = portOf(nodes.find((f) => f[3] === master[0])!);
    await (await from.writer.client(promoted))!.ok('CLUSTER', 'FAILOVER');
    // Killed as soon as it continues on the promoted replica: its floor most likely still holds the old replid.
    await waitFor('the shard resumed on its promoted replica', () =>
      phases(first).some((p) => p.detail?.includes(`resumed from the shard at 127.0.0.1:${promoted}`) === true), 60_000);
    first.child.kill('SIGKILL');
    await first.exit;
    writing = false;
    await writes;

    const second = start();
    await waitFor('the second run streaming', () => phases(second).some((p) => p.phase === 'streaming') || second.child.exitCode !== null, 60_000);
    await writeEveryType(from.writer, from.cluster, 'fo-after');
    await expectTargetEqualsSource();
    expect(phases(first).filter((p) => p.phase === 'copying')).toHaveLength(3);
    expect(phases(second).filter((p) => p.phase === 'copying')).toHaveLength(0);
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);
  }, 240_000);
});
