// publish's shaping options against real servers: --partitions (each event in its key's partition, keyless
// ones copied to all, MULTI/EXEC numbered per partition), json+resp, the transform hook, and a changed
// route refused (or --resync: a new snapshot). Expected partitions come from the hash slot, checked against
// CLUSTER KEYSLOT in hash-slot.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { hashSlot } from '../src/cluster/hash-slot.js';
import { publish, type PublishOptions, type Publisher } from '../src/pipeline/publisher.js';
import { redisStreamSink } from '../src/pipeline/sinks/redis-stream-sink.js';
import type { Sink } from '../src/pipeline/sink.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const live = haveRedisServer();
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (stops.length) await stops.pop()!();
});

async function server(): Promise<RedisServer> {
  const s = await startRedisServer(['--repl-diskless-sync-delay', '0']);
  stops.push(() => s.stop());
  return s;
}

type Event = Record<string, any>;

/** Publishes into stream `ev` of `target`, runs `writes` once streaming, stops once the source's offset is confirmed. */
async function published(source: RedisServer, target: RedisServer, options: Partial<PublishOptions>, writes: (c: RedisClient) => Promise<void>): Promise<Event[]> {
  const p = publish({ source: `redis://127.0.0.1:${source.port}`, sink: redisStreamSink(`redis://127.0.0.1:${target.port}?stream=ev`), ...options });
  stops.push(async () => { p.stop(); await p.done.catch(() => undefined); });
  await until(() => p.status.phase === 'streaming' || p.status.phase === 'failed');
  const c = await RedisClient.connect(source.port);
  await writes(c);
  const offset = Number(await c.info('replication', 'master_repl_offset'));
  c.close();
  await until(() => p.status.confirmed.offset >= offset || p.status.phase === 'failed');
  p.stop();
  await p.done;
  return readStream(target);
}

async function readStream(target: RedisServer): Promise<Event[]> {
  const t = await RedisClient.connect(target.port);
  const entries = await t.ok('XRANGE', 'ev', '-', '+') as Array<[Buffer, Buffer[]]>;
  t.close();
  return entries.map(([, fields]) => JSON.parse(fields[3]!.toString()));
}

