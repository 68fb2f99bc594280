// natsSink against a real nats-server (JetStream, file storage): pipelined batches land in order with their
// Nats-Msg-Id, defaults and templates, deduplication of a batch written again, a server restart and a full
// stream (max_bytes, discard new) in the middle of pipelined writes (the re-sent batches leave the stream in
// order, each message once), and the errors that no retry can fix.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { natsSink } from '../src/pipeline/sinks/nats-sink.js';
import { SinkError, type Sink, type SinkBatch, type SinkMessage, type MessageRoute } from '../src/pipeline/sink.js';
import { readNatsStream } from './helpers/nats-stream.js';
import { haveNats, startNats, type Nats } from './helpers/brokers.js';

const SET: MessageRoute = { db: 0, command: 'set', class: 'string', partition: 0 };

/** Message i of a run: id `${prefix}-i`, a JSON body padded to `pad` bytes. */
function message(prefix: string, i: number, pad = 0, route: MessageRoute = SET): SinkMessage {
  return { id: `${prefix}-${i}`, route, body: Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(pad) })) };
}

let sequence = 0;
function batch(messages: SinkMessage[]): SinkBatch {
  return { messages, position: { replid: 'r', offset: 0, db: 0 }, sequence: ++sequence };
}

/** `count` batches of `size` messages, numbered on from `first`. */
function batches(prefix: string, count: number, size: number, pad = 0, first = 0): SinkBatch[] {
  return Array.from({ length: count }, (_, b) => batch(Array.from({ length: size }, (_, k) => message(prefix, first + b * size + k, pad))));
}

const ids = (list: SinkBatch[]) => list.flatMap((b) => b.messages.map((m) => m.id));

interface Stored { seq: number; subject: string; id: string; contentType: string; className: string; body: string }

/** Every message of `stream`, in stream order. */
async function readStream(url: string, stream: string): Promise<Stored[]> {
  return (await readNatsStream(url, stream)).map((m) => ({
    seq: m.seq, subject: m.subject, id: m.header('Nats-Msg-Id'), contentType: m.header('Content-Type'), className: m.header('Redistap-Class'), body: m.body,
  }));
}


