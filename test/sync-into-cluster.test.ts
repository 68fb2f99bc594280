// `sync` from one server into a real Redis Cluster (six redis-server --cluster-enabled yes): every write
// to the master of its keys' slot, each slot fenced and positioned on its own (slot-fence.ts). Writes of
// every type (counters and lists among them: a write lost or applied twice changes them), a MULTI/EXEC
// and DEL and MSET over several slots, go on during and after the copy; the cluster's keyspace (its
// masters' canonical dumps, the sync's own keys aside) must equal the source's. A restart, a target
// master SIGKILLed (its replica promoted), the cluster resharded under writes, and redistap itself
// SIGKILLed continue without a new copy.
import { afterEach, describe, expect, it } from 'vitest';
import type { Sync, SyncEvent } from '../src/sync/sync.js';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { clusterSuite } from './helpers/cluster-suite.js';
import { reshard } from './helpers/redis-cluster.js';
import { haveRedisServer, RedisClient, type RedisServer } from './helpers/redis-server.js';
import { client, later, server, startSync, stopAll, syncedKeyspace, url, waitFor } from './helpers/sync-harness.js';

const live = haveRedisServer();

afterEach(stopAll);

/** One round of writes on the source, keys spread over every master's slots; round r writes the same on every run. */
async function round(c: RedisClient, r: number): Promise<void> {
  const k = (name: string) => `c:${name}:${r % 11}`;
  await Promise.all([
    c.ok('APPEND', k('str'), `${r},`),
    c.ok('INCRBY', k('counter'), r),
    c.ok('SET', `c:plain:${r}`, `v${r}`, ...(r % 3 === 0 ? ['PX', '3600000'] : [])),
    c.ok('RPUSH', k('list'), `a${r}`, `b${r}`),
    ...(r % 4 === 3 ? [c.ok('LPOP', k('list'))] : []),
    c.ok('SADD', k('set'), String(r)),
    c.ok('ZINCRBY', k('zset'), '1.5', `m${r % 3}`),
    c.ok('HINCRBY', k('hash'), `f${r % 4}`, '1'),
    c.ok('XADD', k('stream'), '*', 'r', String(r)),
    // Over several slots: split per slot (each part atomic), every part applied once.
    c.ok('MSET', `c:m1:${r % 5}`, `${r}`, `c:m2:${r % 5}`, `${r}`, `c:m3:${r % 5}`, `${r}`),
    ...(r % 5 === 4 ? [c.ok('DEL', `c:plain:${r - 1}`, `c:plain:${r - 2}`, `c:plain:${r - 3}`, `c:nothing:${r}`)] : []),
  ]);
  await c.ok('MULTI');
  await c.ok('INCR', 'c:tx:count');
  await c.ok('RPUSH', 'c:tx:log', String(r));
  await c.ok('INCRBY', `c:tx:other:${r % 3}`, '2');
  await c.ok('EXEC');
}

