// `sync` against real servers: a source and a target redis-server started here. Each case ends, once
// writes have stopped and a marker written last has reached the target, with the target's keyspace
// (the shared canonical dumper's lines, the sync's state key aside) equal to the source's.
import { afterEach, describe, expect, it } from 'vitest';
import { sync, type Sync, type SyncEvent, type SyncOptions } from '../src/sync/sync.js';
import { populateMixed } from './helpers/mixed-data.js';
import { haveRedisServer, RedisClient, sharedTool, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { writeRound } from './helpers/sync-workload.js';

const live = haveRedisServer();

function canonicalDump(port: number): string[] {
  return sharedTool('redis-canonical-dump', ['--port', String(port)]).split('\n')
    .filter((l) => l !== '' && !l.includes('"key":"redistap:'));
}

const running: Array<{ stop(): Promise<void> | void }> = [];

async function server(extra: string[] = []): Promise<RedisServer> {
  const s = await startRedisServer(extra);
  running.push(s);
  return s;
}

async function client(s: RedisServer): Promise<RedisClient> {
  const c = await RedisClient.connect(s.port);
  running.push({ stop: () => c.close() });
  return c;
}

function start(source: RedisServer, target: RedisServer, extra: Partial<SyncOptions> = {}): { sync: Sync; events: SyncEvent[] } {
  const events: SyncEvent[] = [];
  const s = sync({ source: `redis://127.0.0.1:${source.port}`, target: `redis://127.0.0.1:${target.port}`,
    onEvent: (e) => { if (e.type !== 'status') events.push(e); }, ...extra });
  running.push({ stop: async () => { s.stop(); await s.done.catch(() => undefined); } });
  return { sync: s, events };
}

/** Writes a marker on the source and waits until every target has it (every earlier write is applied then). */
async function caughtUp(source: RedisClient, targets: RedisClient[], s: Sync, timeoutMs = 30_000): Promise<void> {
  const marker = `marker:${Date.now()}:${Math.random()}`;
  await source.ok('SET', 'w:marker', marker);
  const deadline = Date.now() + timeoutMs;
  for (const target of targets) {
    while (String(await target.call('GET', 'w:marker')) !== marker) {
      if (Date.now() > deadline) throw new Error(`a target did not catch up in ${timeoutMs} ms: ${JSON.stringify(s.status)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * Redis 7.0 replicates XREADGROUP without the group's entries_read: a replica keeps whatever its snapshot
 * said (unknown, or a number that then goes stale), so a real replica and the source disagree on it too.
 * That one member is compared only as present.
 */
function withoutEntriesRead(lines: string[]): string[] {
  return lines.map((l) => l.replace(/"entries_read":(\d+|null)/g, '"entries_read":"?"'));
}

/** A real replica of the source (redis-server --replicaof): the other oracle, fed by the same stream. */
async function realReplica(source: RedisServer): Promise<RedisServer> {
  const replica = await server(['--replicaof', '127.0.0.1', String(source.port)]);
  const c = await client(replica);
  await waitFor('the real replica\'s link', async () => (await c.info('replication', 'master_link_status')) === 'up');
  return replica;
}

async function waitFor(what: string, test: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
});

describe.skipIf(!live)('sync into a live target', () => {
  it('copies a snapshot with writes during and after the copy; the keyspaces end identical', async () => {
    const [src, dst] = await Promise.all([server(), server()]);
    const source = await client(src);
    const target = await client(dst);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    await source.ok('SELECT', 4);
    await populateMixed(source, 11, 3);
    await source.ok('SELECT', 0);
    const replica = await realReplica(src);
    const { sync: s, events } = start(src, dst);
    let round = 0;
    // Writes while the snapshot is made and copied ...
    const deadline = Date.now() + 60_000;
    while (s.status.phase !== 'streaming') {
      await writeRound(source, round++);
      if (Date.now() > deadline || s.status.phase === 'failed') throw new Error(`the copy did not finish: ${JSON.stringify(events)}`);
    }
    // ... and after.
    for (let end = round + 200; round < end; round++) await writeRound(source, round);
    await caughtUp(source, [target, await client(replica)], s);
    await new Promise((r) => setTimeout(r, 300)); // the w:short keys (TTL ≤ 150 ms) expire on both sides
    const copy = canonicalDump(dst.port);
    expect(copy.length).toBeGreaterThan(25_000);
    expect(withoutEntriesRead(copy)).toEqual(withoutEntriesRead(canonicalDump(replica.port)));
    expect(withoutEntriesRead(copy)).toEqual(withoutEntriesRead(canonicalDump(src.port)));
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
    expect(s.status.applied.commands).toBeGreaterThan(1000);
  }, 120_000);
});
