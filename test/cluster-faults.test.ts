// tail and publish from a real Redis Cluster (six redis-server --cluster-enabled yes, joined by redis-cli
// --cluster create) through faults, while a client writes across every slot: the redistap process
// SIGKILLed mid-stream and restarted (tail -o FILE; publish into a Redis stream, and into NATS
// JetStream), and SIGKILLed while one shard's snapshot is still being copied (tail; publish --snapshot
// values); a second process on the same checkpoint or stream; one shard's replication link killed on its
// master; tail restarted while a shard's master is dead and not yet failed over. Every shard that had a
// checkpoint continues with PSYNC (its master's INFO sync_full does not move), every write is in the
// output once and in its shard's order, and the output rebuilds the cluster's keyspace.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { clusterSuite } from './helpers/cluster-suite.js';
import { childProcesses, ClusterLoad, readLines, rebuildFromLines, tcpLocalPorts, writesOutOfOrder, type Line } from './helpers/cluster-lines.js';
import { canonicalDump } from './helpers/keyspace.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { readEventStream, rebuildPerShard, type ChangeEventJson } from './helpers/event-consumer.js';
import { haveNats, startNats } from './helpers/brokers.js';
import { natsStreamLength, readNatsStream } from './helpers/nats-stream.js';
import { waitFor } from './helpers/sync-harness.js';

const live = haveRedisServer();

const size = (path: string): number => { try { return statSync(path).size; } catch { return 0; } };
const text = (path: string): string => { try { return readFileSync(path, 'utf8'); } catch { return ''; } };
/** What a checkpoint file holds now (nothing before it is first written). */
function saved(checkpoint: string): { shards?: Array<{ replid: string }>; output?: { bytes: number } } {
  try {
    return JSON.parse(text(checkpoint)) as ReturnType<typeof saved>;
  } catch {
    return {};
  }
}
/** How many bytes of the output file the checkpoint covers (0 before it says). */
const covered = (checkpoint: string): number => saved(checkpoint).output?.bytes ?? 0;
const count = (text: string, re: RegExp): number => (text.match(re) ?? []).length;

