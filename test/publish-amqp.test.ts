// `publish` into RabbitMQ (the AMQP sink), through the built CLI, against a live broker started once for the
// file and real redis-servers. The test is the consumer: a durable queue bound to the `redistap` exchange
// with `#`, read with amqplib; its messages (JSON bodies, message-id) go in arrival order to the shared
// consumer (helpers/event-consumer.ts), which drops repeats by id and rebuilds the keyspace into a fresh
// server. Every case ends with the rebuilt keyspace equal to the source's (the shared canonical dumper's
// lines), once the writes have stopped and a marker written last was applied, with each id applied once and
// every new event past the last one of its history (delivery is at least once: repeats may come, a gap or
// an event out of order may not).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { haveRabbitmq, startRabbitmq, type Rabbitmq } from './helpers/brokers.js';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { EventConsumer, type ChangeEventJson } from './helpers/event-consumer.js';
import { canonicalDump, unexpired } from './helpers/keyspace.js';
import { haveRedisServer, sharedTool, type RedisClient } from './helpers/redis-server.js';
import { client, later, server, stopAll, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { binaryRound, writeRound } from './helpers/sync-workload.js';

const live = haveRabbitmq() && haveRedisServer();
const EXCHANGE = 'redistap';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ the consumer: a durable queue bound with #

interface Received {
  event: ChangeEventJson;
  messageId: string | undefined;
  routingKey: string;
  contentType: string | undefined;
  deliveryMode: number | undefined;
}

/**
 * Reads a durable queue bound to the exchange with `#`, acking each message once it is kept, and connects
 * again whenever the broker goes away (a message delivered but not acked then comes again: a repeat).
 */
class QueueReader {
  readonly messages: Received[] = [];
  private model: ChannelModel | null = null;
  private stopped = false;
  private connecting: Promise<void> | null = null;

  constructor(private readonly url: string, readonly queue: string) {}

  /** Declares and binds the queue (before publish starts: the broker drops what no queue is bound for). */
  async start(): Promise<void> {
    await this.connect();
    if (!this.model) throw new Error(`could not read ${this.queue}`);
  }

  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      while (!this.stopped && !this.model) {
        let model: ChannelModel | null = null;
        try {
          model = await amqp.connect(this.url);
          model.on('error', () => undefined);
          const current = model;
          model.on('close', () => {
            if (this.model !== current) return;
            this.model = null;
            void this.connect();
          });
          const ch: Channel = await model.createChannel();
          ch.on('error', () => undefined);
          await ch.assertExchange(EXCHANGE, 'topic', { durable: true });
          await ch.assertQueue(this.queue, { durable: true });
          await ch.bindQueue(this.queue, EXCHANGE, '#');
          await ch.prefetch(1000);
          await ch.consume(this.queue, (m: ConsumeMessage | null) => {
            if (!m) return;
            this.messages.push({
              event: JSON.parse(m.content.toString('utf8')) as ChangeEventJson,
              messageId: m.properties.messageId as string | undefined,
              routingKey: m.fields.routingKey,
              contentType: m.properties.contentType as string | undefined,
              deliveryMode: m.properties.deliveryMode as number | undefined,
            });
            try { ch.ack(m); } catch { /* the channel closed: it comes again */ }
          });
          this.model = model;
        } catch {
          await model?.close().catch(() => undefined);
          if (!this.stopped) await sleep(300);
        }
      }
    })().finally(() => { this.connecting = null; });
    return this.connecting;
  }

  /** Deletes the queue (so later cases do not fill it) and disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.connecting;
    const model = this.model;
    this.model = null;
    if (!model) return;
    try {
      const ch = await model.createChannel();
      await ch.deleteQueue(this.queue);
    } catch { /* the broker is gone */ }
    await model.close().catch(() => undefined);
  }
}

const keyText = (k: unknown) => (typeof k === 'string' ? k : JSON.stringify(k));

/** The canonical dump made comparable: keys whose TTL passed left out, entries_read only as present. */
function keyspace(port: number): string[] {
  return withoutEntriesRead(unexpired(canonicalDump(port)));
}

