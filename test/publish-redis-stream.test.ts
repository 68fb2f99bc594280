// `publish` into a Redis stream, against real servers started here: a source, the stream's server, and a
// third server that a consumer (helpers/event-consumer.ts) rebuilds from the stream's events alone. A
// case that publishes a workload ends, once the writes have stopped and a marker written last is in the
// stream, with the rebuilt keyspace equal to the source's (the shared canonical dumper's lines), and
// every event id in the stream exactly once.
import { spawnSync } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { publish, type PublishEvent, type Publisher } from '../src/pipeline/publisher.js';
import { redisStreamSink } from '../src/pipeline/sinks/redis-stream-sink.js';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { readEventStream, rebuild, type ChangeEventJson } from './helpers/event-consumer.js';
import { canonicalDump, unexpired } from './helpers/keyspace.js';
import { haveRedisServer, sharedTool, type RedisClient } from './helpers/redis-server.js';
import { client, later, server, stopAll, url, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { writeRound } from './helpers/sync-workload.js';

const live = haveRedisServer();

afterEach(stopAll);

/** Writes of keys and values that are not UTF-8 (db 2: the events' db must be honoured too), binary-safe throughout. */
async function binaryRound(c: RedisClient, r: number): Promise<void> {
  const bin = (...bytes: number[]) => Buffer.from(bytes);
  const key = (tag: number) => Buffer.concat([Buffer.from('b:'), bin(0xff, 0x00, 0x80 + tag, r % 5)]);
  await Promise.all([
    c.ok('SET', key(1), Buffer.concat([bin(0xc3, 0x28, 0x00, 0x0a), Buffer.from(`-${r}`)])),
    c.ok('APPEND', key(2), bin(0xfe, r & 0xff)),
    c.ok('HSET', key(3), bin(0xe2, 0x82, r & 0x7f), bin(0xff, 0xff, 0x00)),
    c.ok('RPUSH', key(4), bin(0x80, r & 0xff), 'plain'),
    c.ok('SADD', key(5), bin(0xed, 0xa0, 0x80, r % 7)),
    c.ok('ZADD', key(6), r % 3 === 0 ? '-inf' : r / 7, bin(0xc0, 0xaf, r % 4)),
    c.ok('XADD', key(7), '*', bin(0xff, 0xfe), bin(0x00, r & 0xff)),
    ...(r < 5 ? [c.ok('XGROUP', 'CREATE', key(7), 'bg', '$')] : []),
    c.ok('SET', `b:text:${r % 3}`, `ünïcødé ${r} \u{1F600}`),
  ]);
}

/** Writes rounds (both kinds) until `stop` says so; resolves with the rounds written. */
async function db2Client(port: number): Promise<RedisClient> {
  const c = await client({ port });
  await c.ok('SELECT', 2);
  return c;
}

/** Entries of the stream, read as they come: the events after the last ones read. */
class StreamReader {
  private last = '-';
  readonly events: ChangeEventJson[] = [];
  constructor(private readonly c: RedisClient, private readonly stream: string) {}

  async poll(): Promise<void> {
    for (;;) {
      const page = await this.c.call('XRANGE', this.stream, this.last, '+', 'COUNT', 2000);
      if (!Array.isArray(page)) return; // the stream's server is down (a fault test): try again later
      for (const [id, fields] of page as Array<[Buffer, Buffer[]]>) {
        this.last = `(${id.toString()}`;
        this.events.push(JSON.parse(fields[3]!.toString('utf8')) as ChangeEventJson);
      }
      if (page.length < 2000) return;
    }
  }
}

const keyText = (k: unknown) => (typeof k === 'string' ? k : JSON.stringify(k));

/** Writes a marker last and waits until its event is in the stream (so is everything before it). */
async function markerInStream(source: RedisClient, sinkPort: () => number, stream: string, timeoutMs = 30_000): Promise<ChangeEventJson> {
  const token = `marker-${Date.now()}-${Math.random()}`;
  await source.ok('SET', 'w:marker', token);
  let found: ChangeEventJson | undefined;
  let reader: StreamReader | null = null;
  let readerPort = -1;
  await waitFor('the marker in the stream', async () => {
    if (reader === null || readerPort !== sinkPort()) {
      readerPort = sinkPort();
      const c = await client({ port: readerPort }).catch(() => null);
      if (!c) return false;
      reader = new StreamReader(c, stream);
    }
    await reader.poll();
    found = reader.events.find((e) => e.event === 'write' && e.command === 'set' && Array.isArray(e.args) && e.args[1] === token);
    return found !== undefined;
  }, timeoutMs);
  await new Promise((r) => setTimeout(r, 300)); // the workload's short TTLs (≤ 150 ms) have run out
  return found!;
}

/** The canonical dump made comparable: keys whose TTL passed left out, entries_read only as present, `without` keys left out. */
function keyspace(port: number, without: (key: string) => boolean = () => false): string[] {
  return withoutEntriesRead(unexpired(canonicalDump(port))).filter((line) => !without(keyText((JSON.parse(line) as { key: unknown }).key)));
}

/** Rebuilds the stream's events into a fresh server and compares it with the source; checks every id is there once. */
async function rebuildAndCompare(sourcePort: number, sinkClient: RedisClient, stream: string, without?: (key: string) => boolean): Promise<ChangeEventJson[]> {
  const { events, ids } = await readEventStream(sinkClient, stream);
  const seen = new Set<string>();
  const duplicates = ids.filter((id) => seen.has(id) || !seen.add(id));
  expect(duplicates).toEqual([]);
  expect(ids.length).toBeGreaterThan(0);
  const rebuilt = await server();
  const stats = await rebuild(await client(rebuilt), events);
  expect(stats.repeats).toBe(0);
  expect(stats.stale).toBe(0);
  const expected = keyspace(sourcePort, without);
  expect(expected.length).toBeGreaterThan(20);
  expect(keyspace(rebuilt.port, without)).toEqual(expected);
  return events;
}

describe.skipIf(!live)('publish into a Redis stream: the stream rebuilds the source', () => {
  it('(a) a snapshot with values and writes before, during and after it: the rebuilt keyspace is the source\'s, each event once', async () => {
    const [src, sinkServer] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server()]);
    const source = await client(src);
    const db2 = await db2Client(src.port);
    const sink = await client(sinkServer);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    for (let r = 0; r < 30; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    const events: PublishEvent[] = [];
    const p = publish({ source: url(src), sink: redisStreamSink(`${url(sinkServer)}?stream=events`), snapshot: 'values', onEvent: (e) => { if (e.type !== 'status') events.push(e); } });
    later({ stop: async () => { p.stop(); await p.done.catch(() => undefined); } });
    // Rounds while the snapshot is made and published, then more once writes stream.
    let round = 30;
    while (p.status.phase !== 'streaming') {
      if (p.status.phase === 'failed') await p.done;
      await Promise.all([writeRound(source, round), binaryRound(db2, round)]);
      round++;
    }
    for (const end = round + 150; round < end; round++) await Promise.all([writeRound(source, round), binaryRound(db2, round)]);
    const marker = await markerInStream(source, () => sinkServer.port, 'events');
    // The confirmed position reaches the marker's offset (the batch that holds it was confirmed).
    await waitFor('the position past the marker', () => p.status.confirmed.offset >= marker.offset);
    const published = await rebuildAndCompare(src.port, sink, 'events');
    const kinds = new Set(published.map((e) => e.event));
    expect([...kinds].sort()).toEqual(['full-sync-end', 'full-sync-start', 'snapshot', 'write']);
    // Writes of every class, in MULTI/EXEC blocks (the workload's and its scripts'), and binary keys.
    expect(new Set(published.filter((e) => e.event === 'write').map((e) => e.class))).toEqual(new Set(['string', 'list', 'set', 'zset', 'hash', 'stream', 'generic']));
    expect(published.some((e) => e.tx && e.tx.count === 2 && e.command === 'incrby')).toBe(true);
    expect(published.some((e) => e.event === 'write' && e.db === 2 && typeof (e.keys as unknown[])[0] === 'object')).toBe(true);
    expect(published.some((e) => e.event === 'snapshot' && e.db === 2 && typeof e.key === 'object')).toBe(true);
    p.stop();
    expect((await p.done).phase).toBe('stopped');
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  }, 90_000);
});

