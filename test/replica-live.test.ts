// The Replica against real redis-server masters started on loopback: the full sync equals the master's
// keyspace (read back by the shared canonical dumper), then the writes arrive as commands in order with
// MULTI/EXEC kept whole, the offset meets the master's, and resuming from a checkpoint (after a restart
// or a killed link) continues with PSYNC without losing or repeating a write.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Replica } from '../src/replica/replica.js';
import type { Checkpoint, ReplicaCommand, ReplicaEvent } from '../src/replica/events.js';
import { haveRedisServer, RedisClient, sharedTool, startRedisServer, type RedisServer, type Reply } from './helpers/redis-server.js';
import { catchUp, collect, entryLines, keyspace } from './helpers/replica-events.js';

const live = haveRedisServer();

const commandArgs = (e: ReplicaEvent) => (e.type === 'command' ? e.command.args.map((a) => Buffer.from(a).toString()) : null);

describe.skipIf(!live).each(['yes', 'no'])('a replica of redis-server with repl-diskless-sync %s', (diskless) => {
  let server: RedisServer;
  let client: RedisClient;
  let expected: string[];

  beforeAll(async () => {
    server = await startRedisServer(['--repl-diskless-sync', diskless, '--repl-diskless-sync-delay', '0']);
    sharedTool('rdb-fixture-populate', ['--port', String(server.port), '--profile', 'full']);
    client = await RedisClient.connect(server.port);
    expected = keyspace(server.port);
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
      expect(entryLines(sync)).toEqual(expected);

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
      const events = await collect(it, (e) => e.type === 'command' && e.command.argCount > 1 && e.command.argText(1) === 'after');
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

      // Once writes stop, the replica's position is the master's.
      const position = await catchUp(it, replica, client);
      expect(position.replica).toBe(position.master);
    } finally {
      replica.stop();
    }
  }, 60_000);
  it('rdbBytes: the snapshot as the master sent it, unparsed: a file another redis-server loads into the same keyspace', async () => {
    const current = keyspace(server.port); // with the earlier tests' writes
    const replica = new Replica({ url: `redis://127.0.0.1:${server.port}`, rdbBytes: true });
    const it = replica[Symbol.asyncIterator]();
    let events: ReplicaEvent[];
    try {
      events = await collect(it, (e) => e.type === 'full-sync-end');
    } finally {
      replica.stop();
    }
    expect(events.some((e) => e.type === 'entry')).toBe(false);
    const chunks = events.flatMap((e) => (e.type === 'rdb-bytes' ? [e.bytes] : []));
    const end = events.find((e) => e.type === 'full-sync-end');
    expect(chunks.reduce((n, c) => n + c.length, 0)).toBe(end?.type === 'full-sync-end' && end.bytes);
    const dir = mkdtempSync(join(tmpdir(), 'redistap-rdb-bytes-'));
    writeFileSync(join(dir, 'dump.rdb'), Buffer.concat(chunks));
    const loader = await startRedisServer(['--dbfilename', 'dump.rdb'], { dir });
    try {
      expect(keyspace(loader.port)).toEqual(current);
    } finally {
      await loader.stop();
    }
  }, 60_000);

  it('streams writes to every type (populate tool, Lua, MULTI, expiring keys) that rebuild the keyspace in another server', async () => {
    const target = await startRedisServer();
    const replica = new Replica({ url: `redis://127.0.0.1:${server.port}`, skipRdb: true });
    const it = replica[Symbol.asyncIterator]();
    try {
      await collect(it, (e) => e.type === 'full-sync-end');
      // FLUSHALL first, then every type and encoding, streams with groups, functions, TTLs, dbs 0, 1 and 15.
      sharedTool('rdb-fixture-populate', ['--port', String(server.port), '--profile', 'full', '--seed', '7']);
      await client.ok('EVAL', "redis.call('SET', KEYS[1], ARGV[1]); redis.call('INCRBY', KEYS[2], 5); return redis.call('SPOP', KEYS[3])",
        '3', 'lua:s', 'lua:n', 'lua:set', 'v');
      await client.ok('SADD', 'spop:src', 'a', 'b', 'c', 'd');
      await client.ok('SPOP', 'spop:src', '2'); // random: replicated as the members it removed
      await client.ok('SET', 'ttl:rel', 'v', 'EX', '1000');
      await client.ok('SET', 'ttl:short', 'v', 'PX', '30');
      await client.ok('EXPIRE', 'lua:s', '5000');
      await client.ok('MULTI');
      await client.call('LPUSH', 'tx:list', 'a', 'b');
      await client.call('XADD', 'tx:stream', '*', 'f', 'v');
      await client.ok('EXEC');
      await new Promise((r) => setTimeout(r, 200)); // ttl:short expires: the master propagates its deletion
      await client.ok('GET', 'ttl:short');
      await client.ok('SET', 'sentinel', 'end');
      const events = await collect(it, (e) => e.type === 'command' && e.command.argCount > 1 && e.command.argText(1) === 'sentinel');
      const position = await catchUp(it, replica, client);
      expect(position.replica).toBe(position.master);

      // The populate tool's FLUSHALL is announced, then everything after it is replayed into the target.
      const flushAt = events.findIndex((e) => e.type === 'flush' && e.cause === 'command' && e.db === null);
      expect(flushAt).toBeGreaterThanOrEqual(0);
      expect(events.filter((e) => e.type === 'transaction').length).toBeGreaterThanOrEqual(2); // Lua and MULTI
      await replay(events.slice(flushAt + 1), target.port);
      const source = keyspace(server.port);
      expect(source.some((l) => l.includes('"type":"stream"') && l.includes('"groups":[{'))).toBe(true);
      expect(source.some((l) => l.includes('"key":"ttl:rel"') && !l.includes('"expire_ms":null'))).toBe(true);
      expect(keyspace(target.port)).toEqual(source);
    } finally {
      replica.stop();
      await target.stop();
    }
  }, 120_000);
});