/**
 * The queue's messages applied, in arrival order, to a fresh server by the shared consumer (repeats
 * dropped by id), as they come.
 */
class Rebuild {
  consumer!: EventConsumer;
  target!: RedisClient;
  port = 0;
  private applied = 0;
  /** Messages whose message-id is not their event's id, or that are not persistent JSON. */
  readonly badMessages: string[] = [];

  constructor(readonly reader: QueueReader) {}

  async start(): Promise<this> {
    const s = await server();
    this.port = s.port;
    this.target = await client(s);
    this.consumer = new EventConsumer(this.target);
    return this;
  }

  /** Applies the messages that came since the last call. */
  async pump(): Promise<void> {
    const messages = this.reader.messages.slice(this.applied);
    this.applied += messages.length;
    for (const m of messages) {
      if (m.messageId !== m.event.id || m.contentType !== 'application/json' || m.deliveryMode !== 2) {
        this.badMessages.push(`${m.event.id}: message-id ${m.messageId}, content-type ${m.contentType}, delivery-mode ${m.deliveryMode}`);
      }
    }
    await this.consumer.apply(messages.map((m) => m.event));
  }

  /**
   * Writes a marker last on the source, waits until the consumer applied it (so everything before it), and
   * compares the keyspaces; checks each id was applied once and no new event came out of order.
   */
  async matches(source: RedisClient, sourcePort: number, timeoutMs = 60_000): Promise<void> {
    const token = `marker-${Date.now()}-${Math.random()}`;
    await source.ok('SET', 'w:marker', token);
    await waitFor('the marker applied from the queue', async () => {
      await this.pump();
      return this.consumer.complete && String(await this.target.call('GET', 'w:marker')) === token;
    }, timeoutMs);
    await sleep(300); // the workload's short TTLs (≤ 150 ms) have run out on both sides
    const { stats } = this.consumer;
    // Each id once: what was acted on is every distinct id received; the rest were repeats.
    const ids = new Set(this.reader.messages.slice(0, this.applied).map((m) => m.event.id));
    expect(stats.applied).toBe(ids.size);
    expect(stats.applied + stats.repeats + stats.stale).toBe(this.applied);
    // In order: no event that was not a repeat came at or before the last one applied of its history.
    expect(stats.stale).toBe(0);
    expect(this.badMessages).toEqual([]);
    const expected = keyspace(sourcePort);
    expect(expected.length).toBeGreaterThan(20);
    expect(keyspace(this.port)).toEqual(expected);
  }
}

// ------------------------------------------------------------------ the source and its writes

async function round(source: RedisClient, db2: RedisClient, r: number): Promise<void> {
  await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
}

/** Rounds of writes until `stop()`, one every `paceMs`; `rounds()` says how far it got. */
function writer(source: RedisClient, db2: RedisClient, from: number, paceMs = 10): { stop(): Promise<number>; rounds(): number } {
  let stopped = false;
  let r = from;
  const running = (async () => {
    while (!stopped) {
      await round(source, db2, r++);
      await sleep(paceMs);
    }
    return r;
  })();
  return { stop: async () => { stopped = true; return running; }, rounds: () => r };
}

async function db2Client(port: number): Promise<RedisClient> {
  const c = await client({ port });
  await c.ok('SELECT', 2);
  return c;
}

// ------------------------------------------------------------------ publish, through the CLI

let broker: Rabbitmq;
let dir: string;

function publishCli(sourcePort: number, extra: string[]): CliProcess {
  const p = cli(['publish', `redis://127.0.0.1:${sourcePort}`, broker.url, '--json', ...extra]);
  later({ stop: async () => { if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exit; } } });
  return p;
}

interface StatusLine { type: 'status'; phase: string; sink: string; source: string; spoolBytes: number; sourceReconnects: number; confirmed: { events: number; offset: number } }

function statuses(p: CliProcess, from = 0): StatusLine[] {
  return p.lines.slice(from).map((l) => { try { return JSON.parse(l) as { type?: string }; } catch { return {}; } })
    .filter((s): s is StatusLine => s.type === 'status');
}