async function manager(url: string): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connect({ servers: url.replace(/^nats:\/\//, ''), reconnect: false });
  return { nc, jsm: await jetstreamManager(nc) };
}

/** Writes every batch without waiting (pipelined); the outcome of each, in order. */
async function writeAll(sink: Sink, list: SinkBatch[]): Promise<Array<SinkError | null>> {
  const results = list.map((b) => sink.write(b).then(() => null, (err: unknown) => {
    if (!(err instanceof SinkError)) throw err;
    return err;
  }));
  return Promise.all(results);
}

/**
 * What the publisher does after a failure: close, connect, and write every unconfirmed batch again in
 * order (pipelined), until all are confirmed. Returns the errors met.
 */
async function publishAll(sink: Sink, list: SinkBatch[], beforeRetry?: (attempt: number) => Promise<void>, reconnectFirst = false): Promise<SinkError[]> {
  const errors: SinkError[] = [];
  let unconfirmed = list;
  for (let attempt = reconnectFirst ? 1 : 0; unconfirmed.length > 0; attempt++) {
    if (attempt > 20) throw new Error(`still failing after 20 attempts: ${errors.map((e) => e.message).join('; ')}`);
    if (attempt > 0) {
      await sink.close();
      await beforeRetry?.(attempt);
      await sink.connect(null);
    }
    const outcome = await writeAll(sink, unconfirmed);
    const first = outcome.findIndex((e) => e !== null);
    if (first === -1) break;
    errors.push(outcome[first]!);
    unconfirmed = unconfirmed.slice(first);
  }
  return errors;
}

/** Free loopback port, for servers the tests spawn themselves. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A nats-server with custom flags (authorization, no JetStream); stopped by PID. */
async function spawnNats(flags: string[]): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redistap-nats-custom-'));
  const child: ChildProcess = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-sd', dir, ...flags], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ host: '127.0.0.1', port }, () => { c.destroy(); resolve(true); });
      c.once('error', () => resolve(false));
    });
    if (ok) return { port, stop };
    if (i > 50) { await stop(); throw new Error('nats-server did not start'); }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!haveNats())('natsSink against nats-server', () => {
  let nats: Nats;
  const sinks: Sink[] = [];
  const open = (url: string, options?: Parameters<typeof natsSink>[1]) => {
    const sink = natsSink(url, options);
    sinks.push(sink);
    return sink;
  };

  beforeAll(async () => {
    nats = await startNats();
  });
  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('(1) lands pipelined batches in order, each message with its Nats-Msg-Id', async () => {
    const sink = open(`${nats.url}?stream=ORDER&subject=order.{db}.{command}`);
    await sink.connect(null);
    const list = batches('order', 3, 50, 100);
    const outcome = await writeAll(sink, list);
    expect(outcome).toEqual([null, null, null]);
    const stored = await readStream(nats.url, 'ORDER');
    expect(stored.map((m) => m.id)).toEqual(ids(list));
    expect(stored.map((m) => JSON.parse(m.body).i)).toEqual(ids(list).map((_, i) => i));
    expect(new Set(stored.map((m) => m.contentType))).toEqual(new Set(['application/json']));
    expect(new Set(stored.map((m) => m.className))).toEqual(new Set(['string']));
  });

  it('(2) defaults to stream REDISTAP on redistap.> and subject redistap.{db}.{command}; the URL sets both', async () => {
    const notices: string[] = [];
    const sink = open(nats.url, { onNotice: (m) => notices.push(m) });
    expect(sink.name).toBe(`${nats.url} stream REDISTAP`);
    expect(sink.storesPosition).toBe(false);
    await sink.connect(null);
    expect(notices.join('\n')).toMatch(/created the JetStream stream REDISTAP \(subjects redistap\.>, file storage\)/);
    await sink.write(batch([message('def', 0), message('def', 1, 0, { db: null, command: 'flushall', class: 'generic', partition: 0 })]));
    const { nc, jsm } = await manager(nats.url);
    try {
      const info = await jsm.streams.info('REDISTAP');
      expect(info.config.subjects).toEqual(['redistap.>']);
      expect(info.config.storage).toBe('file');
    } finally {
      await nc.close();
    }
    expect((await readStream(nats.url, 'REDISTAP')).map((m) => [m.subject, m.id])).toEqual([
      ['redistap.0.set', 'def-0'], ['redistap.all.flushall', 'def-1'],
    ]);

    // A template and stream from the URL; values are escaped into one token each.
    const templated = open(`${nats.url.replace('nats://', 'nats://someone:s3cr3t@')}?stream=TPL&subject=app.{class}.{db}.{command}`);
    expect(templated.name).toBe(`${nats.url} stream TPL`);
    expect(templated.name).not.toContain('s3cr3t');
    expect(natsSink('tls://a-token@nats.example:7422').name).toBe('tls://nats.example:7422 stream REDISTAP');
  });

  it('(2b) a template from the URL, escaped tokens, and the stream checks', async () => {
    const sink = open(`${nats.url}?stream=TPL&subject=app.{class}.db{db}.{command}`);
    await sink.connect(null);
    await sink.write(batch([
      message('tpl', 0, 0, { db: 3, command: 'hset', class: 'hash', partition: 0 }),
      message('tpl', 1, 0, { db: 0, command: 'a.b *c>', class: 'string', partition: 0 }),
    ]));
    expect((await readStream(nats.url, 'TPL')).map((m) => m.subject)).toEqual(['app.hash.db3.hset', 'app.string.db0.a%2Eb%20%2Ac%3E']);
    const { nc, jsm } = await manager(nats.url);
    try {
      expect((await jsm.streams.info('TPL')).config.subjects).toEqual(['app.>']);
      // A stream that exists but does not capture what we publish: refused, not retryable, saying which.
      await jsm.streams.add({ name: 'OTHER', subjects: ['other.>'] });
    } finally {
      await nc.close();
    }
    const wrong = open(`${nats.url}?stream=OTHER`);
    const err = await wrong.connect(null).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect((err as SinkError).retryable).toBe(false);
    expect((err as SinkError).message).toMatch(/stream OTHER .*captures other\.>, not the subjects redistap\.\*\.\* we publish/);

    // create=false and no stream: not retryable.
    const missing = await open(`${nats.url}?stream=NOPE&create=false`).connect(null).then(() => null, (e: unknown) => e);
    expect((missing as SinkError).retryable).toBe(false);
    expect((missing as SinkError).message).toMatch(/stream NOPE does not exist/);

    expect(() => natsSink(`${nats.url}?stream=X&subjet=a&foo=1`)).toThrow(/unknown parameters "subjet", "foo"/);
    expect(() => natsSink(`${nats.url}?stream=X&subjet=a`)).toThrow(TypeError);
    expect(() => natsSink(`${nats.url}?subject=a.{nope}`)).toThrow(/unknown field \{nope\}/);
    expect(() => natsSink(`${nats.url}?subject=a..b`)).toThrow(/invalid subjects/);
    expect(() => natsSink('nats://u:pw-in-url@host:1/x')).toThrow(TypeError);
    try { natsSink('nats://u:pw-in-url@host:1/x'); } catch (e) { expect((e as Error).message).not.toContain('pw-in-url'); }
  });

  it('(3) confirms a batch written again after close/connect without a new message (deduplication)', async () => {
    const url = `${nats.url}?stream=DEDUP&subject=dedup.{db}.{command}`;
    const first = open(url);
    await first.connect(null);
    const [a, b] = batches('dedup', 2, 20);
    await first.write(a!);
    await first.write(b!);
    const before = await readStream(nats.url, 'DEDUP');
    expect(before).toHaveLength(40);

    // The same sink, reconnected: the last batch again.
    await first.close();
    await first.connect(null);
    await expect(first.write(b!)).resolves.toBeUndefined();
    expect(await readStream(nats.url, 'DEDUP')).toEqual(before);
    await first.close();

    // A new sink (a restarted publisher resuming from an older checkpoint): both batches again, sent and
    // acknowledged by the server as duplicates; then a new batch lands after them.
    const second = open(url);
    await second.connect(null);
    expect(await writeAll(second, [a!, b!])).toEqual([null, null]);
    expect(await readStream(nats.url, 'DEDUP')).toEqual(before);
    const [c] = batches('dedup', 1, 5, 0, 40);
    await second.write(c!);
    expect((await readStream(nats.url, 'DEDUP')).map((m) => m.id)).toEqual(ids([a!, b!, c!]));

    // After the duplicate window the server would store a repeat: a new sink finds the stream's last
    // message in the batch written again and does not send what is up to it.
    const { nc, jsm } = await manager(nats.url);
    await jsm.streams.add({ name: 'WINDOW', subjects: ['window.>'], duplicate_window: 300_000_000 });
    await nc.close();
    const wUrl = `${nats.url}?stream=WINDOW&subject=window.{command}`;
    const [d, e] = batches('window', 2, 10);
    const third = open(wUrl);
    await third.connect(null);
    await third.write(d!);
    await third.close();
    await new Promise((r) => setTimeout(r, 600));
    const fourth = open(wUrl);
    await fourth.connect(null);
    expect(await writeAll(fourth, [d!, e!])).toEqual([null, null]);
    expect((await readStream(nats.url, 'WINDOW')).map((m) => m.id)).toEqual(ids([d!, e!]));
  });

  it('(4) a server restart mid-write: the writes reject retryable; sent again, the stream has every message once, in order', async () => {
    const own = await startNats();
    try {
      // A short duplicate window, passed before the re-send: the server does not drop the repeats, the sink must.
      const { nc, jsm } = await manager(own.url);
      await jsm.streams.add({ name: 'RESTART', subjects: ['redistap.>'], duplicate_window: 500_000_000 });
      const notices: string[] = [];
      const sink = open(`${own.url}?stream=RESTART`, { onNotice: (m) => notices.push(m) });
      await sink.connect(null);
      const list = batches('restart', 300, 100, 100);
      const total = 30_000;
      // Restart once 3000 messages are in (a core subscription sees what the stream stores).
      const watcher = await connect({ servers: own.url.replace(/^nats:\/\//, ''), reconnect: false });
      let seen = 0;
      const enough = new Promise<void>((resolve) => {
        watcher.subscribe('redistap.>', { callback: () => { if (++seen === 3000) resolve(); } });
      });
      await watcher.flush();
      const restarting = enough.then(async () => {
        await watcher.close().catch(() => {});
        await nc.close();
        await own.restart();
      });
      // Batches written one after the other without waiting for their confirmation (a publisher with
      // events arriving), so the restart comes in the middle.
      const writing: Array<Promise<SinkError | null>> = [];
      for (const b of list) {
        writing.push(sink.write(b).then(() => null, (err: unknown) => err as SinkError));
        await new Promise((r) => setTimeout(r, 1));
      }
      await restarting;
      const outcome = await Promise.all(writing);
      const failed = outcome.findIndex((e) => e !== null);
      expect(failed).toBeGreaterThanOrEqual(0);
      expect(outcome[failed]!.retryable).toBe(true);
      expect(outcome.slice(failed).every((e) => e !== null)).toBe(true);
      const landed = await readStream(own.url, 'RESTART');
      // Mid-write: some but not all landed, and what did is the order's prefix.
      expect(landed.length).toBeGreaterThan(0);
      expect(landed.length).toBeLessThan(total);
      expect(landed.map((m) => m.id)).toEqual(ids(list).slice(0, landed.length));
      // More landed than was confirmed: those are in doubt, and sent again after the duplicate window.
      await new Promise((r) => setTimeout(r, 1200));
      const errors = await publishAll(sink, list.slice(failed), async () => {}, true);
      expect(errors).toEqual([]);
      const stored = await readStream(own.url, 'RESTART');
      expect(stored.map((m) => m.id)).toEqual(ids(list));
      if (landed.length > failed * 100) expect(notices.join('\n')).toMatch(/already in stream RESTART/);
    } finally {
      await own.stop();
    }
  });

  it('(4b) batches whose confirmations were lost are in doubt: after the duplicate window, the re-send does not store them again', async () => {
    const { nc, jsm } = await manager(nats.url);
    try {
      await jsm.streams.add({ name: 'DOUBT', subjects: ['doubt.>'], duplicate_window: 300_000_000 });
      const notices: string[] = [];
      const sink = open(`${nats.url}?stream=DOUBT&subject=doubt.{command}`, { onNotice: (m) => notices.push(m) });
      await sink.connect(null);
      const [a, b, c, d] = batches('doubt', 4, 10);
      await sink.write(a!);
      // Sent, then the sink is closed before the PubAcks are read: the writes reject, the messages land.
      const writing = writeAll(sink, [b!, c!, d!]);
      await sink.close();
      const outcome = await writing;
      expect(outcome.every((e) => e instanceof SinkError && e.retryable)).toBe(true);
      expect((await readStream(nats.url, 'DOUBT')).map((m) => m.id)).toEqual(ids([a!, b!, c!, d!]));
      await new Promise((r) => setTimeout(r, 700));
      // The publisher sends b, c, d again: the stream's last message is d's last, so all three are stored.
      await sink.connect(null);
      expect(await writeAll(sink, [b!, c!, d!])).toEqual([null, null, null]);
      const [e] = batches('doubt', 1, 10, 0, 40);
      await sink.write(e!);
      expect((await readStream(nats.url, 'DOUBT')).map((m) => m.id)).toEqual(ids([a!, b!, c!, d!, e!]));
      expect(notices.join('\n')).toMatch(/30 messages written again after the reconnect were already in stream DOUBT/);
      expect(notices.join('\n')).not.toMatch(/not one this sink sent/);
    } finally {
      await nc.close();
    }
  });

  it('(4d) a restarted publisher sends again, interleaved another way, messages the stream holds among new ones (a cluster\'s shards): the new ones stored once each, in order, none lost', async () => {
    const url = `${nats.url}?stream=INTERLEAVE&subject=interleave.{command}`;
    // Two shards' events (ids begin with their stream's replid, as publish's do): a run stored a0 b0 a1 b1.
    const a = (i: number) => message('a', i);
    const b = (i: number) => message('b', i);
    const first = open(url);
    await first.connect(null);
    await first.write(batch([a(0), b(0), a(1), b(1)]));
    await first.close();
    // Restarted from before a1 and b1, the shards' events come in another interleaving: a new one (a2) before
    // the stream's last message (b1), a stored one (b1) after a new one.
    const second = open(url);
    await second.connect(null);
    expect(await writeAll(second, [batch([a(1), a(2), b(1), b(2)]), batch([a(3), b(3)])])).toEqual([null, null]);
    await second.close();
    expect((await readStream(nats.url, 'INTERLEAVE')).map((m) => m.id)).toEqual(['a-0', 'b-0', 'a-1', 'b-1', 'a-2', 'b-2', 'a-3', 'b-3']);
  });

  it('(4c) the first message after connect expects the stream as connect read it: a message stored meanwhile fails the write', async () => {
    const notices: string[] = [];
    const sink = open(`${nats.url}?stream=ANCHOR&subject=anchor.{command}`, { onNotice: (m) => notices.push(m) });
    await sink.connect(null);
    const [a, b] = batches('anchor', 2, 5);
    await sink.write(a!);
    await sink.close();
    await sink.connect(null);
    // Another writer (or a late message of an old connection) between connect and the first write.
    const { nc, jsm } = await manager(nats.url);
    try {
      await jsm.jetstream().publish('anchor.set', 'foreign', { msgID: 'foreign-1' });
    } finally {
      await nc.close();
    }
    const err = await sink.write(b!).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect((err as SinkError).retryable).toBe(true);
    expect((err as SinkError).message).toMatch(/wrong last sequence/);
    expect(notices.join('\n')).not.toMatch(/not one this sink sent/);
    await sink.close();
    await sink.connect(null);
    expect(notices.join('\n')).toMatch(/last message of stream ANCHOR \(id foreign-1\) is not one this sink sent/);
    await sink.write(b!);
    expect((await readStream(nats.url, 'ANCHOR')).map((m) => m.id)).toEqual([...ids([a!]), 'foreign-1', ...ids([b!])]);
  });

  it('(5) a full stream (max_bytes, discard new): rejects retryable, no later message gets in; after the limit is raised the re-send completes in order', async () => {
    const { nc, jsm } = await manager(nats.url);
    try {
      // A short duplicate window, passed before the last re-send: the server would store a repeat then.
      await jsm.streams.add({ name: 'FULL', subjects: ['full.>'], max_bytes: 6000, discard: 'new' as never, duplicate_window: 500_000_000 });
      const notices: string[] = [];
      const sink = open(`${nats.url}?stream=FULL&subject=full.{command}`, { onNotice: (m) => notices.push(m) });
      await sink.connect(null);
      // Large and small messages alternate: once a large one does not fit, the small one after it would.
      const list = Array.from({ length: 6 }, (_, b) => batch(Array.from({ length: 4 }, (_, k) => {
        const i = b * 4 + k;
        return message('full', i, i % 2 === 0 ? 700 : 10);
      })));
      const outcome = await writeAll(sink, list);
      const failed = outcome.findIndex((e) => e !== null);
      expect(failed).toBeGreaterThanOrEqual(0);
      expect(outcome[failed]!.retryable).toBe(true);
      expect(outcome[failed]!.message).toMatch(/maximum bytes exceeded/);
      const landed = (await readStream(nats.url, 'FULL')).map((m) => m.id);
      // No gap: the stream holds a prefix of the order, though small messages would still fit.
      expect(landed.length).toBeGreaterThan(0);
      expect(landed).toEqual(ids(list).slice(0, landed.length));
      expect(landed.length % 2).toBe(0); // stopped at a large message: the small one after it did not get in
      // Part of the rejected batch is in the stream: those messages are in doubt for the publisher.
      expect(landed.length).toBeGreaterThan(failed * 4);
      const info = await jsm.streams.info('FULL');
      expect(info.state.bytes + 100).toBeLessThan(6000); // room for a small one was left

      // Still full: the re-send fails again, and still nothing gets out of order.
      await sink.close();
      await sink.connect(null);
      const again = await writeAll(sink, list.slice(failed));
      expect(again[0]).toBeInstanceOf(SinkError);
      expect((await readStream(nats.url, 'FULL')).map((m) => m.id)).toEqual(landed);

      await jsm.streams.update('FULL', { ...info.config, max_bytes: -1 });
      await new Promise((r) => setTimeout(r, 1100));
      const errors = await publishAll(sink, list.slice(failed), undefined, true);
      expect(errors).toEqual([]);
      expect((await readStream(nats.url, 'FULL')).map((m) => m.id)).toEqual(ids(list));
      expect(notices.join('\n')).toMatch(new RegExp(`${landed.length - failed * 4} messages written again after the reconnect were already in stream FULL`));
      expect(notices.join('\n')).not.toMatch(/not one this sink sent/);
    } finally {
      await nc.close();
    }
  });

  it('(6) a message over max_payload: not retryable, naming the message, its size and the limit', async () => {
    const small = await startNats({ maxPayload: 4096 });
    try {
      const sink = open(`${small.url}?stream=BIG`);
      await sink.connect(null);
      await sink.write(batch([message('big', 0, 3000)]));
      const err = await sink.write(batch([message('big', 1, 10), message('big', 2, 5000)])).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(SinkError);
      expect((err as SinkError).retryable).toBe(false);
      expect((err as SinkError).message).toMatch(/message big-2 is 5\d{3} bytes .*more than the 4096 bytes/);
      // Nothing of that batch was sent.
      expect((await readStream(small.url, 'BIG')).map((m) => m.id)).toEqual(['big-0']);
      // A body under the limit that the headers take over it: the same (the client would refuse it too).
      const near = message('big', 3, 4000);
      expect(near.body.length).toBeLessThan(4096);
      await sink.close();
      await sink.connect(null);
      const err2 = await sink.write(batch([near])).then(() => null, (e: unknown) => e);
      expect((err2 as SinkError).retryable).toBe(false);
      expect((err2 as SinkError).message).toMatch(/message big-3 is 4\d{3} bytes .*more than the 4096 bytes/);
    } finally {
      await small.stop();
    }
  });

  it('connect: retryable when unreachable; not for an authorization violation (no password shown) or without JetStream', async () => {
    const port = await freePort();
    const unreachable = await open(`nats://127.0.0.1:${port}`).connect(null).then(() => null, (e: unknown) => e);
    expect(unreachable).toBeInstanceOf(SinkError);
    expect((unreachable as SinkError).retryable).toBe(true);

    const auth = await spawnNats(['-js', '--user', 'app', '--pass', 'right-pw']);
    try {
      const ok = open(`nats://app:right-pw@127.0.0.1:${auth.port}?stream=AUTH`);
      await ok.connect(null);
      await ok.write(batch([message('auth', 0)]));
      const denied = await open(`nats://app:wrong-pw@127.0.0.1:${auth.port}`).connect(null).then(() => null, (e: unknown) => e);
      expect(denied).toBeInstanceOf(SinkError);
      expect((denied as SinkError).retryable).toBe(false);
      expect((denied as SinkError).message).toMatch(/authorization/i);
      expect((denied as SinkError).message).not.toContain('wrong-pw');
    } finally {
      await Promise.all(sinks.splice(0).map((s) => s.close()));
      await auth.stop();
    }

    const plain = await spawnNats([]);
    try {
      const noJs = await open(`nats://127.0.0.1:${plain.port}`).connect(null).then(() => null, (e: unknown) => e);
      expect(noJs).toBeInstanceOf(SinkError);
      expect((noJs as SinkError).retryable).toBe(false);
      expect((noJs as SinkError).message).toMatch(/JetStream is not enabled/);
    } finally {
      await Promise.all(sinks.splice(0).map((s) => s.close()));
      await plain.stop();
    }
  });

  it('close never rejects and can be called twice; a write before connect rejects', async () => {
    const sink = open(`${nats.url}?stream=CLOSE&subject=close.{command}`);
    await expect(sink.write(batch([message('close', 0)]))).rejects.toBeInstanceOf(SinkError);
    await sink.close();
    await sink.connect(null);
    await sink.write(batch([message('close', 1)]));
    await expect(sink.close()).resolves.toBeUndefined();
    await expect(sink.close()).resolves.toBeUndefined();
  });
});