// ------------------------------------------------------------------ through the CLI

/** The built CLI publishing into the stream, its process stopped after the test. */
function cliPublish(source: number, sinkPort: number, stream: string, extra: string[] = []): CliProcess {
  const p = cli(['publish', `redis://127.0.0.1:${source}`, `redis://127.0.0.1:${sinkPort}?stream=${stream}`, '--snapshot', 'values', '--json', ...extra]);
  later({ stop: async () => { if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exit; } } });
  return p;
}

async function xlen(port: number, stream: string): Promise<number> {
  const c = await client({ port });
  try {
    return Number(await c.ok('XLEN', stream));
  } finally {
    c.close();
  }
}

describe.skipIf(!live)('publish into a Redis stream: one publish per stream', () => {
  beforeAll(() => {
    // The CLI runs from dist/ (tsc still writes it when a file being written elsewhere has type errors).
    const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8' });
    if (r.status !== 0 && !/error TS/.test(r.stdout)) throw new Error(`tsc failed: ${r.stdout}${r.stderr}`);
  }, 120_000);

  it('(b) a second publish to a stream in use refuses to start, naming the first (exit code 2)', async () => {
    const [src, sinkServer] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server()]);
    const source = await client(src);
    await source.ok('SET', 'k', 'v');
    const first = cliPublish(src.port, sinkServer.port, 'cdc');
    await waitFor('streaming', () => first.lines.some((l) => l.includes('"phase":"streaming"')));
    const second = cliPublish(src.port, sinkServer.port, 'cdc');
    expect(await second.exit).toBe(2);
    expect(second.err()).toMatch(new RegExp(`another publish holds this target \\(pid ${first.child.pid} on `));
    // The first goes on.
    await source.ok('SET', 'k2', 'v2');
    await waitFor('the write', async () => (await xlen(sinkServer.port, 'cdc')) >= 4);
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);
  }, 60_000);
});

