// `publish` into a Redis stream, against real servers started here: a source, the stream's server, and a
// third server that a consumer (helpers/event-consumer.ts) rebuilds from the stream's events alone. A
// case that publishes a workload ends, once the writes have stopped and a marker written last is in the
// stream, with the rebuilt keyspace equal to the source's (the shared canonical dumper's lines), and
// every event id in the stream exactly once. Filters are judged against a second, independent reader of the
// source's replication stream: Redis's own `redis-cli --replica`.
import { spawn, spawnSync } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { publish, type PublishEvent, type Publisher } from '../src/pipeline/publisher.js';
import type { Sink, SinkBatch } from '../src/pipeline/sink.js';
import { redisStreamSink } from '../src/pipeline/sinks/redis-stream-sink.js';
import { byteText } from '../src/rdb/canonical-json.js';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { readEventStream, rebuild, type ChangeEventJson } from './helpers/event-consumer.js';
import { canonicalDump, unexpired } from './helpers/keyspace.js';
import { haveRedisServer, sharedTool, type RedisClient } from './helpers/redis-server.js';
import { client, later, server, stopAll, url, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { binaryRound, writeRound, writeUntil } from './helpers/sync-workload.js';

const live = haveRedisServer();

afterEach(stopAll);

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

// ------------------------------------------------------------------ faults, through the CLI

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

/** Waits until the stream has `more` entries beyond what it has now (publishing goes on). */
async function grows(port: number, stream: string, more: number, p?: CliProcess): Promise<void> {
  const start = await xlen(port, stream).catch(() => 0);
  await waitFor(`the stream to grow by ${more}`, async () => {
    if (p && p.child.exitCode !== null) throw new Error(`publish exited (${p.child.exitCode}): ${p.err()}`);
    return (await xlen(port, stream).catch(() => start)) >= start + more;
  });
}

describe.skipIf(!live)('publish into a Redis stream: faults', () => {
  beforeAll(() => {
    // The CLI runs from dist/ (tsc still writes it when a file being written elsewhere has type errors).
    const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8' });
    if (r.status !== 0 && !/error TS/.test(r.stdout)) throw new Error(`tsc failed: ${r.stdout}${r.stderr}`);
  }, 120_000);

  it('(b) publish SIGKILLed and restarted, the replica link killed, the stream\'s server restarted, a second publish refused: the stream still rebuilds the source, each event once', async () => {
    const [src, sinkServer] = await Promise.all([
      // A backlog that keeps what the replica link misses while it is down (PSYNC continues).
      server(['--repl-diskless-sync-delay', '0', '--repl-backlog-size', '64mb']),
      // Persistence: a restart keeps what the server confirmed.
      server(['--appendonly', 'yes', '--appendfsync', 'always']),
    ]);
    let sinkPort = sinkServer.port;
    const source = await client(src);
    const db2 = await db2Client(src.port);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    for (let r = 0; r < 20; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    let stopWrites = false;
    const writer = writeUntil(source, db2, () => stopWrites, 20);
    try {
      // Killed three times: the first inside its snapshot, the others streaming. Inside by construction: the
      // snapshot's 20,000 extra keys do not fit the first run's window of unconfirmed events (50 KiB), so
      // the snapshot cannot end before thousands of its events are in the stream.
      await source.ok('EVAL', "for i = 1, 20000 do redis.call('SET', 'bulk:' .. i, string.rep('x', 64)) end", 0);
      let p = cliPublish(src.port, sinkPort, 'cdc', ['--max-in-flight', String(50 / 1024)]);
      for (const [i, more] of [50, 300, 300].entries()) {
        if (i > 0) await waitFor('streaming', () => p.lines.some((l) => l.includes('"phase":"streaming"')));
        await grows(sinkPort, 'cdc', more, p);
        if (i === 0) expect(p.lines.some((l) => l.includes('"phase":"streaming"'))).toBe(false);
        p.child.kill('SIGKILL');
        expect(await p.exit).toBeNull();
        p = cliPublish(src.port, sinkPort, 'cdc');
      }
      await waitFor('streaming', () => p.lines.some((l) => l.includes('"phase":"streaming"')));
      await grows(sinkPort, 'cdc', 200, p);

      // The source drops its replicas: publish reconnects and continues (PSYNC).
      const linesBefore = p.lines.length;
      await source.ok('CLIENT', 'KILL', 'TYPE', 'replica');
      await waitFor('publish to continue from where the link dropped', () => p.lines.slice(linesBefore).some((l) => l.includes('resumed from the source')));
      expect(p.lines.slice(linesBefore).filter((l) => l.includes('full sync'))).toEqual([]);
      await grows(sinkPort, 'cdc', 200, p);

      // The stream's server goes away for a while, then comes back (with what it had confirmed).
      process.kill(sinkServer.process.pid!, 'SIGTERM');
      await new Promise<void>((resolve) => sinkServer.process.once('exit', () => resolve()));
      await waitFor('publish to notice the stream\'s server is down', () => p.lines.some((l) => l.includes('"sink":"down"')), 20_000);
      await new Promise((r) => setTimeout(r, 2000));
      const restarted = await sinkServer.restart();
      sinkPort = restarted.port;
      await grows(sinkPort, 'cdc', 200, p);

      // A second publish to the same stream refuses to start, naming the first.
      const second = cliPublish(src.port, sinkPort, 'cdc');
      expect(await second.exit).toBe(2);
      expect(second.err()).toContain(`pid ${p.child.pid}`);

      stopWrites = true;
      expect(await writer).toBeGreaterThan(0);
      await markerInStream(source, () => sinkPort, 'cdc');
      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
    } finally {
      stopWrites = true;
      await writer.catch(() => undefined);
    }
    await rebuildAndCompare(src.port, await client({ port: sinkPort }), 'cdc');
  }, 180_000);

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

// ------------------------------------------------------------------ filters, against Redis's own replica reader

/** One replicated command as `redis-cli --replica` prints it: "SET","k","v" with sdsrepr escapes. */
function parseReplicaLine(line: string): Buffer[] {
  const args: Buffer[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] !== '"') throw new Error(`cannot read ${JSON.stringify(line)} at ${i}`);
    i++;
    const bytes: number[] = [];
    while (line[i] !== '"') {
      const c = line[i]!;
      if (c !== '\\') {
        bytes.push(c.charCodeAt(0));
        i++;
        continue;
      }
      const e = line[i + 1]!;
      if (e === 'x') {
        bytes.push(parseInt(line.slice(i + 2, i + 4), 16));
        i += 4;
        continue;
      }
      const simple: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8, '"': 34, '\\': 92 };
      if (simple[e] === undefined) throw new Error(`unknown escape \\${e} in ${line}`);
      bytes.push(simple[e]!);
      i += 2;
    }
    args.push(Buffer.from(bytes));
    i++;
    if (line[i] === ',') i++;
  }
  return args;
}

/**
 * Keyspace classes of the commands the workload's replication stream carries, from Redis's documentation
 * (each command's group: string, list, set, sorted set, hash, stream, generic), and the positions of their
 * keys. A command not listed fails the test: the table must cover what the stream carries.
 */
const CLASSES: Record<string, [string, (args: Buffer[]) => number[]]> = {
  set: ['string', () => [1]], append: ['string', () => [1]], incr: ['string', () => [1]], incrby: ['string', () => [1]],
  rpush: ['list', () => [1]], lpush: ['list', () => [1]], lpop: ['list', () => [1]],
  sadd: ['set', () => [1]], srem: ['set', () => [1]],
  zadd: ['zset', () => [1]], zincrby: ['zset', () => [1]],
  hset: ['hash', () => [1]], hincrby: ['hash', () => [1]],
  xadd: ['stream', () => [1]], xclaim: ['stream', () => [1]], xgroup: ['stream', () => [2]], xsetid: ['stream', () => [1]],
  del: ['generic', (a) => a.slice(1).map((_, i) => i + 1)], unlink: ['generic', (a) => a.slice(1).map((_, i) => i + 1)],
  rename: ['generic', () => [1, 2]], pexpireat: ['generic', () => [1]],
};
const NOT_WRITES = new Set(['select', 'multi', 'exec', 'ping', 'replconf']);

interface Write { db: number; command: string; keys: string[]; tx: boolean }

function show(w: Write): string {
  return `${w.db} ${w.command} ${w.keys.join(' ')}${w.tx ? ' (tx)' : ''}`;
}

/** `redis-cli --replica` on the source: every replicated write (db, command, keys, in a MULTI/EXEC or not), in order. */
function replicaReader(port: number): { writes: Write[]; synced: () => boolean; stop: () => Promise<void> } {
  const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--replica'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  later({ stop });
  const writes: Write[] = [];
  let synced = false;
  let db = 0;
  let inTx = false;
  let rest = '';
  let status = '';
  // Its own messages (SYNC done...) go to standard error, the commands to standard output.
  child.stderr.on('data', (d: Buffer) => {
    status += d.toString();
    if (/^SYNC done/m.test(status)) synced = true;
  });
  child.stdout.on('data', (d: Buffer) => {
    const lines = (rest + d.toString('latin1')).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('"')) continue;
      const args = parseReplicaLine(line);
      const command = args[0]!.toString().toLowerCase();
      if (command === 'select') db = Number(args[1]!.toString());
      if (command === 'multi') inTx = true;
      if (command === 'exec') inTx = false;
      if (NOT_WRITES.has(command)) continue;
      const known = CLASSES[command];
      if (!known) throw new Error(`the class table has no ${command} (${line})`);
      writes.push({ db, command, keys: known[1](args).map((at) => keyText(byteText(args[at]!))), tx: inTx });
    }
  });
  return { writes, synced: () => synced, stop };
}