describe.skipIf(!live)('sync from one server into a Redis Cluster', () => {
  const suite = clusterSuite();

  afterEach(async () => {
    // Each test starts on an empty cluster (the sync's own keys too).
    await suite.cluster.flushMasters();
  });

  const clusterKeyspace = async () => (await suite.cluster.keyspace()).filter((l) => !l.includes('"key":"redistap:'));
  const copies = (events: SyncEvent[]) => events.filter((e) => e.type === 'phase' && e.phase === 'copying').length;
  const alive = (n: RedisServer) => n.process.exitCode === null && n.process.signalCode === null;

  /**
   * Waits until a marker written on the source is in the cluster, then compares. Writes are in order per
   * slot only: a slot's blocks sent again after a redirect may land after the marker's, so the comparison
   * is retried for a while (a write lost or applied twice never matches). `ttlSlackMs`: how far a key's
   * expiry may be from the source's (a reshard's MIGRATE carries the time left: the new node's expiry can
   * be a millisecond off).
   */
  async function expectClusterEqualsSource(source: RedisServer, ttlSlackMs = 0): Promise<void> {
    const c = await client(source);
    const marker = `m${Date.now()}`;
    await c.ok('SET', 'c:marker', marker);
    await waitFor('the cluster to catch up', async () => String(await suite.writer.call('GET', 'c:marker')) === marker, 60_000);
    const expected = syncedKeyspace(source.port).sort();
    expect(expected.length).toBeGreaterThan(50);
    const expires = new Map(expected.map((l) => JSON.parse(l) as { key: string; expire_ms: number | null }).map((e) => [e.key, e.expire_ms]));
    const aligned = (line: string) => {
      const entry = JSON.parse(line) as { key: string; expire_ms: number | null };
      const near = expires.get(entry.key);
      return near != null && entry.expire_ms !== null && entry.expire_ms !== near && Math.abs(entry.expire_ms - near) <= ttlSlackMs
        ? JSON.stringify({ ...entry, expire_ms: near }) : line;
    };
    const keyspace = async () => (await clusterKeyspace()).map(aligned);
    let copy = await keyspace();
    for (let tries = 0; tries < 20 && JSON.stringify(copy) !== JSON.stringify(expected); tries++) {
      await new Promise((r) => setTimeout(r, 500));
      copy = await keyspace();
    }
    expect(copy).toEqual(expected);
  }

  async function streaming({ sync: s, events }: { sync: { status: { phase: string } }; events: SyncEvent[] }): Promise<void> {
    await waitFor(`the sync to stream (${s.status.phase})`, () => s.status.phase === 'streaming' || s.status.phase === 'failed', 60_000);
    expect(s.status.phase, JSON.stringify(events.slice(-8))).toBe('streaming');
  }

  /**
   * Stops a sync, writes `between` rounds from `r` on, and starts another, which must stream without a
   * copy; then more rounds, and the keyspaces compared.
   */
  async function restartWithoutCopy(first: { sync: Sync }, source: RedisServer, r: number, between = 0): Promise<void> {
    first.sync.stop();
    await first.sync.done;
    const c = await client(source);
    for (const end = r + between; r < end; r++) await round(c, r);
    const second = startSync(source, suite.cluster.nodes[0]!, { dbs: [0] });
    await streaming(second);
    for (const end = r + 10; r < end; r++) await round(c, r);
    await expectClusterEqualsSource(source);
    expect(copies(second.events)).toBe(0);
  }

  it('copies and applies writes of every type once, splitting those over several slots; a restart continues without a copy', async () => {
    const source = await server();
    const c = await client(source);
    for (let r = 0; r < 30; r++) await round(c, r);
    // The copy is slow (each key saved 2 ms late): writes come while it runs.
    await c.ok('CONFIG', 'SET', 'rdb-key-save-delay', '2000');
    const first = startSync(source, suite.cluster.nodes[0]!, { dbs: [0] });
    let r = 30;
    while (first.sync.status.phase !== 'streaming' && first.sync.status.phase !== 'failed') await round(c, r++);
    await streaming(first);
    await c.ok('CONFIG', 'SET', 'rdb-key-save-delay', '0');
    for (const end = r + 30; r < end; r++) await round(c, r);
    await expectClusterEqualsSource(source);
    expect(copies(first.events)).toBe(1);
    // A DEL of keys of several slots reached every slot's master.
    expect(await suite.writer.call('EXISTS', 'c:plain:33')).toBe(0);

    await restartWithoutCopy(first, source, r, 20);
  }, 180_000);

  it('refuses a route writing another db than 0, a second sync, and a first start on a cluster holding its keys', async () => {
    const source = await server();
    const c = await client(source);
    for (let r = 0; r < 5; r++) await round(c, r);
    const anyDb = startSync(source, suite.cluster.nodes[0]!);
    await expect(anyDb.sync.done).rejects.toThrow(/database 0 only.*pass --db 0, or --db-map N:0/);

    const first = startSync(source, suite.cluster.nodes[0]!, { dbs: [0] });
    await streaming(first);
    const second = startSync(source, suite.cluster.nodes[1]!, { dbs: [0] });
    await expect(second.sync.done).rejects.toThrow(/another sync holds this target \(pid \d+/);
    first.sync.stop();
    await first.sync.done;

    const other = await server();
    await (await client(other)).ok('SET', 'c:plain:1', 'x');
    const fresh = startSync(other, suite.cluster.nodes[0]!, { dbs: [0] });
    await expect(fresh.sync.done).rejects.toThrow(/already holds keys where this sync would write/);
  }, 120_000);

  it('a FLUSHALL on the source deletes the sync\'s keys on every master; a restart continues after it', async () => {
    const source = await server();
    const c = await client(source);
    for (let r = 0; r < 20; r++) await round(c, r);
    const first = startSync(source, suite.cluster.nodes[0]!, { dbs: [0] });
    await streaming(first);
    let r = 20;
    for (const end = r + 20; r < end; r++) await round(c, r);
    await c.ok('FLUSHALL');
    for (const end = r + 20; r < end; r++) await round(c, r);
    await expectClusterEqualsSource(source);
    expect(await suite.writer.call('EXISTS', 'c:plain:5')).toBe(0);
    await restartWithoutCopy(first, source, r);
  }, 120_000);

  it('redistap sync killed (SIGKILL) while writes run, and started again: continues from its positions, each write once', async () => {
    const source = await server();
    const c = await client(source);
    for (let r = 0; r < 20; r++) await round(c, r);
    const phases = (run: CliProcess) => run.lines.map((l) => JSON.parse(l) as { type: string; phase?: string })
      .filter((e) => e.type === 'phase').map((e) => e.phase);
    const start = () => {
      const run = cli(['sync', url(source), url(suite.cluster.nodes[0]!), '--db', '0', '--json']);
      later({ stop: () => { if (run.child.exitCode === null) run.child.kill('SIGKILL'); } });
      return run;
    };
    const first = start();
    await waitFor('the first run streaming', () => phases(first).includes('streaming'), 60_000);
    // Killed while rounds of writes are being made and applied: some of them applied, some not yet.
    let r = 20;
    let stop = false;
    const writes = (async () => { while (!stop) await round(c, r++); })();
    await waitFor('writes applied', async () => Number(await suite.writer.call('GET', 'c:tx:count')) >= 40, 60_000);
    first.child.kill('SIGKILL');
    await first.exit;
    stop = true;
    await writes;
    for (const end = r + 10; r < end; r++) await round(c, r);
    const second = start();
    await waitFor('the second run streaming', () => phases(second).includes('streaming') || second.child.exitCode !== null, 60_000);
    for (const end = r + 10; r < end; r++) await round(c, r);
    await expectClusterEqualsSource(source);
    expect(phases(first)).toContain('copying');
    expect(phases(second)).not.toContain('copying');
  }, 180_000);

  /**
   * A sync streaming while rounds of writes run, `change` made to the cluster meanwhile, then more writes:
   * the cluster must equal the source (expiries within `ttlSlackMs`), after one copy and no new attempt.
   */
  async function underWrites(change: () => Promise<void>, ttlSlackMs = 0): Promise<void> {
    const source = await server();
    const c = await client(source);
    for (let r = 0; r < 20; r++) await round(c, r);
    const s = startSync(source, suite.cluster.nodes[0]!, { dbs: [0] });
    await streaming(s);
    let r = 20;
    let writing = true;
    const writes = (async () => { while (writing) await round(c, r++); })();
    await waitFor('writes under way', () => r > 30);
    await change();
    const changed = r;
    await waitFor('writes after the change', () => r > changed + 10);
    writing = false;
    await writes;
    await expectClusterEqualsSource(source, ttlSlackMs);
    expect(copies(s.events)).toBe(1);
    expect(s.sync.status.restarts).toBe(0);
    expect(s.sync.status.phase).toBe('streaming');
  }

  it('the target resharded (1,000 slots) while writes run: blocks meeting MOVED, ASK or TRYAGAIN sent again where their slot is, each write once, without starting over', async () => {
    await underWrites(async () => {
      // From the master serving slot 0 (a reshard takes a master's lowest slots first) to the one serving the last.
      const { owners, ports } = await suite.cluster.slotOwners();
      const [from, to] = [owners.get(0)!, owners.get(16383)!];
      await reshard(ports.get(from)!, from, to, 1000);
      expect((await suite.cluster.slotOwners()).owners.get(999)).toBe(to);
    }, 2);
  }, 240_000);

  it('a target master switched over (CLUSTER FAILOVER on its replica) while writes run: its slots\' blocks follow MOVED to the new master, without starting over', async () => {
    await underWrites(async () => {
      const nodes = String(await suite.writer.call('CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '));
      const portOf = (fields: string[]) => Number(/:(\d+)@/.exec(fields[1]!)![1]);
      const master = nodes.find((f) => f[2]!.includes('master') && !f[2]!.includes('fail'))!;
      const promoted = portOf(nodes.find((f) => f[3] === master[0])!);
      const replica = await RedisClient.connect(promoted);
      await replica.ok('CLUSTER', 'FAILOVER');
      replica.close();
      await waitFor('the cluster seeing the replica promoted', async () => (await suite.cluster.masters()).includes(promoted));
    });
  }, 120_000);

  it('while a target slot migrates none of its blocks applies (one of keys still there would pass one refused before it), and all apply in order once it settles', async () => {
    const source = await server();
    const c = await client(source);
    for (let r = 0; r < 10; r++) await round(c, r);
    await c.ok('SET', '{mig}count', '10');
    const s = startSync(source, suite.cluster.nodes[0]!, { dbs: [0] });
    await streaming(s);
    const slot = Number(await suite.writer.call('CLUSTER', 'KEYSLOT', '{mig}'));
    const { owners, ports } = await suite.cluster.slotOwners();
    const owner = await RedisClient.connect(ports.get(owners.get(slot)!)!);
    const elsewhere = [...ports.keys()].find((id) => id !== owners.get(slot))!;
    // A write of the slot streamed first: its position key is there too.
    await c.ok('INCR', '{mig}count');
    await waitFor('the first INCR applied', async () => String(await owner.call('GET', '{mig}count')) === '11');
    await owner.ok('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', elsewhere);
    try {
      await c.ok('SET', '{mig}new', '1'); // a key the migrating slot lacks: its block is refused (ASK)
      await new Promise((r) => setTimeout(r, 300)); // a batch of its own
      await c.ok('INCR', '{mig}count'); // a key it has: its block, without the slot's check, applies before the SET's
      await new Promise((r) => setTimeout(r, 1000));
      expect(String(await owner.call('GET', '{mig}count'))).toBe('11');
    } finally {
      await owner.ok('CLUSTER', 'SETSLOT', String(slot), 'STABLE');
      owner.close();
    }
    // The slot's blocks wait out their pause; other slots' writes (the marker) may arrive first.
    await waitFor('the slot\'s writes applied', async () => String(await suite.writer.call('GET', '{mig}count')) === '12');
    await expectClusterEqualsSource(source);
    expect(s.sync.status.restarts).toBe(0);
  }, 120_000);

  // Last: the cluster keeps the killed master dead.
  it('the master given as the target SIGKILLed and its replica promoted: a new attempt finds the cluster through its other nodes, and continues without a copy', async () => {
    const source = await server();
    const c = await client(source);
    for (let r = 0; r < 20; r++) await round(c, r);
    const masters = await suite.cluster.masters();
    const victim = suite.cluster.nodes.find((n) => masters.includes(n.port))!;
    const s = startSync(source, victim, { dbs: [0] });
    await streaming(s);
    let r = 20;
    for (const end = r + 20; r < end; r++) await round(c, r);
    // Caught up and idle first: what a killed master acknowledged and had not yet replicated would be lost by Redis itself.
    await expectClusterEqualsSource(source);
    victim.process.kill('SIGKILL');
    await new Promise((resolve) => victim.process.once('exit', resolve));
    await waitFor('a replica promoted in the killed master\'s place', async () =>
      (await suite.cluster.masters().catch(() => [])).filter((p) => p !== victim.port).length === 3, 60_000);
    for (const end = r + 30; r < end; r++) await round(c, r);
    await expectClusterEqualsSource(source);
    expect(s.sync.status.restarts).toBeGreaterThan(0);
    expect(copies(s.events)).toBe(1);
    expect(s.sync.status.phase).toBe('streaming');
    expect(alive(victim)).toBe(false);
  }, 180_000);
});