/** Applies command and transaction events to a server, in order, selecting each command's db; any error fails. */
async function replay(events: ReplicaEvent[], port: number): Promise<void> {
  const target = await RedisClient.connect(port);
  let db = -1;
  const send = async (c: ReplicaCommand) => {
    if (c.db !== db) await target.ok('SELECT', String(db = c.db));
    return target.ok(...c.args.map((a) => Buffer.from(a)));
  };
  try {
    for (const e of events) {
      if (e.type === 'command') await send(e.command);
      if (e.type !== 'transaction') continue;
      if (e.commands[0]!.db !== db) await target.ok('SELECT', String(db = e.commands[0]!.db));
      await target.ok('MULTI');
      for (const c of e.commands) await send(c);
      const results = await target.ok('EXEC');
      const failed = (results as Reply[]).find((r) => r !== null && typeof r === 'object' && 'error' in r);
      if (failed) throw new Error(`replayed transaction failed: ${JSON.stringify(failed)}`);
    }
  } finally {
    target.close();
  }
}

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
  const pushed = (events: ReplicaEvent[]) => events.flatMap((e) => {
    const commands = e.type === 'command' ? [e.command] : e.type === 'transaction' ? e.commands : [];
    return commands.flatMap((c) => (c.name === 'rpush' ? [Number(c.argText(2))] : []));
  });

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

    // Kill the link several times while another client writes without pause (every tenth write a MULTI of
    // two): each time the replica resumes with PSYNC, and no transaction arrives split.
    let n = 100;
    let writing = true;
    const writer = (async () => {
      const w = await RedisClient.connect(server.port);
      while (writing) {
        if (n % 10 === 0) {
          await w.ok('MULTI');
          await w.call('RPUSH', 'seq', String(n++));
          await w.call('RPUSH', 'seq', String(n++));
          await w.ok('EXEC');
        } else {
          await w.ok('RPUSH', 'seq', String(n++));
        }
      }
      w.close();
    })();
    for (let round = 0; round < 4; round++) {
      await new Promise((r) => setTimeout(r, 150));
      expect(await client.ok('CLIENT', 'KILL', 'TYPE', 'replica')).toBe(1);
      events.push(...await collect(it2, (e) => e.type === 'resumed'));
    }
    writing = false;
    await writer;
    events.push(...await collect(it2, (_e, all) => pushed([...events, ...all]).length >= n - 50));
    second.stop();
    expect(pushed(events)).toEqual(Array.from({ length: n - 50 }, (_, i) => i + 50));
    expect(events.filter((e) => e.type === 'resumed').length).toBe(5);
    expect(events.filter((e) => e.type === 'link-down').length).toBe(4);
    expect(events.some((e) => e.type === 'full-sync-start')).toBe(false);
    const transactions = events.flatMap((e) => (e.type === 'transaction' ? [pushed([e])] : []));
    expect(transactions.length).toBeGreaterThan(10);
    for (const t of transactions) expect(t).toEqual([t[0], t[0]! + 1]);
  }, 60_000);

  it('run() hands over every event in order, waits for the promises its handler returns, and ends when stopped', async () => {
    const stop = new AbortController();
    const replica = new Replica({ url: `redis://127.0.0.1:${server.port}`, skipRdb: true, signal: stop.signal });
    let synced!: () => void;
    const ready = new Promise<void>((resolve) => { synced = resolve; });
    const values: number[] = [];
    let lastOffset = 0;
    let busy = false;
    let overlapped = false;
    const running = replica.run(async (e) => {
      overlapped ||= busy;
      if (e.type === 'full-sync-end') synced();
      if (e.type !== 'command' || !e.command.argText(1).startsWith('run:')) return;
      values.push(Number(e.command.argText(2)));
      lastOffset = e.command.offset;
      if (values.length % 10 === 0) {
        busy = true;
        await new Promise((r) => setTimeout(r, 1));
        busy = false;
      }
      if (values.length === 200) stop.abort();
    });
    await ready;
    for (let i = 0; i < 200; i++) void client.call('SET', `run:${i}`, String(i));
    await running;
    expect(values).toEqual([...Array(200).keys()]);
    expect(overlapped).toBe(false);
    expect(replica.checkpoint?.offset).toBe(lastOffset); // the handler finished the last event: consumed
  }, 30_000);

  it('next() called again before the previous call settled: both settle, in order', async () => {
    const replica = new Replica({ url: `redis://127.0.0.1:${server.port}`, skipRdb: true });
    const it = replica[Symbol.asyncIterator]();
    try {
      await collect(it, (e) => e.type === 'full-sync-end');
      const [first, second] = [it.next(), it.next()];
      await client.ok('SET', 'next:1', 'a');
      await client.ok('SET', 'next:2', 'b');
      const keys = (await Promise.all([first, second])).map((r) => (!r.done && r.value.type === 'command' ? r.value.command.argText(1) : r));
      expect(keys).toEqual(['next:1', 'next:2']);
    } finally {
      replica.stop();
    }
  }, 30_000);
});