function classOf(w: Write): string {
  return CLASSES[w.command]![0];
}

describe.skipIf(!live)('publish filters select what the same predicate selects on the source\'s stream', () => {
  it('(d) --events \'$h\', --prefix w:, --command incr, --events t', async () => {
    const [src, sinkServer] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server()]);
    const source = await client(src);
    const db2 = await db2Client(src.port);
    const sink = await client(sinkServer);
    const oracle = replicaReader(src.port);
    const filters = [
      { stream: 'events-sh', options: { events: '$h' }, predicate: (w: Write) => ['string', 'hash'].includes(classOf(w)) },
      { stream: 'prefix-w', options: { prefixes: ['w:'] }, predicate: (w: Write) => w.keys.some((k) => k.startsWith('w:')) },
      { stream: 'command-incr', options: { commands: ['incr'] }, predicate: (w: Write) => w.command === 'incr' },
      { stream: 'events-t', options: { events: 't' }, predicate: (w: Write) => classOf(w) === 'stream' },
    ];
    const publishers = filters.map(({ stream, options }) => {
      const p = publish({ source: url(src), sink: redisStreamSink(`${url(sinkServer)}?stream=${stream}`), ...options });
      later({ stop: async () => { p.stop(); await p.done.catch(() => undefined); } });
      return p;
    });
    await waitFor('every reader streaming', () => oracle.synced() && publishers.every((p) => p.status.phase === 'streaming'));
    for (let r = 0; r < 60; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    // A marker block written last: each filter passes one of its writes (INCR: a string under w:; XADD: a stream).
    await source.ok('MULTI');
    await source.ok('INCR', 'w:marker');
    await source.ok('XADD', 'w:marker:stream', '*', 'm', '1');
    await source.ok('EXEC');
    const isMarker = (w: Write) => w.keys[0] === 'w:marker' || w.keys[0] === 'w:marker:stream';
    await waitFor('the marker at Redis\'s replica reader', () => oracle.writes.filter(isMarker).length === 2);
    const upToMarker = (ws: Write[]) => ws.slice(0, ws.length - [...ws].reverse().findIndex(isMarker));
    const all = upToMarker(oracle.writes);
    expect(all.length).toBeGreaterThan(1000);
    for (const [i, { stream, predicate }] of filters.entries()) {
      let published: Write[] = [];
      await waitFor(`the marker in ${stream}`, async () => {
        const { events } = await readEventStream(sink, stream);
        published = events.filter((e) => e.event === 'write').map((e) => ({ db: e.db!, command: e.command!, keys: (e.keys as unknown[]).map(keyText), tx: e.tx != null }));
        return published.some(isMarker);
      });
      const want = all.filter(predicate);
      expect(want.length).toBeGreaterThan(10);
      expect(want.length).toBeLessThan(all.length);
      expect.soft(upToMarker(published).map(show), `--${stream}`).toEqual(want.map(show));
      publishers[i]!.stop();
      expect((await publishers[i]!.done).phase).toBe('stopped');
    }
  }, 90_000);
});