async function until(done: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const partitionOf = (key: string, n: number) => hashSlot(Buffer.from(key)) % n;

describe.skipIf(!live)('publish options', () => {
  it('--partitions: keys to their slot\'s partition, keyless events to all (ids /p), blocks numbered per partition', async () => {
    const [source, target] = [await server(), await server()];
    const n = 3;
    // Keys in different partitions (found by their slots), and one sharing a's tag.
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'];
    const [a, b] = [keys.find((k) => partitionOf(k, n) === 0)!, keys.find((k) => partitionOf(k, n) === 1)!];
    const events = await published(source, target, { partitions: n }, async (c) => {
      await c.ok('SET', a, '1');
      await c.ok('MULTI');
      await c.ok('INCR', b);
      await c.ok('INCR', a);
      await c.ok('FLUSHDB');
      await c.ok('INCR', b);
      await c.ok('EXEC');
    });
    const lifecycle = events.filter((e) => e.event === 'full-sync-start');
    expect(lifecycle.map((e) => e.partition).sort()).toEqual([0, 1, 2]);
    expect(new Set(lifecycle.map((e) => e.id)).size).toBe(3);
    expect(lifecycle.every((e) => e.id.endsWith(`/${e.partition}`))).toBe(true);
    const writes = events.filter((e) => e.event === 'write').map((e) => [e.command, e.keys[0] ?? null, e.partition, e.tx && [e.tx.index, e.tx.count]]);
    // Partition of a: SET a; the block's INCR a (index 0 of 2: INCR a, FLUSHDB); FLUSHDB copy (1 of 2).
    // Partition of b: INCR b (0 of 3), FLUSHDB (1 of 3), INCR b (2 of 3). The third partition: FLUSHDB alone (0 of 1).
    const third = 3 - partitionOf(a, n) - partitionOf(b, n);
    expect(writes).toEqual([
      ['set', a, 0, null],
      ['incr', b, 1, [0, 3]],
      ['incr', a, 0, [0, 2]],
      ['flushdb', null, 0, [1, 2]], ['flushdb', null, 1, [1, 3]], ['flushdb', null, third, [0, 1]],
      ['incr', b, 1, [2, 3]],
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('--format json+resp: each write carries its command as RESP', async () => {
    const [source, target] = [await server(), await server()];
    const events = await published(source, target, { format: 'json+resp' }, async (c) => {
      await c.ok('SET', Buffer.from([0xff, 0x0d, 0x0a]), 'v');
    });
    const write = events.find((e) => e.event === 'write')!;
    expect(Buffer.from(write.resp, 'base64').toString('latin1')).toBe('*3\r\n$3\r\nSET\r\n$3\r\n\xff\r\n\r\n$1\r\nv\r\n');
    expect(events.find((e) => e.event === 'full-sync-start')!.resp).toBeUndefined();
  });

  it('the transform hook changes and drops events; its name is part of the position', async () => {
    const [source, target] = [await server(), await server()];
    const transform = (e: Record<string, any>) => {
      if (e.event === 'write' && e.keys[0] === 'secret') return null;
      return e.event === 'write' ? { ...e, id: 'ignored', tag: 'seen' } : e;
    };
    const events = await published(source, target, { transform, transformName: 'redact v1' }, async (c) => {
      await c.ok('SET', 'secret', '1');
      await c.ok('SET', 'open', '2');
    });
    const writes = events.filter((e) => e.event === 'write');
    expect(writes.map((e) => [e.keys[0], e.tag])).toEqual([['open', 'seen']]);
    expect(writes[0]!.id).toMatch(/^[0-9a-f]{40}-\d+-0$/);
    const other = publish({ source: `redis://127.0.0.1:${source.port}`, sink: redisStreamSink(`redis://127.0.0.1:${target.port}?stream=ev`),
      transform, transformName: 'redact v2' });
    await expect(other.done).rejects.toThrow(/the position \(.*\) was saved with other options: .*"transform":"redact v1".*now .*"transform":"redact v2".*--resync/);
  });

  it('what the hook drops is not counted: a block\'s kept writes are numbered among themselves, full-sync-end counts the kept keys', async () => {
    const [source, target] = [await server(), await server()];
    const c = await RedisClient.connect(source.port);
    await c.ok('SET', 'secret:0', 'x');
    await c.ok('SET', 'open:0', 'y');
    c.close();
    const transform = (e: Record<string, any>) => (String(e.key ?? e.keys?.[0] ?? '').startsWith('secret:') ? null : e);
    const events = await published(source, target, { snapshot: 'keys', transform, transformName: 'no secrets' }, async (w) => {
      await w.ok('MULTI');
      await w.ok('SET', 'secret:1', '1');
      await w.ok('SET', 'open:1', '2');
      await w.ok('EXEC');
    });
    const end = events.find((e) => e.event === 'full-sync-end')!;
    expect(events.filter((e) => e.event === 'snapshot').map((e) => e.key)).toEqual(['open:0']);
    expect(end.count).toBe(1);
    expect(end.seq).toBe(5); // after both keys' seqs (3, 4): an id of its own
    const writes = events.filter((e) => e.event === 'write');
    expect(writes.map((e) => [e.keys[0], e.tx.index, e.tx.count])).toEqual([['open:1', 0, 1]]);
  });

  it('never ends a batch inside a MULTI/EXEC block: the position after a block comes with all of its events', async () => {
    const [source, target] = [await server(), await server()];
    const sink = redisStreamSink(`redis://127.0.0.1:${target.port}?stream=ev`);
    const batches: Array<Array<Record<string, any>>> = [];
    const recording: Sink = {
      name: sink.name, storesPosition: sink.storesPosition,
      connect: (route) => sink.connect(route), readPosition: () => sink.readPosition!(), ownsKey: (db, key) => sink.ownsKey!(db, key),
      close: () => sink.close(),
      write: (batch) => {
        batches.push(batch.messages.map((m) => JSON.parse(Buffer.from(m.body).toString())));
        return sink.write(batch);
      },
    };
    const p = publish({ source: `redis://127.0.0.1:${source.port}`, sink: recording });
    stops.push(async () => { p.stop(); await p.done.catch(() => undefined); });
    await until(() => p.status.phase === 'streaming');
    const c = await RedisClient.connect(source.port);
    await c.ok('MULTI');
    for (let i = 0; i < 2500; i++) await c.ok('RPUSH', 'l', i); // more events than a batch holds (1000)
    await c.ok('EXEC');
    await c.ok('SET', 'after', '1');
    const offset = Number(await c.info('replication', 'master_repl_offset'));
    c.close();
    await until(() => p.status.confirmed.offset >= offset);
    p.stop();
    await p.done;
    const writes = batches.flat().filter((e) => e.event === 'write');
    expect(writes).toHaveLength(2501);
    for (const batch of batches) {
      const last = batch[batch.length - 1];
      if (last?.tx) expect([last.tx.index, last.tx.count]).toEqual([2499, 2500]);
    }
  });

  it('the same stream reached by another address continues (the route records the stream, not how it is reached)', async () => {
    const [source, target] = [await server(), await server()];
    await published(source, target, {}, async (c) => { await c.ok('SET', 'a', '1'); });
    const p = publish({ source: `redis://127.0.0.1:${source.port}`, sink: redisStreamSink(`redis://localhost:${target.port}?stream=ev`) });
    stops.push(async () => { p.stop(); await p.done.catch(() => undefined); });
    await until(() => p.status.phase === 'streaming' || p.status.phase === 'failed');
    expect(p.status.phase).toBe('streaming');
    expect(p.status.fullSyncs).toBe(0);
  });

  it('a changed filter refuses to continue; --resync publishes from a new snapshot', async () => {
    const [source, target] = [await server(), await server()];
    await published(source, target, { prefixes: ['a:'] }, async (c) => { await c.ok('SET', 'a:1', '1'); });
    const refused = publish({ source: `redis://127.0.0.1:${source.port}`, sink: redisStreamSink(`redis://127.0.0.1:${target.port}?stream=ev`) });
    await expect(refused.done).rejects.toThrow(/saved with other options: .*"prefixes":\["a:"\].*now .*"prefixes":null/);
    const events = await published(source, target, { resync: true }, async (c) => { await c.ok('SET', 'b:1', '1'); });
    const starts = events.filter((e) => e.event === 'full-sync-start');
    expect(starts).toHaveLength(2);
    // Each snapshot publication has a tag of its own in its ids, even at one (replid, offset).
    const tags = starts.map((e) => /^[0-9a-f]{40}-\d+-2~([0-9a-f]{8})$/.exec(e.id)?.[1]);
    expect(tags.every(Boolean) && tags[0] !== tags[1]).toBe(true);
    expect(events.filter((e) => e.event === 'write').map((e) => e.keys[0])).toEqual(['a:1', 'b:1']);
  });
});