const streaming = (p: CliProcess, from = 0) => p.lines.slice(from).some((l) => l.includes('"phase":"streaming"'));

async function untilStreaming(p: CliProcess, from = 0): Promise<void> {
  await waitFor('publish streaming', () => {
    if (p.child.exitCode !== null) throw new Error(`publish exited (${p.child.exitCode}): ${p.err()}`);
    return streaming(p, from);
  }, 60_000);
}

/** Waits until the queue got `more` messages beyond what it has now (publishing goes on). */
async function grows(reader: QueueReader, more: number, p: CliProcess): Promise<void> {
  const start = reader.messages.length;
  await waitFor(`the queue to grow by ${more}`, () => {
    if (p.child.exitCode !== null) throw new Error(`publish exited (${p.child.exitCode}): ${p.err()}`);
    return reader.messages.length >= start + more;
  }, 60_000);
}

describe.skipIf(!live)('publish into RabbitMQ: a queue bound with # rebuilds the source', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'redistap-amqp-accept-'));
    // The CLI runs from dist/ (tsc still writes it when a file being written elsewhere has type errors),
    // built while the broker boots.
    const built = new Promise<void>((resolve, reject) => {
      const c = spawn('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
      c.once('close', (code) => (code === 0 || /error TS/.test(out) ? resolve() : reject(new Error(`tsc failed: ${out}`))));
    });
    const started = startRabbitmq();
    const [, b] = await Promise.allSettled([built, started]);
    if (b.status === 'fulfilled') broker = b.value;
    await built;
    await started;
  }, 120_000);

  afterEach(stopAll);

  afterAll(async () => {
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('(a) a snapshot with values and writes before, during and after it: the queue rebuilds the source, every write once and in order', async () => {
    const src = await server(['--repl-diskless-sync-delay', '0']);
    const source = await client(src);
    const db2 = await db2Client(src.port);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    for (let r = 0; r < 30; r++) await round(source, db2, r);
    const reader = new QueueReader(broker.url, 'accept-a');
    later(reader);
    await reader.start();
    const rebuild = await new Rebuild(reader).start();
    const checkpoint = join(dir, 'a.pos');
    const p = publishCli(src.port, ['--snapshot', 'values', '--checkpoint', checkpoint]);
    // Rounds while the snapshot is made and published, then more once writes stream.
    let r = 30;
    let duringSnapshot = 0;
    while (!streaming(p)) {
      if (p.child.exitCode !== null) throw new Error(`publish exited (${p.child.exitCode}): ${p.err()}`);
      if (p.lines.some((l) => l.includes('"phase":"snapshot"'))) duringSnapshot++;
      await round(source, db2, r++);
    }
    expect(duringSnapshot).toBeGreaterThan(0); // rounds begun once the snapshot had started, before its end
    for (const end = r + 150; r < end; r++) await round(source, db2, r);
    await rebuild.matches(source, src.port);

    const events = reader.messages.map((m) => m.event);
    expect(rebuild.consumer.stats.repeats).toBe(0); // no fault: nothing published twice
    expect([...new Set(events.map((e) => e.event))].sort()).toEqual(['full-sync-end', 'full-sync-start', 'snapshot', 'write']);
    // One history: its events in (offset, seq) order, the writes' offsets increasing.
    for (let i = 1; i < events.length; i++) {
      const [a, b] = [events[i - 1]!, events[i]!];
      if (!(b.offset > a.offset || (b.offset === a.offset && b.seq > a.seq))) throw new Error(`${b.id} after ${a.id}`);
    }
    const writes = events.filter((e) => e.event === 'write');
    expect(new Set(writes.map((e) => e.class))).toEqual(new Set(['string', 'list', 'set', 'zset', 'hash', 'stream', 'generic']));
    expect(writes.some((e) => e.tx && e.tx.count === 2 && e.command === 'incr')).toBe(true); // the workload's MULTI/EXEC
    expect(writes.some((e) => e.tx && e.command === 'lpush' && keyText((e.keys as unknown[])[0]) === 'w:lua:log')).toBe(true); // its script
    expect(writes.some((e) => e.db === 2 && typeof (e.keys as unknown[])[0] === 'object')).toBe(true);
    expect(events.some((e) => e.event === 'snapshot' && e.db === 2 && typeof e.key === 'object')).toBe(true);
    // Writes before the snapshot's offset are in it; writes after it are events (rounds ran during the snapshot).
    const snapshotOffset = events.find((e) => e.event === 'full-sync-start')!.offset;
    expect(writes.length).toBeGreaterThan(150 * 20);
    expect(writes[0]!.offset).toBeGreaterThan(snapshotOffset);
    // Routing keys: the default template redis.{db}.{command}.
    const routed = reader.messages.filter((m) => m.event.event === 'write' && m.routingKey !== `redis.${m.event.db}.${m.event.command}`);
    expect(routed.map((m) => `${m.event.id} → ${m.routingKey}`)).toEqual([]);

    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
    expect(p.lines.filter((l) => l.includes('"type":"warning"'))).toEqual([]);
    // Stopped cleanly: the position saved reaches the last write, and the lock is gone.
    const saved = JSON.parse(readFileSync(checkpoint, 'utf8')) as { offset: number };
    expect(saved.offset).toBeGreaterThanOrEqual(writes[writes.length - 1]!.offset);
    expect(existsSync(`${checkpoint}.lock`)).toBe(false);
  }, 90_000);

  it('(b) faults: publish SIGKILLed and restarted, the replica link killed, the broker refusing publishes, the broker down for 30 s while the source writes on: each ends with the source rebuilt, each id applied once', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'redistap-amqp-source-'));
    later({ stop: () => rmSync(logDir, { recursive: true, force: true }) });
    const sourceLog = join(logDir, 'source.log');
    const src = await server([
      '--repl-diskless-sync-delay', '0',
      // A backlog that keeps what the replica link misses while it is down (PSYNC continues).
      '--repl-backlog-size', '256mb',
      // A replica that falls 1 MB behind (or 512 kB for 5 s) is dropped: publish must keep reading.
      '--client-output-buffer-limit', 'replica', '1mb', '512kb', '5',
      '--logfile', sourceLog,
      '--enable-debug-command', 'yes',
    ]);
    const source = await client(src);
    const db2 = await db2Client(src.port);
    expect(String(await source.ok('CONFIG', 'GET', 'client-output-buffer-limit'))).toContain('slave 1048576 524288 5');
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    // Enough keys that a snapshot takes a while to publish (the first SIGKILL comes inside it).
    await source.ok('DEBUG', 'POPULATE', 8_000, 'w:populated');
    for (let r = 0; r < 20; r++) await round(source, db2, r);
    const reader = new QueueReader(broker.url, 'accept-b');
    later(reader);
    await reader.start();
    const rebuild = await new Rebuild(reader).start();
    const checkpoint = join(dir, 'b.pos');
    const args = ['--snapshot', 'values', '--checkpoint', checkpoint];
    let nextRound = 20;

    // 1. SIGKILLed three times: the first inside its snapshot, the others streaming, once the file holds a
    //    position (which is behind what was published by then). Inside by construction, not by timing: the
    //    populated keys do not fit the first run's window of unconfirmed events (50 KiB), so its snapshot
    //    cannot end before thousands of its events are confirmed.
    const savedOffset = () => (existsSync(checkpoint) ? (JSON.parse(readFileSync(checkpoint, 'utf8')) as { offset?: number }).offset ?? 0 : 0);
    let w = writer(source, db2, nextRound);
    let p = publishCli(src.port, [...args, '--max-in-flight', String(50 / 1024)]);
    for (const [i, more] of [50, 300, 300].entries()) {
      if (i > 0) {
        await untilStreaming(p);
        const before = savedOffset();
        await waitFor('a position saved past the last one', () => savedOffset() > before, 10_000);
      }
      await grows(reader, more, p);
      if (i === 0) expect(streaming(p)).toBe(false);
      p.child.kill('SIGKILL');
      expect(await p.exit).toBeNull();
      p = publishCli(src.port, args); // the dead one's lock is taken over
    }
    await untilStreaming(p);
    await grows(reader, 300, p);
    nextRound = await w.stop();
    await rebuild.matches(source, src.port);
    // The snapshot killed half-way was published again (a new history); the runs killed while streaming
    // were continued from their position, publishing again what was published after it (repeats).
    expect(rebuild.consumer.stats.fullSyncs).toBe(2);
    expect(rebuild.consumer.stats.repeats).toBeGreaterThan(0);

    // 2. The source drops its replicas: publish continues with PSYNC (no new snapshot).
    w = writer(source, db2, nextRound);
    await grows(reader, 200, p);
    let from = p.lines.length;
    await source.ok('CLIENT', 'KILL', 'TYPE', 'replica');
    await waitFor('publish to continue from where the link dropped', () => p.lines.slice(from).some((l) => l.includes('resumed from the source')));
    expect(p.lines.slice(from).filter((l) => l.includes('full sync'))).toEqual([]);
    await grows(reader, 200, p);
    nextRound = await w.stop();
    const syncsBefore = rebuild.consumer.stats.fullSyncs;
    await rebuild.matches(source, src.port);
    expect(rebuild.consumer.stats.fullSyncs).toBe(syncsBefore);

    // 3. The broker refuses publishes for a while (a memory alarm): publish waits, then goes on.
    w = writer(source, db2, nextRound);
    await grows(reader, 100, p);
    from = p.lines.length;
    await broker.ctl('set_vm_memory_high_watermark', '0.0001');
    try {
      await waitFor('publish to be told it is blocked', () => p.lines.slice(from).some((l) => l.includes('the broker blocks publishing')), 20_000);
      await sleep(1500);
      const queued = reader.messages.length;
      await sleep(3000);
      expect(reader.messages.length).toBe(queued); // nothing got through meanwhile
    } finally {
      await broker.ctl('set_vm_memory_high_watermark', '0.4');
    }
    await waitFor('publish to be told it may publish again', () => p.lines.slice(from).some((l) => l.includes('the broker accepts publishing again')), 20_000);
    await grows(reader, 200, p);
    nextRound = await w.stop();
    await rebuild.matches(source, src.port);

    // 4. The broker stopped for 30 s while the source writes on, enough that publish spools what it reads
    //    (its memory queue holds 64 MiB); the source never drops it for its output buffer.
    w = writer(source, db2, nextRound, 50);
    await grows(reader, 100, p);
    from = p.lines.length;
    const reconnectsBefore = statuses(p).at(-1)!.sourceReconnects;
    let down = false;
    let back = false;
    const outage = broker.restart(30_000, () => { down = true; }).then(() => { back = true; });
    // Big values while it is down, until the spool is in use (and a little more).
    let spooledWhileDown = 0;
    const big = (async () => {
      const value = Buffer.alloc(128 * 1024, 'v');
      let i = 0;
      let spooledAt = 0;
      while (!back) {
        if (down) {
          await source.ok('SET', `w:big:${i++ % 6}`, value);
          const spool = Math.max(0, ...statuses(p, from).map((s) => s.spoolBytes));
          if (spool > 0 && !back) {
            spooledWhileDown = spool;
            spooledAt ||= Date.now();
            if (Date.now() - spooledAt > 2000) break;
          }
        }
        await sleep(15);
      }
    })();
    await outage;
    await big;
    expect(spooledWhileDown).toBeGreaterThan(0);
    expect(statuses(p, from).some((s) => s.sink === 'down')).toBe(true);
    await waitFor('the spool emptied', () => statuses(p).at(-1)!.spoolBytes === 0 && statuses(p).at(-1)!.sink === 'up', 60_000);
    await grows(reader, 200, p);
    nextRound = await w.stop();
    await rebuild.matches(source, src.port, 90_000);
    // The source never dropped publish: its log has no client closed for its output buffer, and the link
    // never went down (no reconnect, no full sync).
    const log = readFileSync(sourceLog, 'utf8');
    expect(log).toContain('Synchronization with replica');
    expect(log.split('\n').filter((l) => /output buffer limits/.test(l))).toEqual([]);
    expect(statuses(p).at(-1)!.sourceReconnects).toBe(reconnectsBefore);
    expect(p.lines.slice(from).filter((l) => l.includes('link down') || l.includes('full sync'))).toEqual([]);

    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
  }, 240_000);

  it('(c) no --checkpoint, --no-checkpoint (a new snapshot at each start), either for a Redis stream, and a second publish on the same checkpoint file', async () => {
    const src = await server(['--repl-diskless-sync-delay', '0']);
    const source = await client(src);
    await source.ok('SET', 'k', 'v');

    // What --help promises: --checkpoint FILE or --no-checkpoint for amqp:// and nats://; a Redis stream keeps its own.
    const help = cli(['publish', '--help']);
    expect(await help.exit).toBe(0);
    const helpText = help.lines.join('\n').replace(/\s+/g, ' ');
    expect(helpText).toContain('--checkpoint <file> keep the position in this file (amqp:// and nats://; a Redis stream keeps it beside the stream)');
    expect(helpText).toContain('--no-checkpoint no position (amqp:// and nats://): every start publishes from a new snapshot');
    // Neither: refused, saying what to pass, before anything is published.
    const missing = publishCli(src.port, []);
    expect(await missing.exit).toBe(2);
    expect(missing.err()).toMatch(new RegExp(`amqp://127\\.0\\.0\\.1:${broker.port} exchange redistap does not keep the position with the events: ` +
      'pass --checkpoint FILE \\(a restart continues from it\\), or --no-checkpoint \\(every start publishes from a new snapshot\\)'));
    expect(missing.lines.filter((l) => l.includes('"phase":"snapshot"'))).toEqual([]);
    // Either for a Redis stream: refused (it keeps the position beside the stream).
    for (const flag of [['--checkpoint', join(dir, 'c-stream.pos')], ['--no-checkpoint']]) {
      const streamSink = cli(['publish', `redis://127.0.0.1:${src.port}`, `redis://127.0.0.1:${src.port}?stream=cdc`, '--json', ...flag]);
      expect(await streamSink.exit).toBe(2);
      expect(streamSink.err()).toMatch(new RegExp(`${flag[0]}: redis://127\\.0\\.0\\.1:${src.port} stream cdc keeps the position beside the stream`));
    }
    expect(existsSync(join(dir, 'c-stream.pos'))).toBe(false);

    // --no-checkpoint: no file; every start publishes from a new snapshot.
    const reader = new QueueReader(broker.url, 'accept-c');
    later(reader);
    await reader.start();
    for (let run = 1; run <= 2; run++) {
      const p = publishCli(src.port, ['--no-checkpoint', '--snapshot', 'values']);
      await untilStreaming(p);
      await source.ok('SET', 'k', `run ${run}`);
      await waitFor('the write', () => reader.messages.some((m) => m.event.event === 'write' && keyText(m.event.args?.[1]) === `run ${run}`));
      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
    }
    expect(reader.messages.filter((m) => m.event.event === 'full-sync-start').length).toBe(2);

    // A second publish on a checkpoint file in use refuses to start, naming the first; the first goes on.
    const checkpoint = join(dir, 'c.pos');
    const first = publishCli(src.port, ['--checkpoint', checkpoint]);
    await untilStreaming(first);
    const second = publishCli(src.port, ['--checkpoint', checkpoint]);
    expect(await Promise.race([second.exit, sleep(15_000).then(() => 'still running')])).toBe(2);
    expect(second.err()).toContain(`${checkpoint} is in use by another publish (pid ${first.child.pid} on `);
    await source.ok('SET', 'k', 'after the refusal');
    await waitFor('the first to go on', () => reader.messages.some((m) => m.event.event === 'write' && keyText(m.event.args?.[1]) === 'after the refusal'));
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);
  }, 60_000);
});
