// `redistap tail` given one node of a real Redis Cluster (six redis-server --cluster-enabled yes, joined by
// redis-cli --cluster create): it follows every shard, each line names its shard and a key's line its hash
// slot (as the cluster itself computes them: CLUSTER KEYSLOT, CLUSTER NODES), and a restart continues
// every shard with PSYNC from its own position, each write once in -o FILE.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { clusterSuite } from './helpers/cluster-suite.js';
import { readLines as lines, type Line } from './helpers/cluster-lines.js';
import { haveRedisServer, type RedisClient } from './helpers/redis-server.js';
import { canonicalDump } from './helpers/keyspace.js';

const live = haveRedisServer();

async function waitFor(what: string, test: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!live)('tail from a Redis Cluster', () => {
  const suite = clusterSuite();
  let dir: string;
  const running: CliProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'redistap-tail-cluster-'));
  }, 60_000);

  afterAll(async () => {
    for (const run of running) if (run.child.exitCode === null) run.child.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A node that answers (some may have been killed). */
  async function anyNode(): Promise<RedisClient> {
    for (const n of suite.cluster.nodes) {
      const c = n.process.exitCode === null && n.process.signalCode === null ? await suite.writer.client(n.port) : undefined;
      if (c) return c;
    }
    throw new Error('no node answers');
  }

  /** CLUSTER NODES lines as fields: id, address, flags, master id, ..., slot ranges. */
  async function clusterNodes(): Promise<string[][]> {
    return String(await (await anyNode()).ok('CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '));
  }

  /** The master that serves each slot now, by node ID, as CLUSTER NODES says. */
  async function slotOwners(): Promise<Map<number, string>> {
    const owners = new Map<number, string>();
    for (const [id, , flags, , , , , , ...ranges] of await clusterNodes()) {
      if (!flags!.split(',').includes('master')) continue;
      for (const range of ranges) {
        const [a, b = a] = range.split('-').map(Number);
        for (let s = a!; s <= b!; s++) owners.set(s, id!);
      }
    }
    return owners;
  }

  it('follows every shard, each line with its shard and slot; a restart continues each shard with PSYNC, each write once', async () => {
    for (let i = 0; i < 150; i++) await suite.writer.call('SET', `before:${i}`, `b${i}`);
    const file = join(dir, 'changes.jsonl');
    const checkpoint = join(dir, 'tail.pos');
    const args = [`redis://127.0.0.1:${suite.cluster.nodes[0]!.port}`, '-o', file, '--checkpoint', checkpoint];

    const first = cli(['tail', ...args]);
    running.push(first);
    await waitFor('three snapshots', () => (first.err().match(/full sync done/g) ?? []).length === 3);
    for (let i = 0; i < 150; i++) await suite.writer.call('SET', `during:${i}`, `d${i}`);
    for (let i = 0; i < 20; i++) await suite.writer.call('DEL', `before:${i}`);
    await waitFor('the writes in FILE', () => lines(file).filter((l) => l.cmd).length === 170);
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(0);

    for (let i = 0; i < 100; i++) await suite.writer.call('SET', `while:${i}`, `w${i}`);
    const second = cli(['tail', ...args]);
    running.push(second);
    await waitFor('the writes made while tail was stopped', () => lines(file).filter((l) => l.cmd).length === 270);
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);

    const all = lines(file);
    const owners = await slotOwners();
    const masters = new Set(owners.values());
    expect(masters.size).toBe(3);
    // One snapshot per shard, in the first run only; each names the slots its keys come from.
    const starts = all.filter((l) => l.event === 'full-sync-start');
    expect(new Set(starts.map((l) => l.shard))).toEqual(masters);
    expect(starts).toHaveLength(3);
    for (const start of starts) {
      for (const [a, b] of start.slots!) for (let s = a; s <= b; s++) expect(owners.get(s)).toBe(start.shard);
    }
    expect(second.err()).not.toMatch(/full sync/);
    expect(second.err().match(/resumed /g)).toHaveLength(3);
    expect(all.filter((l) => l.event === 'resumed')).toHaveLength(3);

    // Every key's line has the slot the cluster gives its key, and the shard serving that slot.
    const node = await anyNode();
    const keyed = all.filter((l) => l.key !== undefined || l.cmd);
    for (const l of keyed) {
      const key = l.key ?? l.cmd![1]!;
      expect(l.slot).toBe(Number(await node.call('CLUSTER', 'KEYSLOT', key)));
      expect(l.shard).toBe(owners.get(l.slot!));
    }
    // Each write once, in its shard's order.
    const writes = all.filter((l) => l.cmd).map((l) => `${l.cmd!.join(' ')}`);
    expect(new Set(writes).size).toBe(writes.length);
    for (const shard of masters) {
      const offsets = all.filter((l) => l.cmd && l.shard === shard).map((l) => l.offset!);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }

    // The lines alone rebuild the cluster's keyspace: the snapshot keys, then the writes.
    const rebuilt = new Map<string, string>();
    for (const l of all) {
      if (l.key !== undefined) rebuilt.set(l.key, l.value!);
      else if (l.cmd?.[0] === 'SET') rebuilt.set(l.cmd[1]!, l.cmd[2]!);
      else if (l.cmd?.[0] === 'DEL') for (const k of l.cmd.slice(1)) rebuilt.delete(k);
    }
    const masterPorts = await suite.cluster.masters();
    const expected = masterPorts.flatMap((port) => canonicalDump(port)).map((line) => JSON.parse(line) as Line);
    expect(new Map([...rebuilt].sort())).toEqual(new Map(expected.map((l) => [l.key!, l.value!] as [string, string]).sort()));
  }, 120_000);

  it('--read-from replica reads each shard from its replica (the masters serve no other replica), every write once', async () => {
    const file = join(dir, 'replicas.jsonl');
    const run = cli(['tail', `redis://127.0.0.1:${suite.cluster.nodes[0]!.port}`, '-o', file, '--checkpoint', join(dir, 'replicas.pos'), '--no-rdb', '--read-from', 'replica']);
    running.push(run);
    await waitFor('three snapshots', () => (run.err().match(/full sync done/g) ?? []).length === 3);
    for (let i = 0; i < 90; i++) await suite.writer.call('SET', `replica:${i}`, `r${i}`);
    await waitFor('the writes in FILE', () => lines(file).filter((l) => l.cmd).length === 90);
    // Who serves a replication link now: each master its replica only, each replica tail.
    const links = new Map<string, number>();
    for (const node of suite.cluster.nodes) {
      const c = (await suite.writer.client(node.port))!;
      links.set(await c.info('replication', 'role'), (links.get(await c.info('replication', 'role')) ?? 0) + Number(await c.info('replication', 'connected_slaves')));
    }
    expect(Object.fromEntries(links)).toEqual({ master: 3, slave: 3 });
    expect(run.err().match(/connected to /g)).toHaveLength(3);
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
    const writes = lines(file).filter((l) => l.cmd).map((l) => l.cmd![1]);
    expect(writes.sort()).toEqual(Array.from({ length: 90 }, (_, i) => `replica:${i}`).sort());
  }, 60_000);

  it('continues each shard on its promoted replica after a CLUSTER FAILOVER and after its master is killed: no full sync, each write once', async () => {
    const file = join(dir, 'failover.jsonl');
    const checkpoint = join(dir, 'failover.pos');
    const masterPorts = await suite.cluster.masters();
    // The node given to tail is a master that will be killed: the source must find the others itself.
    const killed = suite.cluster.nodes.find((n) => masterPorts.includes(n.port))!;
    const run = cli(['tail', `redis://127.0.0.1:${killed.port}`, '-o', file, '--checkpoint', checkpoint, '--no-rdb']);
    running.push(run);
    await waitFor('three snapshots', () => (run.err().match(/full sync done/g) ?? []).length === 3);
    const writes = async (tag: string) => {
      for (let i = 0; i < 100; i++) await suite.writer.call('SET', `${tag}:${i}`, `${tag}${i}`);
    };
    await writes('a');

    // A graceful failover of another shard: its replica takes over, the old master becomes its replica.
    const nodes = await clusterNodes();
    const killedId = nodes.find((f) => f[1]!.startsWith(`127.0.0.1:${killed.port}@`))![0]!;
    const other = nodes.find((f) => f[2]!.includes('master') && f[0] !== killedId)!;
    const promoted = Number(/:(\d+)@/.exec(nodes.find((f) => f[3] === other[0])![1]!)![1]);
    await (await suite.writer.client(promoted))!.ok('CLUSTER', 'FAILOVER');
    await waitFor('the graceful failover', async () => (await (await suite.writer.client(promoted))!.info('replication', 'role')) === 'master');
    await writes('b');

    // The given node's master killed: the cluster promotes its replica (cluster-node-timeout 1 s).
    const killedReplica = Number(/:(\d+)@/.exec(nodes.find((f) => f[3] === killedId)![1]!)![1]);
    killed.process.kill('SIGKILL');
    await waitFor('the replica of the killed master promoted', async () =>
      (await (await suite.writer.client(killedReplica))!.info('replication', 'role')) === 'master', 60_000);
    await writes('c');

    await waitFor('every write in FILE', () => lines(file).filter((l) => l.cmd).length === 300, 60_000);
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);

    const all = lines(file);
    expect(all.filter((l) => l.event === 'full-sync-start')).toHaveLength(3);
    expect(run.err().match(/full sync from/g)).toHaveLength(3);
    // Both shards that changed master continued their stream under the promoted node's new ID.
    expect(new Set(all.filter((l) => l.event === 'replid-changed').map((l) => l.shard)).size).toBe(2);
    const sets = all.filter((l) => l.cmd).map((l) => l.cmd!.join(' '));
    expect(new Set(sets).size).toBe(300);
    const rebuilt = new Map(all.filter((l) => l.cmd?.[0] === 'SET').map((l) => [l.cmd![1]!, l.cmd![2]!]));
    const now = await suite.cluster.masters();
    const expected = now.flatMap((port) => canonicalDump(port)).map((line) => JSON.parse(line) as Line)
      .filter((l) => /^[abc]:/.test(l.key!));
    expect(new Map([...rebuilt].sort())).toEqual(new Map(expected.map((l) => [l.key!, l.value!] as [string, string]).sort()));
  }, 180_000);

  it('follows a shard added while it runs (a new master given an empty slot): its writes come, under its own shard; removed, it is no longer followed', async () => {
    const file = join(dir, 'added.jsonl');
    const live = suite.cluster.nodes.find((n) => n.process.exitCode === null && n.process.signalCode === null)!;
    const checkpoint = join(dir, 'added.pos');
    const run = cli(['tail', `redis://127.0.0.1:${live.port}`, '-o', file, '--checkpoint', checkpoint, '--no-rdb']);
    running.push(run);
    const masters = (await suite.cluster.masters()).length;
    await waitFor('a snapshot per shard', () => (run.err().match(/full sync done/g) ?? []).length === masters);
    // A slot that holds no key, found by asking the suite.cluster.
    const node = await anyNode();
    let tag = '';
    for (let i = 0; !tag; i++) {
      const slot = Number(await node.call('CLUSTER', 'KEYSLOT', `added${i}`));
      if (Number(await suite.writer.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))) === 0) tag = `added${i}`;
    }
    const slot = Number(await node.call('CLUSTER', 'KEYSLOT', tag));
    const added = await suite.cluster.addMaster([slot]);
    const addedId = String(await (await suite.writer.client(added.port))!.ok('CLUSTER', 'MYID'));
    await waitFor('the added shard followed', () => (run.err().match(/full sync done/g) ?? []).length === masters + 1, 60_000);
    for (let i = 0; i < 5; i++) await suite.writer.call('SET', `{${tag}}:${i}`, `${i}`);
    await waitFor('its writes in FILE', () => lines(file).filter((l) => l.cmd?.[1]?.startsWith(`{${tag}}`)).length === 5);
    const its = lines(file).filter((l) => l.cmd?.[1]?.startsWith(`{${tag}}`));
    expect(its.map((l) => [l.shard, l.slot])).toEqual(Array.from({ length: 5 }, () => [addedId, slot]));
    expect(lines(file).filter((l) => l.event === 'full-sync-start' && l.shard === addedId)).toHaveLength(1);

    // Its slot moved back and the node removed (redis-cli --cluster del-node): tail stops following that
    // shard, says so, and goes on with the others (it would otherwise retry the gone node until
    // --max-retry-time and end); the checkpoint then holds the others only.
    const other = String((await clusterNodes()).find((f) => f[2]!.includes('master') && !f[2]!.includes('fail') && f[0] !== addedId)![0]);
    const redisCli = (args: string[]) => {
      const r = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    };
    redisCli(['--cluster', 'reshard', `127.0.0.1:${added.port}`, '--cluster-from', addedId, '--cluster-to', other, '--cluster-slots', '1', '--cluster-yes']);
    redisCli(['--cluster', 'del-node', `127.0.0.1:${live.port}`, addedId]);
    await waitFor('the removed shard no longer followed', () => run.err().includes('is no longer in the cluster'), 60_000);
    for (let i = 0; i < 5; i++) await suite.writer.call('SET', `after-removal:${i}`, `${i}`);
    await waitFor('writes after the removal in FILE', () => lines(file).filter((l) => l.cmd?.[1]?.startsWith('after-removal:')).length === 5);
    await waitFor('the checkpoint without the removed shard', () => {
      const saved = JSON.parse(readFileSync(checkpoint, 'utf8')) as { shards: unknown[] };
      return saved.shards.length === masters;
    });
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
  }, 180_000);
});