describe.skipIf(!live)('cluster sources under faults', () => {
  // Snapshots start at once (no diskless delay), and a backlog that holds every write made while tail is down.
  const suite = clusterSuite({ extra: ['--repl-diskless-sync-delay', '0', '--repl-backlog-size', '64mb'] });
  let dir: string;
  const running: CliProcess[] = [];
  const servers: RedisServer[] = [];
  const stoppers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'redistap-cluster-faults-'));
  }, 60_000);

  afterAll(async () => {
    for (const run of running) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    for (const server of servers) await server.stop();
    for (const stop of stoppers) await stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function start(args: string[]): CliProcess {
    const run = cli(args);
    running.push(run);
    return run;
  }

  /** SIGKILL, and the process reaped (its pid gone: its lock is then known to be stale). */
  async function kill(run: CliProcess): Promise<void> {
    run.child.kill('SIGKILL');
    await run.exit;
  }

  /** A redis-server holding publish's stream, stopped after the tests. */
  async function stream(): Promise<RedisServer> {
    const server = await startRedisServer();
    servers.push(server);
    return server;
  }

  /** The change events in a stream of `server`, in order. */
  async function events(server: RedisServer, key: string): Promise<Array<ChangeEventJson & { shard?: string }>> {
    const c = await RedisClient.connect(server.port);
    try {
      return (await readEventStream(c, key)).events;
    } finally {
      c.close();
    }
  }

  /**
   * Makes the first of `masters` write its snapshots a key at a time, 10 s for its keys in all (300 keys of
   * 2 KB that do not compress among them, so that its child sends them as they come): a snapshot of that
   * shard cannot end before the others' have, and their positions are saved. `end()` ends the snapshot under
   * way (its master would go on writing it for no one, and a new one would wait for it: SIGUSR1 ends its
   * fork child quietly, as Redis documents) and the delay.
   */
  async function slowShard(masters: Map<string, number>): Promise<{ id: string; end(): Promise<void> }> {
    for (let i = 0; i < 300; i++) await suite.writer.call('SET', `seed:${i}`, randomBytes(1500).toString('base64'));
    const [id, port] = [...masters][0]!;
    const slow = (await suite.writer.client(port))!;
    await slow.ok('CONFIG', 'SET', 'rdb-key-save-delay', String(Math.ceil(10_000_000 / Number(await slow.ok('DBSIZE')))));
    return {
      id,
      async end() {
        for (const child of childProcesses(suite.cluster.nodes.find((n) => n.port === port)!.process.pid!)) process.kill(child, 'SIGUSR1');
        await slow.ok('CONFIG', 'SET', 'rdb-key-save-delay', '0');
      },
    };
  }

  /** Each master's port by its node ID (a shard's ID in the lines). */
  async function mastersById(): Promise<Map<string, number>> {
    const ports = await suite.cluster.masters();
    const ids = await Promise.all(ports.map(async (port) => String(await (await suite.writer.client(port))!.ok('CLUSTER', 'MYID'))));
    return new Map(ids.map((id, i) => [id, ports[i]!]));
  }

  /** A master's full and partial resynchronisations served so far (INFO stats). */
  async function syncs(port: number): Promise<{ full: number; partial: number }> {
    const c = (await suite.writer.client(port))!;
    return { full: Number(await c.info('stats', 'sync_full')), partial: Number(await c.info('stats', 'sync_partial_ok')) };
  }

  async function syncsById(masters: Map<string, number>): Promise<Map<string, { full: number; partial: number }>> {
    return new Map(await Promise.all([...masters].map(async ([id, port]) => [id, await syncs(port)] as const)));
  }

  /** The cluster's keyspace (its masters', canonical), as the lines' rebuild gives it: key → value. */
  async function clusterKeyspace(): Promise<Map<string, string>> {
    const lines = (await suite.cluster.masters()).flatMap((port) => canonicalDump(port)).map((l) => JSON.parse(l) as Line);
    return new Map(lines.map((l) => [l.key!, l.value!] as [string, string]).sort());
  }

  /** The load's writes all in FILE (as write lines, or in the snapshot of a shard copied again after them). */
  function loadIn(lines: Line[], load: ClusterLoad): boolean {
    const rebuilt = rebuildFromLines(lines);
    for (const [key, value] of load.sets) if (rebuilt.get(key) !== value) return false;
    for (const [key, n] of load.increments) if (rebuilt.get(key) !== String(n)) return false;
    return true;
  }

  it('tail -o FILE killed mid-stream and restarted, twice: every shard continues with PSYNC, each write once', async () => {
    const file = join(dir, 'midstream.jsonl');
    const checkpoint = join(dir, 'midstream.pos');
    const args = ['tail', `redis://127.0.0.1:${suite.cluster.nodes[0]!.port}`, '-o', file, '--checkpoint', checkpoint];
    const masters = await mastersById();
    expect(masters.size).toBe(3);

    const first = start(args);
    await waitFor('three snapshots', () => count(first.err(), /full sync done/g) === 3);
    const before = await syncsById(masters);
    const load = new ClusterLoad(suite.writer, 'mid');
    // Killed once it has written lines its checkpoint does not cover yet: the restart must cut them.
    await waitFor('lines past the checkpoint', () => covered(checkpoint) > 0 && size(file) > covered(checkpoint) + 2000 &&
      readLines(file).some((l) => l.cmd));
    await kill(first);

    const second = start(args);
    // Killed just after it saved a checkpoint past where it started.
    const from = size(file);
    await waitFor('the second run to save a checkpoint', () => {
      if (second.child.exitCode !== null) throw new Error(`the second run exited: ${second.err()}`);
      return count(second.err(), /resumed /g) === 3 && covered(checkpoint) > from;
    });
    await kill(second);

    const third = start(args);
    await waitFor('three shards resumed', () => count(third.err(), /resumed /g) === 3);
    await load.stop();
    await waitFor('every acknowledged write in FILE', () => loadIn(readLines(file), load), 60_000);
    third.child.kill('SIGINT');
    expect(await third.exit).toBe(0);

    const all = readLines(file);
    // One snapshot per shard, all in the first run; each later run continued all three.
    expect(all.filter((l) => l.event === 'full-sync-start')).toHaveLength(3);
    for (const run of [second, third]) {
      expect(run.err()).not.toMatch(/full sync/);
      expect(count(run.err(), /resumed /g)).toBe(3);
    }
    expect(all.filter((l) => l.event === 'resumed')).toHaveLength(6);
    // The masters served no full sync since the first run's, and a partial one for each resume.
    const after = await syncsById(masters);
    for (const [id, was] of before) {
      expect(after.get(id)!.full).toBe(was.full);
      expect(after.get(id)!.partial - was.partial).toBe(all.filter((l) => l.event === 'resumed' && l.shard === id).length);
    }
    // Each write once: in its shard's order, and as many as the cluster acknowledged.
    expect(writesOutOfOrder(all)).toEqual([]);
    const writes = all.filter((l) => l.cmd && l.cmd[1]!.startsWith('mid:'));
    expect(writes).toHaveLength(load.writes);
    expect(new Set(writes.filter((l) => l.cmd![0] === 'SET').map((l) => l.cmd![1])).size).toBe(load.sets.size);
    expect(rebuildFromLines(all)).toEqual(await clusterKeyspace());
  }, 180_000);

  it('tail -o FILE killed while a shard\'s snapshot is being copied: the shards with a checkpoint continue with PSYNC, that one is copied again', async () => {
    const file = join(dir, 'snapshot.jsonl');
    const checkpoint = join(dir, 'snapshot.pos');
    const args = ['tail', `redis://127.0.0.1:${suite.cluster.nodes[0]!.port}`, '-o', file, '--checkpoint', checkpoint];
    const masters = await mastersById();
    const { id: slowId, end: endSlowSnapshot } = await slowShard(masters);
    const before = await syncsById(masters);
    const load = new ClusterLoad(suite.writer, 'snap');

    const first = start(args);
    await waitFor('two shards through their snapshot, checkpointed, and the third one\'s keys coming', () => {
      const lines = readLines(file);
      return count(first.err(), /full sync done/g) === 2 && saved(checkpoint).shards?.length === 2 &&
        lines.some((l) => l.event === 'full-sync-start' && l.shard === slowId) && lines.some((l) => l.key !== undefined && l.shard === slowId);
    });
    await kill(first);
    await endSlowSnapshot();
    // Killed inside that snapshot: its start is in FILE, its end is not.
    const killed = readLines(file);
    expect(killed.filter((l) => l.shard === slowId && l.event?.startsWith('full-sync'))).toMatchObject([{ event: 'full-sync-start' }]);

    const second = start(args);
    await waitFor('one snapshot and two shards resumed', () => count(second.err(), /full sync done/g) === 1 && count(second.err(), /resumed /g) === 2);
    await load.stop();
    await waitFor('every acknowledged write in FILE', () => loadIn(readLines(file), load), 60_000);
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);

    const all = readLines(file);
    // The slow shard copied twice (the second run's snapshot after the one cut short), the others once.
    const starts = all.filter((l) => l.event === 'full-sync-start').map((l) => l.shard);
    expect(starts.filter((s) => s === slowId)).toHaveLength(2);
    expect(starts).toHaveLength(4);
    expect(all.filter((l) => l.event === 'resumed').map((l) => l.shard).sort()).toEqual([...masters.keys()].filter((id) => id !== slowId).sort());
    const after = await syncsById(masters);
    for (const [id, was] of before) expect(after.get(id)!.full - was.full).toBe(id === slowId ? 2 : 1);
    // Each write once, in its shard's order; one that no write line carries is in its shard's last snapshot.
    expect(writesOutOfOrder(all)).toEqual([]);
    const snapshotted = new Map<string, Set<string>>();
    for (const l of all) {
      if (l.event === 'full-sync-start') snapshotted.set(l.shard!, new Set());
      else if (l.key !== undefined) snapshotted.get(l.shard!)!.add(l.key);
    }
    const inLastSnapshot = (key: string) => [...snapshotted.values()].some((keys) => keys.has(key));
    const written = new Map<string, number>();
    for (const l of all) if (l.cmd?.[0] === 'SET') written.set(l.cmd[1]!, (written.get(l.cmd[1]!) ?? 0) + 1);
    for (const key of load.sets.keys()) {
      if (written.has(key)) expect(written.get(key), key).toBe(1);
      else expect(inLastSnapshot(key), key).toBe(true);
    }
    expect(rebuildFromLines(all)).toEqual(await clusterKeyspace());
  }, 180_000);
  it('publish into a Redis stream killed mid-stream and restarted, twice: every shard continues, each write once, in its shard\'s order', async () => {
    const target = await stream();
    const args = ['publish', `redis://127.0.0.1:${suite.cluster.nodes[1]!.port}`, `redis://127.0.0.1:${target.port}?stream=ev`, '--json'];
    const streaming = (run: CliProcess) => run.lines.some((l) => l.includes('"phase":"streaming"'));
    const writes = async () => (await events(target, 'ev')).filter((e) => e.event === 'write');

    const first = start(args);
    await waitFor('the first run streaming', () => streaming(first));
    // Every write comes after the snapshots: each must be in the stream as a write event.
    const load = new ClusterLoad(suite.writer, 'pub');
    await waitFor('writes in the stream', async () => (await writes()).length > 0);
    await kill(first);
    const published = (await writes()).length;
    const second = start(args);
    await waitFor('the second run publishing', async () => streaming(second) && (await writes()).length > published);
    await kill(second);
    const third = start(args);
    await waitFor('the third run streaming', () => streaming(third));
    await load.stop();
    await waitFor('every acknowledged write in the stream', async () => (await writes()).length >= load.writes, 60_000);
    third.child.kill('SIGTERM');
    expect(await third.exit).toBe(0);

    const all = await events(target, 'ev');
    // One snapshot per shard, all from the first run: the others continued every shard.
    expect(all.filter((e) => e.event === 'full-sync-start')).toHaveLength(3);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    const sets = all.filter((e) => e.event === 'write' && e.command === 'set').map((e) => String((e.keys as unknown[])[0]));
    expect(sets.sort()).toEqual([...load.sets.keys()].sort());
    const increments = new Map<string, number>();
    for (const e of all.filter((x) => x.event === 'write' && x.command === 'incr')) {
      const key = String((e.keys as unknown[])[0]);
      increments.set(key, (increments.get(key) ?? 0) + 1);
    }
    expect(increments).toEqual(load.increments);
    // Each shard's events in its stream's order.
    const last = new Map<string, [number, number]>();
    for (const e of all.filter((x) => x.event === 'write')) {
      const [offset, seq] = last.get(e.shard!) ?? [-1, -1];
      expect(e.offset > offset || (e.offset === offset && e.seq > seq), `${e.id} after ${offset}-${seq}`).toBe(true);
      last.set(e.shard!, [e.offset, e.seq]);
    }
    expect(last.size).toBe(3);
  }, 180_000);

  it('publish into a Redis stream (--snapshot values) killed while a shard\'s snapshot is being copied: the others continue, that one is copied again, consumers rebuild the keyspace', async () => {
    const masters = await mastersById();
    const slow = await slowShard(masters);
    const target = await stream();
    const args = ['publish', `redis://127.0.0.1:${suite.cluster.nodes[1]!.port}`, `redis://127.0.0.1:${target.port}?stream=ev3`, '--snapshot', 'values', '--json'];
    const reader = await RedisClient.connect(target.port);
    const stored = async () => {
      const position = await reader.call('GET', 'redistap:publish:ev3');
      return position === null ? [] : (JSON.parse(String(position)) as { shards: Array<{ replid: string; offset: number }> }).shards;
    };
    const load = new ClusterLoad(suite.writer, 'pubsnap');

    const first = start(args);
    await waitFor('two shards through their snapshot, their positions stored, and the third one\'s keys coming', async () =>
      (await stored()).length === 2 && (await events(target, 'ev3')).some((e) => e.event === 'snapshot' && e.shard === slow.id));
    await kill(first);
    await slow.end();
    // Killed inside that snapshot: its start is in the stream, its end is not.
    expect((await events(target, 'ev3')).filter((e) => e.shard === slow.id && e.event.startsWith('full-sync'))).toMatchObject([{ event: 'full-sync-start' }]);

    const second = start(args);
    await waitFor('the second run streaming', () => second.lines.some((l) => l.includes('"phase":"streaming"')));
    await load.stop();
    // Caught up: the position the stream stores reaches where every master's stream is now.
    const now = await Promise.all([...masters.values()].map(async (port) => {
      const c = (await suite.writer.client(port))!;
      return { replid: await c.info('replication', 'master_replid'), offset: Number(await c.info('replication', 'master_repl_offset')) };
    }));
    await waitFor('the stream caught up with every shard', async () => {
      const shards = await stored();
      return now.every((m) => shards.some((cp) => cp.replid === m.replid && cp.offset >= m.offset));
    });
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);

    const all = await events(target, 'ev3');
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    // A consumer per shard, each into a fresh server: the slow shard's from its second snapshot (the first
    // cut short, dropped by its full-sync-start), the others' from their first; together the cluster's keyspace.
    const { keyspace: rebuilt, stats } = await rebuildPerShard(all, masters.keys(), stream);
    for (const id of masters.keys()) expect(stats.get(id)!.fullSyncs, id).toBe(id === slow.id ? 2 : 1);
    reader.close();
    expect(rebuilt.sort()).toEqual((await suite.cluster.masters()).flatMap((port) => canonicalDump(port)).sort());
  }, 120_000);

  it('publish into NATS JetStream killed mid-stream and restarted: every write once, in its shard\'s order', async () => {
    if (!haveNats()) return;
    const nats = await startNats();
    stoppers.push(() => nats.stop());
    const checkpoint = join(dir, 'nats.pos');
    const args = ['publish', `redis://127.0.0.1:${suite.cluster.nodes[1]!.port}`, `${nats.url}?stream=EV`, '--checkpoint', checkpoint, '--json'];
    const streaming = (run: CliProcess) => run.lines.some((l) => l.includes('"phase":"streaming"'));
    const writes = async () => (await readNatsStream(nats.url, 'EV')).map((m) => JSON.parse(m.body) as ChangeEventJson & { shard?: string })
      .filter((e) => e.event === 'write' && String((e.keys as unknown[])[0]).startsWith('nats:'));

    const first = start(args);
    await waitFor('the first run streaming', () => streaming(first));
    const load = new ClusterLoad(suite.writer, 'nats');
    // Killed with events published past its saved position: the restart publishes them again.
    await waitFor('a position saved, and events past it', async () => saved(checkpoint).shards?.length === 3 && (await natsStreamLength(nats.url, 'EV')) > 100);
    await kill(first);
    const second = start(args);
    await waitFor('the second run streaming', () => streaming(second));
    await load.stop();
    await waitFor('every acknowledged write in the stream', async () => {
      if (second.child.exitCode !== null) throw new Error(`publish exited: ${second.err()}`);
      return new Set((await writes()).map((e) => e.id)).size >= load.writes;
    }, 60_000);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);

    const all = await writes();
    // Each once (a restart within the broker's duplicate window repeats nothing), in its shard's order.
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    expect(all.filter((e) => e.command === 'set').map((e) => String((e.keys as unknown[])[0])).sort()).toEqual([...load.sets.keys()].sort());
    const last = new Map<string, number>();
    for (const e of all) {
      expect(e.offset, e.id).toBeGreaterThan(last.get(e.shard!) ?? -1);
      last.set(e.shard!, e.offset);
    }
  }, 120_000);

  it('a second tail on the same checkpoint, and a second publish into the same stream, are refused; the first goes on undisturbed', async () => {
    const file = join(dir, 'second.jsonl');
    const checkpoint = join(dir, 'second.pos');
    const tailArgs = ['tail', `redis://127.0.0.1:${suite.cluster.nodes[2]!.port}`, '-o', file, '--checkpoint', checkpoint, '--no-rdb'];
    const target = await stream();
    const publishArgs = ['publish', `redis://127.0.0.1:${suite.cluster.nodes[2]!.port}`, `redis://127.0.0.1:${target.port}?stream=ev2`, '--json'];
    const tail = start(tailArgs);
    const publisher = start(publishArgs);
    await waitFor('tail through its snapshots', () => count(tail.err(), /full sync done/g) === 3);
    await waitFor('publish streaming', () => publisher.lines.some((l) => l.includes('"phase":"streaming"')));
    for (let i = 0; i < 50; i++) await suite.writer.call('SET', `second:a:${i}`, String(i));
    await waitFor('the writes in FILE', () => readLines(file).filter((l) => l.cmd?.[1]?.startsWith('second:a:')).length === 50);

    const before = text(file);
    const secondTail = start(tailArgs);
    expect(await secondTail.exit).toBe(2);
    expect(secondTail.err()).toMatch(new RegExp(`${checkpoint.replace(/[.]/g, '\\.')} is in use by another tail \\(pid ${tail.child.pid} `));
    const secondPublish = start(publishArgs);
    expect(await secondPublish.exit).toBe(2);
    expect(secondPublish.err()).toMatch(new RegExp(`another publish holds this target \\(pid ${publisher.child.pid} `));
    // The refused tail did not cut or write FILE.
    expect(text(file).startsWith(before)).toBe(true);

    for (let i = 0; i < 50; i++) await suite.writer.call('SET', `second:b:${i}`, String(i));
    const expected = ['a', 'b'].flatMap((t) => Array.from({ length: 50 }, (_, i) => `second:${t}:${i}`)).sort();
    const published = async () => (await events(target, 'ev2')).filter((e) => e.event === 'write').map((e) => String((e.keys as unknown[])[0]));
    await waitFor('every write in FILE', () => readLines(file).filter((l) => l.cmd?.[1]?.startsWith('second:')).length === 100);
    await waitFor('every write in the stream', async () => (await published()).filter((k) => k.startsWith('second:')).length === 100);
    tail.child.kill('SIGINT');
    publisher.child.kill('SIGTERM');
    expect(await tail.exit).toBe(0);
    expect(await publisher.exit).toBe(0);
    expect(readLines(file).filter((l) => l.cmd).map((l) => l.cmd![1]).sort()).toEqual(expected);
    expect(writesOutOfOrder(readLines(file))).toEqual([]);
    expect((await published()).sort()).toEqual(expected);
  }, 120_000);

  it('one shard\'s replication link killed on its master: that shard continues with PSYNC, the others undisturbed, each write once', async () => {
    const file = join(dir, 'link.jsonl');
    const run = start(['tail', `redis://127.0.0.1:${suite.cluster.nodes[3]!.port}`, '-o', file, '--checkpoint', join(dir, 'link.pos'), '--no-rdb']);
    await waitFor('three snapshots', () => count(run.err(), /full sync done/g) === 3);
    const masters = await mastersById();
    const before = await syncsById(masters);
    const load = new ClusterLoad(suite.writer, 'link');
    await waitFor('writes of every shard in FILE', () => new Set(readLines(file).filter((l) => l.cmd).map((l) => l.shard)).size === 3);

    // Our link on one master: the replica client whose address is one of tail's sockets.
    const [cutId, cutPort] = [...masters][1]!;
    const admin = (await suite.writer.client(cutPort))!;
    const ours = tcpLocalPorts(run.child.pid!);
    const replicas = String(await admin.ok('CLIENT', 'LIST', 'TYPE', 'replica')).trim().split('\n');
    const link = replicas.find((l) => ours.includes(Number(/ addr=[^ ]*:(\d+) /.exec(` ${l}`)![1])))!;
    expect(link).toBeDefined();
    expect(await admin.ok('CLIENT', 'KILL', 'ID', /(^| )id=(\d+)/.exec(link)![2]!)).toBe(1);
    await waitFor('that shard resumed', () => readLines(file).some((l) => l.event === 'resumed' && l.shard === cutId));
    await load.stop();
    await waitFor('every acknowledged write in FILE', () => readLines(file).filter((l) => l.cmd?.[1]?.startsWith('link:')).length === load.writes, 60_000);
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);

    const all = readLines(file);
    expect(all.filter((l) => l.event === 'full-sync-start')).toHaveLength(3);
    expect(all.filter((l) => l.event === 'resumed').map((l) => l.shard)).toEqual([cutId]);
    expect(count(run.err(), /link down/g)).toBe(1);
    expect(count(run.err(), /connected to /g)).toBe(4);
    // PSYNC on that master, nothing on the others.
    const after = await syncsById(masters);
    for (const [id, was] of before) expect(after.get(id)).toEqual({ full: was.full, partial: was.partial + (id === cutId ? 1 : 0) });
    expect(writesOutOfOrder(all)).toEqual([]);
    expect(rebuildFromLines(all.filter((l) => l.cmd?.[1]?.startsWith('link:')))).toEqual(new Map([...load.sets, ...[...load.increments].map(([k, n]) => [k, String(n)] as [string, string])].sort()));
  }, 120_000);

  // Last: it leaves a master dead.
  it('tail killed, then restarted while a shard\'s master is down and not yet failed over: it waits for the promoted replica and continues with PSYNC', async () => {
    const file = join(dir, 'down.jsonl');
    const checkpoint = join(dir, 'down.pos');
    const masters = await mastersById();
    const [deadId, deadPort] = [...masters][2]!;
    const given = suite.cluster.nodes.find((n) => n.port !== deadPort && n.process.exitCode === null)!;
    const args = ['tail', `redis://127.0.0.1:${given.port}`, '-o', file, '--checkpoint', checkpoint, '--no-rdb'];
    const first = start(args);
    await waitFor('three snapshots', () => count(first.err(), /full sync done/g) === 3);
    const writes1 = new ClusterLoad(suite.writer, 'down1');
    await waitFor('every shard checkpointed, writes in FILE', () => saved(checkpoint).shards?.length === 3 && readLines(file).some((l) => l.cmd?.[1]?.startsWith('down1:')));
    await kill(first);
    await writes1.stop();
    // Every write acknowledged by the master to be killed is on its replica too, and that replica does not
    // take over by itself: the restart finds the shard's master dead.
    const dead = (await suite.writer.client(deadPort))!;
    expect(Number(await dead.ok('WAIT', 1, 10_000))).toBe(1);
    const nodes = String(await dead.ok('CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '));
    const replicaPort = Number(/:(\d+)@/.exec(nodes.find((f) => f[3] === deadId)![1]!)![1]);
    const replica = (await suite.writer.client(replicaPort))!;
    await replica.ok('CONFIG', 'SET', 'cluster-replica-no-failover', 'yes');
    const deadNode = suite.cluster.nodes.find((n) => n.port === deadPort)!;
    deadNode.process.kill('SIGKILL');
    await new Promise((resolve) => deadNode.process.once('exit', resolve));

    const second = start(args);
    // It tries the dead master, and waits (before the fix: exit 2, 'cannot connect to' it).
    await waitFor('the dead master tried', () => second.child.exitCode !== null || new RegExp(`link down: .*127\\.0\\.0\\.1:${deadPort}`).test(second.err()));
    expect(second.child.exitCode, second.err()).toBeNull();
    // The failover (forced: the master is gone): the shard's replica takes over.
    await replica.ok('CLUSTER', 'FAILOVER', 'FORCE');
    await waitFor('the replica promoted', async () => (await replica.info('replication', 'role')) === 'master', 60_000);
    const writes2 = new ClusterLoad(suite.writer, 'down2');
    await waitFor('writes to that shard in FILE', () => {
      if (second.child.exitCode !== null) throw new Error(`tail exited: ${second.err()}`);
      return readLines(file).some((l) => l.cmd?.[1]?.startsWith('down2:') && l.shard === deadId);
    });
    await writes2.stop();
    await waitFor('every acknowledged write in FILE', () => readLines(file).filter((l) => l.cmd?.[1]?.startsWith('down')).length === writes1.writes + writes2.writes, 60_000);
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);

    const all = readLines(file);
    expect(second.err()).not.toMatch(/full sync/);
    expect(all.filter((l) => l.event === 'full-sync-start')).toHaveLength(3);
    expect(all.filter((l) => l.event === 'replid-changed').map((l) => l.shard)).toEqual([deadId]);
    expect(writesOutOfOrder(all)).toEqual([]);
    const expected = new Map<string, string>();
    for (const w of [writes1, writes2]) {
      for (const [k, v] of w.sets) expected.set(k, v);
      for (const [k, n] of w.increments) expected.set(k, String(n));
    }
    expect(rebuildFromLines(all.filter((l) => l.cmd?.[1]?.startsWith('down')))).toEqual(new Map([...expected].sort()));
  }, 180_000);
});
