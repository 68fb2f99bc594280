// `redistap tail redis+sentinel://.../mymaster` (and publish(), sync()) against three real sentinels (Debian's redis-sentinel)
// watching a real master and its replica: tail finds the master through them, and follows two failovers
// they drive (SENTINEL FAILOVER, then the new master killed) to the promoted node with PSYNC: one
// snapshot in all, a replid-changed line for each failover, every write once, in order.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { haveRedisSentinel, startSentinels, type Sentinels } from './helpers/redis-sentinel.js';
import { readEventStream } from './helpers/event-consumer.js';
import { publish } from '../src/pipeline/publisher.js';
import { sync } from '../src/sync/sync.js';
import { syncedKeyspace } from './helpers/sync-harness.js';
import { redisStreamSink } from '../src/pipeline/sinks/redis-stream-sink.js';

const live = haveRedisServer() && haveRedisSentinel();
const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (stops.length) await stops.pop()!();
});

async function waitFor(what: string, test: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await Promise.resolve().then(test).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Line { event?: string; cmd?: string[]; offset?: number; from?: string; to?: string }

/** A master a, its replica b, three sentinels watching a, and a server to write into; all stopped after the test. */
async function servers(): Promise<{ a: RedisServer; b: RedisServer; target: RedisServer; sentinels: Sentinels }> {
  const started = async (extra: string[]) => {
    const s = await startRedisServer(extra);
    stops.push(() => s.stop());
    return s;
  };
  const a = await started(['--repl-diskless-sync-delay', '0']);
  const b = await started(['--repl-diskless-sync-delay', '0', '--replicaof', '127.0.0.1', String(a.port)]);
  const target = await started([]);
  const sentinels = await startSentinels(a.port);
  stops.push(() => sentinels.stop());
  return { a, b, target, sentinels };
}

describe.skipIf(!live)('tail through Redis Sentinel', () => {
  it('finds the master through the sentinels and follows their failovers with PSYNC: one snapshot, each write once', async () => {
    const a: RedisServer = await startRedisServer(['--repl-diskless-sync-delay', '0']);
    stops.push(() => a.stop());
    const b: RedisServer = await startRedisServer(['--repl-diskless-sync-delay', '0', '--replicaof', '127.0.0.1', String(a.port)]);
    stops.push(() => b.stop());
    const role = async (s: RedisServer) => {
      const c = await RedisClient.connect(s.port);
      try {
        return `${await c.info('replication', 'role')}/${await c.info('replication', 'master_link_status').catch(() => 'none')}`;
      } finally {
        c.close();
      }
    };
    await waitFor('the replica\'s link', async () => (await role(b)) === 'slave/up');
    const sentinels: Sentinels = await startSentinels(a.port);
    stops.push(() => sentinels.stop());

    const dir = mkdtempSync(join(tmpdir(), 'redistap-tail-sentinel-'));
    stops.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'changes.jsonl');
    const run: CliProcess = cli(['tail', sentinels.url, '-o', file, '--checkpoint', join(dir, 'tail.pos'), '--no-rdb']);
    stops.push(() => { if (run.child.exitCode === null) run.child.kill('SIGKILL'); });
    const lines = (): Line[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : []);
    const writes = async (server: RedisServer, tag: string, replicas: number) => {
      const c = await RedisClient.connect(server.port);
      for (let i = 0; i < 50; i++) await c.ok('SET', `${tag}:${i}`, `${i}`);
      // On every replica (the other server, and tail) before anything is killed: the writes survive the
      // failover (with WAIT 1, tail's acknowledgement alone could let a promoted server lack some).
      expect(await c.ok('WAIT', replicas, 10_000)).toBe(replicas);
      c.close();
    };
    await waitFor('the full sync', () => run.err().includes('full sync done'));
    expect(run.err()).toContain(`connected to 127.0.0.1:${a.port}`);
    await writes(a, 'a', 2);

    // A failover the sentinels run: b is promoted, a becomes its replica.
    const s = await RedisClient.connect(sentinels.ports[0]!);
    await s.ok('SENTINEL', 'FAILOVER', 'mymaster');
    s.close();
    await waitFor('b promoted', async () => (await sentinels.masterPort()) === b.port && (await role(b)).startsWith('master') && (await role(a)) === 'slave/up');
    await writes(b, 'b', 2);

    // b killed: the sentinels promote a again.
    b.process.kill('SIGKILL');
    await waitFor('a promoted', async () => (await sentinels.masterPort()) === a.port && (await role(a)).startsWith('master'), 60_000);
    await writes(a, 'c', 1);

    // The sentinels' hello messages (PUBLISH __sentinel__:hello) are in the stream too: only the SETs count.
    const sets = () => lines().filter((l) => l.cmd?.[0] === 'SET');
    await waitFor('every write in FILE', () => sets().length === 150, 60_000);
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
    const all = lines();
    expect(all.filter((l) => l.event === 'full-sync-start')).toHaveLength(1);
    expect(all.filter((l) => l.event === 'replid-changed')).toHaveLength(2);
    const keys = sets().map((l) => l.cmd![1]);
    expect(keys).toEqual(['a', 'b', 'c'].flatMap((tag) => Array.from({ length: 50 }, (_, i) => `${tag}:${i}`)));
    expect(run.err()).toContain(`connected to 127.0.0.1:${b.port}`);
  }, 120_000);

  it('--read-from replica reads a replica the sentinels name, and the other one once they promote it: PSYNC, each write once', async () => {
    const { a, b, sentinels } = await servers();
    const c = await startRedisServer(['--repl-diskless-sync-delay', '0', '--replicaof', '127.0.0.1', String(a.port)]);
    stops.push(() => c.stop());
    const replicaUp = async (s: RedisServer) => {
      const client = await RedisClient.connect(s.port);
      try {
        return (await client.info('replication', 'master_link_status').catch(() => '')) === 'up';
      } finally {
        client.close();
      }
    };
    const sentinel = await RedisClient.connect(sentinels.ports[0]!);
    stops.push(() => sentinel.close());
    const known = async () => String(await sentinel.call('SENTINEL', 'replicas', 'mymaster'));
    await waitFor('b and c replicas the sentinels know', async () => (await replicaUp(b)) && (await replicaUp(c)) &&
      (await known()).includes(String(b.port)) && (await known()).includes(String(c.port)));

    const dir = mkdtempSync(join(tmpdir(), 'redistap-tail-sentinel-replica-'));
    stops.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'changes.jsonl');
    const run: CliProcess = cli(['tail', sentinels.url, '--read-from', 'replica', '-o', file, '--checkpoint', join(dir, 'tail.pos'), '--no-rdb']);
    stops.push(() => { if (run.child.exitCode === null) run.child.kill('SIGKILL'); });
    const sets = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : [])
      .filter((l) => l.cmd?.[0] === 'SET');
    await waitFor('the full sync', () => run.err().includes('full sync done'));
    // The replica tail reads is the one the sentinels will promote (the lower priority wins); the other stays one.
    const [read, other] = run.err().includes(`connected to 127.0.0.1:${b.port}`) ? [b, c] : [c, b];
    expect(run.err()).toContain(`connected to 127.0.0.1:${read.port}`);
    for (const [s, priority] of [[read, 1], [other, 100]] as const) {
      const client = await RedisClient.connect(s.port);
      await client.ok('CONFIG', 'SET', 'replica-priority', String(priority));
      client.close();
    }
    const writes = async (server: RedisServer, tag: string, replicas: number) => {
      const client = await RedisClient.connect(server.port);
      for (let i = 0; i < 40; i++) await client.ok('SET', `${tag}:${i}`, `${i}`);
      expect(await client.ok('WAIT', replicas, 10_000)).toBe(replicas);
      client.close();
    };
    await writes(a, 'a', 2);
    await waitFor('a\'s writes through the replica', () => sets().length === 40);

    // a killed: the sentinels promote the replica tail reads; tail moves to the other, which continues from it.
    a.process.kill('SIGKILL');
    await waitFor('the replica read promoted, the other its replica', async () =>
      (await sentinels.masterPort()) === read.port && (await replicaUp(other)), 60_000);
    await writes(read, 'b', 1);
    await waitFor('the writes after the failover', () => sets().length === 80, 60_000);
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
    expect(run.err()).toContain(`connected to 127.0.0.1:${other.port}`);
    expect(run.err().match(/full sync done/g)).toHaveLength(1);
    expect(sets().map((l) => l.cmd![1])).toEqual(['a', 'b'].flatMap((tag) => Array.from({ length: 40 }, (_, i) => `${tag}:${i}`)));
  }, 120_000);

  it('publish through the sentinels into a Redis stream continues on the promoted master: one snapshot, each write once', async () => {
    const { a, b, target, sentinels } = await servers();
    const p = publish({ source: sentinels.url, sink: redisStreamSink(`redis://127.0.0.1:${target.port}?stream=ev`) });
    stops.push(async () => { p.stop(); await p.done.catch(() => undefined); });
    await waitFor('streaming', () => p.status.phase === 'streaming');
    const set = async (server: RedisServer, tag: string) => {
      const c = await RedisClient.connect(server.port);
      for (let i = 0; i < 30; i++) await c.ok('SET', `${tag}:${i}`, `${i}`);
      c.close();
    };
    await set(a, 'a');
    const s = await RedisClient.connect(sentinels.ports[1]!);
    await s.ok('SENTINEL', 'FAILOVER', 'mymaster');
    s.close();
    await waitFor('b promoted', async () => (await sentinels.masterPort()) === b.port);
    await set(b, 'b');
    const t = await RedisClient.connect(target.port);
    const events = async () => (await readEventStream(t, 'ev')).events;
    await waitFor('every write in the stream', async () => (await events()).filter((e) => e.event === 'write' && e.command === 'set').length === 60);
    p.stop();
    await p.done;
    const all = await events();
    t.close();
    expect(all.filter((e) => e.event === 'full-sync-start')).toHaveLength(1);
    expect(all.filter((e) => e.event === 'replid-changed')).toHaveLength(1);
    expect(new Set(all.map((e) => (e as { source?: string }).source))).toEqual(new Set(['sentinel/mymaster']));
    const keys = all.filter((e) => e.event === 'write' && e.command === 'set').map((e) => String(e.keys && Array.isArray(e.keys) ? e.keys[0] : ''));
    expect(keys).toEqual(['a', 'b'].flatMap((tag) => Array.from({ length: 30 }, (_, i) => `${tag}:${i}`)));
  }, 120_000);

  it('sync through the sentinels continues on the promoted master: one copy, the target equals the source', async () => {
    const { a, b, target, sentinels } = await servers();
    const ca = await RedisClient.connect(a.port);
    for (let i = 0; i < 100; i++) await ca.ok('SET', `copied:${i}`, `${i}`);
    ca.close();
    const phases: string[] = [];
    const s = sync({ source: sentinels.url, target: `redis://127.0.0.1:${target.port}`, onEvent: (e) => { if (e.type === 'phase') phases.push(e.phase); } });
    stops.push(async () => { s.stop(); await s.done.catch(() => undefined); });
    await waitFor('streaming', () => s.status.phase === 'streaming');
    const c = await RedisClient.connect(sentinels.ports[2]!);
    await c.ok('SENTINEL', 'FAILOVER', 'mymaster');
    c.close();
    await waitFor('b promoted', async () => (await sentinels.masterPort()) === b.port);
    const cb = await RedisClient.connect(b.port);
    for (let i = 0; i < 100; i++) await cb.ok('SET', `after:${i}`, `${i}`);
    await cb.ok('SET', 'marker', 'last');
    const ct = await RedisClient.connect(target.port);
    await waitFor('the marker on the target', async () => String(await ct.call('GET', 'marker')) === 'last');
    cb.close();
    ct.close();
    expect(phases.filter((p) => p === 'copying')).toHaveLength(1);
    expect(syncedKeyspace(target.port)).toEqual(syncedKeyspace(b.port));
    expect(syncedKeyspace(target.port).length).toBe(201);
  }, 120_000);
});