// ------------------------------------------------------------------ the stream on the source itself

describe.skipIf(!live)('publish into a stream on the source\'s own server', () => {
  it('(c) publishes the workload and not its own writes, and stops cleanly', async () => {
    const src = await server(['--repl-diskless-sync-delay', '0']);
    const source = await client(src);
    const db2 = await db2Client(src.port);
    for (let r = 0; r < 20; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    const events: PublishEvent[] = [];
    const p: Publisher = publish({ source: url(src), sink: redisStreamSink(`${url(src)}?stream=cdc`), snapshot: 'values', onEvent: (e) => { if (e.type !== 'status') events.push(e); } });
    later({ stop: async () => { p.stop(); await p.done.catch(() => undefined); } });
    await waitFor('streaming', () => p.status.phase === 'streaming' || p.status.phase === 'failed');
    for (let r = 20; r < 120; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    await markerInStream(source, () => src.port, 'cdc');
    const own = (key: string) => key === 'cdc' || key.startsWith('redistap:');
    const published = await rebuildAndCompare(src.port, source, 'cdc', own);
    const keysOf = (e: ChangeEventJson) => (e.event === 'snapshot' ? [e.key] : Array.isArray(e.keys) ? e.keys : []).map(keyText);
    expect(published.filter((e) => keysOf(e).some(own))).toEqual([]);
    // The stream went on past many batches, each of which was itself a write to the source.
    expect(published.filter((e) => e.event === 'write').length).toBeGreaterThan(1000);
    p.stop();
    expect((await p.done).phase).toBe('stopped');
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  }, 90_000);
});
