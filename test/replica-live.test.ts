// The Replica against real redis-server masters started on loopback: the full sync equals the master's
// keyspace (read back by the shared canonical dumper), then the writes arrive as commands in order with
// MULTI/EXEC kept whole, the offset meets the master's, and resuming from a checkpoint (after a restart
// or a killed link) continues with PSYNC without losing or repeating a write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalLine } from '../src/rdb/canonical-json.js';
import { Replica } from '../src/replica/replica.js';
import type { ReplicaEvent, Checkpoint } from '../src/replica/events.js';
import { haveRedisServer, RedisClient, sharedTool, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const live = haveRedisServer();

/** Takes events from a replica until `until` says stop (or the time runs out). */
async function collect(it: AsyncIterator<ReplicaEvent>, until: (e: ReplicaEvent, all: ReplicaEvent[]) => boolean, ms = 20_000): Promise<ReplicaEvent[]> {
  const all: ReplicaEvent[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    const next = await Promise.race([it.next(), new Promise<null>((r) => setTimeout(() => r(null), Math.max(left, 0)))]);
    if (!next) throw new Error(`timed out; last events: ${JSON.stringify(all.slice(-5).map((e) => e.type))}`);
    if (next.done) return all;
    all.push(next.value);
    if (until(next.value, all)) return all;
  }
}

const commandArgs = (e: ReplicaEvent) => (e.type === 'command' ? e.command.args.map((a) => Buffer.from(a).toString()) : null);

async function masterOffset(client: RedisClient): Promise<number> {
  const info = String(await client.ok('INFO', 'replication'));
  return Number(/master_repl_offset:(\d+)/.exec(info)![1]);
}

describe.skipIf(!live).each(['yes', 'no'])('a replica of redis-server with repl-diskless-sync %s', (diskless) => {
  let server: RedisServer;
  let client: RedisClient;
  let expected: string[];

  beforeAll(async () => {
    server = await startRedisServer(['--repl-diskless-sync', diskless, '--repl-diskless-sync-delay', '0']);
    sharedTool('rdb-fixture-populate', ['--port', String(server.port), '--profile', 'full']);
    client = await RedisClient.connect(server.port);
    expected = sharedTool('redis-canonical-dump', ['--port', String(server.port)]).split('\n').filter(Boolean).sort();
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it('delivers the keyspace, then every write in order, and ends at the master offset', async () => {
    const replica = new Replica({ url: `redis://127.0.0.1:${server.port}` });
    const it = replica[Symbol.asyncIterator]();
    try {
      const sync = await collect(it, (e) => e.type === 'full-sync-end');
      expect(sync[0]!.type).toBe('link-up');
      expect(sync.find((e) => e.type === 'full-sync-start')).toMatchObject({ reason: 'no-checkpoint' });
      const lines = sync.flatMap((e) => (e.type === 'entry' ? [canonicalLine(e.entry)] : [])).filter((l) => l !== null).sort();
      expect(lines).toEqual(expected);

      // Writes of every type, in db 0 and db 3, one transaction among them.
      const writes: string[][] = [
        ['SET', 's', 'v1'], ['RPUSH', 'l', 'a', 'b'], ['SADD', 'set', 'x'], ['ZADD', 'z', '1.5', 'm'],
        ['HSET', 'h', 'f', 'v'], ['XADD', 'x', '1-1', 'k', 'v'], ['DEL', 's'],
      ];
      for (const w of writes) await client.ok(...w);
      await client.ok('SELECT', '3');
      await client.ok('MULTI');
      await client.call('SET', 'in-tx', '1');
      await client.call('INCR', 'counter');
      await client.ok('EXEC');
      await client.ok('SET', 'after', Buffer.from([0, 13, 10, 255]));
      await client.ok('SELECT', '0');
      const events = await collect(it, (e) => e.type === 'command' && e.command.argText(1) === 'after');
      const commands = events.filter((e) => e.type === 'command');
      expect(commands.slice(0, writes.length).map(commandArgs)).toEqual(writes);
      expect(commands.slice(0, writes.length).every((e) => e.type === 'command' && e.command.db === 0)).toBe(true);
      const tx = events.find((e) => e.type === 'transaction');
      expect(tx?.type === 'transaction' && tx.commands.map((c) => [c.db, ...c.args.map((a) => Buffer.from(a).toString())]))
        .toEqual([[3, 'SET', 'in-tx', '1'], [3, 'INCR', 'counter']]);
      const after = commands[commands.length - 1]!;
      expect(after.type === 'command' && [after.command.db, [...after.command.arg(2)]]).toEqual([3, [0, 13, 10, 255]]);

      // Offsets are consecutive: each command starts right after the previous one ended.
      const spans = events.flatMap((e) => (e.type === 'command' ? [[e.command.firstOffset, e.command.offset]] : e.type === 'transaction' ? [[e.firstOffset, e.offset]] : []));
      for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThan(spans[i - 1]![1]!);

      // Once writes stop, the replica's position is the master's (it may send a PING meanwhile).
      const deadline = Date.now() + 5000;
      let master = await masterOffset(client);
      while (Date.now() < deadline) {
        const race = await Promise.race([it.next(), new Promise<null>((r) => setTimeout(() => r(null), 200))]);
        master = await masterOffset(client);
        if (!race && replica.checkpoint?.offset === master) break;
      }
      expect(replica.checkpoint?.offset).toBe(master);
    } finally {
      replica.stop();
    }
  }, 60_000);
});

describe.skipIf(!live)('resuming a replica', () => {
  let server: RedisServer;
  let client: RedisClient;

  beforeAll(async () => {
    server = await startRedisServer(['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']);
    client = await RedisClient.connect(server.port);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  /** The values of `RPUSH seq <i>` commands among the events, in order. */
  const pushed = (events: ReplicaEvent[]) => events.flatMap((e) => (e.type === 'command' && e.command.name === 'rpush' ? [Number(e.command.argText(2))] : []));

  it('continues from a checkpoint after a restart, and after killed links, without losing or repeating a write', async () => {
    const url = `redis://127.0.0.1:${server.port}`;
    const first = new Replica({ url });
    const it1 = first[Symbol.asyncIterator]();
    await collect(it1, (e) => e.type === 'full-sync-end');
    for (let i = 0; i < 50; i++) await client.ok('RPUSH', 'seq', String(i));
    const got1 = await collect(it1, (_e, all) => pushed(all).length === 50);
    first.stop();
    expect(await it1.next()).toEqual({ done: true, value: undefined }); // the consumer is done with the last event
    const checkpoint: Checkpoint = first.checkpoint!;
    expect(pushed(got1)).toEqual([...Array(50).keys()]);

    // Writes while no replica is connected; then a new replica resumes from the checkpoint.
    for (let i = 50; i < 100; i++) await client.ok('RPUSH', 'seq', String(i));
    const second = new Replica({ url, checkpoint, reconnect: { initialDelayMs: 20 } });
    const it2 = second[Symbol.asyncIterator]();
    const events: ReplicaEvent[] = [];
    events.push(...await collect(it2, (e) => e.type === 'resumed'));
    expect(events.some((e) => e.type === 'full-sync-start')).toBe(false);

    // Kill the link several times under write load: each time the replica resumes with PSYNC.
    let n = 100;
    for (let round = 0; round < 4; round++) {
      for (let k = 0; k < 25; k++) await client.ok('RPUSH', 'seq', String(n++));
      expect(await client.ok('CLIENT', 'KILL', 'TYPE', 'replica')).toBe(1);
      for (let k = 0; k < 25; k++) await client.ok('RPUSH', 'seq', String(n++));
      events.push(...await collect(it2, (e) => e.type === 'resumed'));
    }
    events.push(...await collect(it2, (_e, all) => pushed([...events, ...all]).length >= n - 50));
    second.stop();
    expect(pushed(events)).toEqual(Array.from({ length: n - 50 }, (_, i) => i + 50));
    expect(events.filter((e) => e.type === 'resumed').length).toBe(5);
    expect(events.filter((e) => e.type === 'link-down').length).toBe(4);
    expect(events.some((e) => e.type === 'full-sync-start')).toBe(false);
  }, 60_000);
});