// ------------------------------------------------------------------ exactly once: a batch and its position

describe.skipIf(!live)('publish: a batch\'s position covers every event in it', () => {
  // The stream sink stores a batch's position with its events: a position behind one of them makes a
  // restart from it publish that event again (a repeated id in the stream).
  it('a batch that fills up on a write carries the position after that write', async () => {
    const [src, sinkServer] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server()]);
    const source = await client(src);
    const inner = redisStreamSink(`${url(sinkServer)}?stream=cdc`);
    const batches: SinkBatch[] = [];
    const sink: Sink = {
      name: inner.name, storesPosition: inner.storesPosition,
      connect: (route) => inner.connect(route), readPosition: () => inner.readPosition!(),
      ownsKey: (db, key) => inner.ownsKey!(db, key), close: () => inner.close(),
      write: (batch) => { batches.push(batch); return inner.write(batch); },
    };
    const p = publish({ source: url(src), sink });
    later({ stop: async () => { p.stop(); await p.done.catch(() => undefined); } });
    await waitFor('streaming', () => p.status.phase === 'streaming');
    // 2,500 writes in one burst: they reach the publisher together, and fill batches of 1,000.
    await Promise.all(Array.from({ length: 2500 }, (_, i) => source.ok('SET', `k${i}`, i)));
    await waitFor('all confirmed', () => p.status.confirmed.events >= 2502);
    const behind = batches.flatMap((b) => b.messages.map((m) => JSON.parse(new TextDecoder().decode(m.body)) as ChangeEventJson)
      .filter((e) => e.event === 'write' && b.position !== null && e.offset > b.position.offset)
      .map((e) => `batch ${b.sequence} (${b.messages.length} events) holds ${e.id} but its position is ${b.position!.offset}`));
    expect(behind).toEqual([]);
  }, 60_000);
});
