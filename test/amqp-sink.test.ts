// The AMQP sink against a real RabbitMQ (one node for the file): batches written without waiting arrive in
// order with their properties and resolve in order, the defaults (a durable topic exchange `redistap`,
// routing key redis.{db}.{command}) and the URL's own template, an unroutable message told once, a NACK
// rejected retryable, refusals that no retry can fix (password, vhost, exchange type or permission, TLS
// certificate) not retryable and never showing the password, a broker restart failing the pending write
// retryable and keeping what was confirmed, and a memory alarm holding publishing back (the channel's
// 'drain' is awaited) until it clears.
import { createRequire } from 'node:module';
import { copyFileSync, chownSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { inspect } from 'node:util';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { amqpSink } from '../src/pipeline/sinks/amqp-sink.js';
import { SinkError, type MessageRoute, type Sink, type SinkBatch, type SinkMessage } from '../src/pipeline/sink.js';
import { haveRabbitmq, startRabbitmq, type Rabbitmq } from './helpers/brokers.js';
import { haveOpenssl, TestCa } from './helpers/test-ca.js';

const SET: MessageRoute = { db: 0, command: 'set', class: 'string', partition: 0 };

function message(i: number, route: MessageRoute = SET, bodyBytes = 0): SinkMessage {
  const body = { i, pad: 'x'.repeat(bodyBytes) };
  return { id: `src:${i}`, route, body: new TextEncoder().encode(JSON.stringify(body)) };
}

function batch(from: number, count: number, route?: MessageRoute, bodyBytes?: number): SinkBatch {
  return { messages: Array.from({ length: count }, (_, k) => message(from + k, route, bodyBytes)), position: null };
}

const indexOfBody = (body: Buffer) => (JSON.parse(body.toString()) as { i: number }).i;
const indexOf = (m: ConsumeMessage) => indexOfBody(m.content);

/** A test-side client: declares, binds and reads queues. */
interface Client {
  conn: ChannelModel;
  ch: Channel;
  /** A queue bound to `exchange` (declared as the sink declares it) with `pattern`: durable when named. */
  queue(exchange: string, pattern: string, name?: string): Promise<string>;
  /** Reads messages from `queue` until `n` arrived (or `ms` passed: then the test fails with the count). */
  take(queue: string, n: number, ms?: number): Promise<ConsumeMessage[]>;
  close(): Promise<void>;
}

async function client(url: string): Promise<Client> {
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  return {
    conn, ch,
    async queue(exchange, pattern, name = '') {
      await ch.assertExchange(exchange, 'topic', { durable: true });
      const q = await ch.assertQueue(name, name ? { durable: true } : { exclusive: true });
      await ch.bindQueue(q.queue, exchange, pattern);
      return q.queue;
    },
    async take(queue, n, ms = 30_000) {
      const got: ConsumeMessage[] = [];
      let done!: () => void;
      const all = new Promise<void>((resolve) => { done = resolve; });
      const { consumerTag } = await ch.consume(queue, (m) => {
        if (m) got.push(m);
        if (got.length >= n) done();
      }, { noAck: true });
      const timer = setTimeout(done, ms);
      await all;
      clearTimeout(timer);
      await ch.cancel(consumerTag);
      if (got.length < n) throw new Error(`only ${got.length} of ${n} messages arrived in ${ms} ms`);
      return got;
    },
    async close() { await conn.close().catch(() => {}); },
  };
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function rejection(p: Promise<unknown>): Promise<SinkError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(SinkError);
  return err as SinkError;
}

/** Settles within `ms`? (true: resolved, false: still pending; a rejection throws). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([p.then(() => true), pending]);
  } finally {
    clearTimeout(timer);
  }
}

describe('amqpSink URLs', () => {
  const password = 'p4ss-w0rd-7q';
  const thrown = (url: string, options?: Parameters<typeof amqpSink>[1]) => {
    try {
      amqpSink(url, options);
    } catch (err) {
      expect(err).toBeInstanceOf(TypeError);
      expect(inspect(err)).not.toContain(password);
      return (err as Error).message;
    }
    throw new Error(`${url} was accepted`);
  };

  it('names the destination without credentials, with the vhost and exchange', () => {
    expect(amqpSink(`amqp://user:${password}@rabbit:5673/%2Fprod?exchange=cdc&heartbeat=10&frame_max=131072`).name)
      .toBe('amqp://rabbit:5673/%2Fprod exchange cdc');
    expect(amqpSink(`amqps://user:${password}@rabbit`, { exchange: 'x' }).name).toBe('amqps://rabbit exchange x');
    expect(amqpSink('amqp://[::1]:5672').name).toBe('amqp://[::1]:5672 exchange redistap');
  });

  it('refuses what cannot work with a TypeError that names it and never shows the password', () => {
    expect(thrown(`amqp://user:${password}@rabbit?exchange=x&prefetch=5`)).toMatch(/unknown query parameter "prefetch"/);
    expect(thrown(`amqp://user:${password}@rabbit?heartbeat=soon`)).toMatch(/heartbeat must be a whole number/);
    expect(thrown(`amqp://user:${password}@rabbit?routing-key=redis.{cmd}`)).toMatch(/unknown field \{cmd\}/);
    expect(thrown(`amqp://user:${password}@rab bit`)).toMatch(/not an AMQP URL: amqp:\/\/rab bit/);
    expect(thrown(`nats://user:${password}@rabbit`)).toMatch(/unsupported scheme nats:/);
    expect(thrown(`amqp://user:${password}@rabbit/a/b`)).toMatch(/unencoded "\/"/);
    expect(thrown(`amqp://user:${password}@rabbit`, { tls: { rejectUnauthorized: false } })).toMatch(/amqps:\/\//);
  });
});

describe.skipIf(!haveRabbitmq())('amqpSink against RabbitMQ', () => {
  let broker: Rabbitmq;
  let base: string; // amqp://guest:guest@127.0.0.1:PORT
  const sinks: Sink[] = [];
  const open = (url: string, options?: Parameters<typeof amqpSink>[1]) => {
    const sink = amqpSink(url, options);
    sinks.push(sink);
    return sink;
  };

  beforeAll(async () => {
    broker = await startRabbitmq();
    base = broker.url;
  }, 120_000);

  afterAll(async () => {
    // close() is bounded (it drops the socket after 2 s); the bound here keeps the broker from outliving a
    // broken one.
    try {
      await Promise.race([Promise.all(sinks.map((s) => s.close())), new Promise((r) => setTimeout(r, 10_000))]);
    } finally {
      await broker?.stop();
    }
  }, 120_000);

  it('publishes batches written without waiting in order, each confirmed, persistent, with its id and JSON body', async () => {
    const c = await client(base);
    try {
      const q = await c.queue('order', '#');
      const sink = open(`${base}?exchange=order`);
      expect(sink.storesPosition).toBe(false);
      await sink.connect(null);
      // 3 batches of 1,500: each more than the channel's buffer holds (1,024 frames), so each waits for
      // 'drain' in the middle; publishing them side by side would interleave them.
      // An empty 4th batch resolves after them, not at once: a publisher moves its position in that order.
      const sizes = [1500, 1500, 1500, 0];
      const resolved: number[] = [];
      const writes = sizes.map((n, b) => sink.write(batch(b * 1500, n)).then(() => { resolved.push(b); }));
      await Promise.all(writes);
      expect(resolved).toEqual([0, 1, 2, 3]);
      const got = await c.take(q, 4500);
      expect(got.map(indexOf)).toEqual(Array.from({ length: 4500 }, (_, i) => i));
      const first = got[0]!;
      expect(first.properties).toMatchObject({
        messageId: 'src:0', deliveryMode: 2, contentType: 'application/json', type: 'set',
        headers: { 'x-redistap-class': 'string', 'x-redistap-db': 0 },
      });
      expect(JSON.parse(first.content.toString())).toEqual({ i: 0, pad: '' });
      expect(got.every((m, i) => m.properties.messageId === `src:${i}` && m.properties.deliveryMode === 2)).toBe(true);
      expect(first.fields.routingKey).toBe('redis.0.set');
      // An empty batch resolves too; close() twice never rejects; a write after close() rejects retryable.
      await sink.write({ messages: [], position: null });
      await sink.close();
      await sink.close();
      expect((await rejection(sink.write(batch(0, 1)))).retryable).toBe(true);
    } finally {
      await c.close();
    }
  });

  it('declares the durable topic exchange redistap and routes by redis.{db}.{command}; a template in the URL is used', async () => {
    const c = await client(base);
    try {
      const sink = open(base);
      expect(sink.name).toBe(`amqp://127.0.0.1:${broker.port} exchange redistap`);
      await sink.connect(null);
      const exchanges = await broker.ctl('list_exchanges', 'name', 'type', 'durable', 'auto_delete');
      expect(exchanges.split('\n').map((l) => l.trim())).toContain('redistap\ttopic\ttrue\tfalse');
      const exact = await c.queue('redistap', 'redis.0.set');
      const noDb = await c.queue('redistap', 'redis.all.*');
      await sink.write({
        messages: [
          message(1, SET),
          message(2, { db: 5, command: 'hset', class: 'hash', partition: 0 }),
          message(3, { db: null, command: 'flushall', class: 'generic', partition: 0 }),
        ],
        position: null,
      });
      const [set] = await c.take(exact, 1);
      expect(set!.fields.routingKey).toBe('redis.0.set');
      expect(indexOf(set!)).toBe(1);
      const [flush] = await c.take(noDb, 1);
      expect(flush!.fields.routingKey).toBe('redis.all.flushall');
      expect(flush!.properties.headers).toEqual({ 'x-redistap-class': 'generic' });

      // The URL's exchange and template; amqplib's own parameters (heartbeat) pass through.
      const own = open(`${base}/%2F?exchange=tmpl&routing-key=cdc.{class}.{partition}&heartbeat=30`);
      expect(own.name).toBe(`amqp://127.0.0.1:${broker.port}/%2F exchange tmpl`);
      await own.connect(null);
      const q = await c.queue('tmpl', 'cdc.#');
      await own.write({ messages: [message(7, { db: 1, command: 'zadd', class: 'zset', partition: 3 })], position: null });
      const [m] = await c.take(q, 1);
      expect(m!.fields.routingKey).toBe('cdc.zset.3');
      // Options override the URL.
      const over = open(`${base}?exchange=tmpl&routing-key=no`, { exchange: 'tmpl2', routingKey: 'r.{db}' });
      expect(over.name).toMatch(/ exchange tmpl2$/);
      await over.connect(null);
      const q2 = await c.queue('tmpl2', 'r.*');
      await over.write({ messages: [message(8, { db: 4, command: 'set', class: 'string', partition: 0 })], position: null });
      expect((await c.take(q2, 1))[0]!.fields.routingKey).toBe('r.4');

      // An exchange that exists with another type: refused, not retryable, saying so.
      await c.ch.assertExchange('direct-one', 'direct', { durable: true });
      const wrong = open(`${base}?exchange=direct-one`);
      const err = await rejection(wrong.connect(null));
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/exists with another type/);
      expect(err.message).toMatch(/direct/);

      // Bad URLs fail when the sink is made.
      expect(() => amqpSink(`${base}?exchnage=x`)).toThrow(/unknown query parameter "exchnage"/);
      expect(() => amqpSink(`${base}?routing-key={dbb}`)).toThrow(TypeError);
      expect(() => amqpSink(`http://127.0.0.1:${broker.port}`)).toThrow(/unsupported scheme http:/);
      expect(() => amqpSink(base, { tls: {} })).toThrow(/amqps:\/\//);
    } finally {
      await c.close();
    }
  });

  it('tells once that the broker dropped an unroutable message, and still confirms it', async () => {
    const notices: string[] = [];
    const sink = open(`${base}?exchange=nobody`, { onNotice: (m) => notices.push(m) });
    await sink.connect(null);
    await sink.write(batch(0, 3));
    await sink.write(batch(3, 3));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/dropped a message with routing key "redis\.0\.set": no queue is bound/);
    await sink.close();
  });

  it('rejects a write retryable when the broker nacks a message (a full queue that rejects publishes), and every write after it', async () => {
    const c = await client(base);
    try {
      await c.ch.assertExchange('full', 'topic', { durable: true });
      await c.ch.assertQueue('full-q', { exclusive: true, arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
      await c.ch.bindQueue('full-q', 'full', '#');
      const sink = open(`${base}?exchange=full`);
      await sink.connect(null);
      await sink.write(batch(0, 2));
      const nacked = await rejection(sink.write(batch(2, 1)));
      expect(nacked.retryable).toBe(true);
      expect(nacked.message).toMatch(/nack/);
      expect((await rejection(sink.write(batch(3, 1)))).retryable).toBe(true);
      await sink.close();
    } finally {
      await c.close();
    }
  });

  it('refuses a wrong password, a missing vhost, a missing exchange it may not declare, or a closed port without showing the password; only the port is retryable', async () => {
    const password = 'Pw-s3cr3t-9f7a';
    await broker.ctl('add_user', 'tapper', password);
    await broker.ctl('set_permissions', '-p', '/', 'tapper', '.*', '.*', '.*');
    const hostPort = `127.0.0.1:${broker.port}`;

    // The right password works.
    const ok = open(`amqp://tapper:${password}@${hostPort}?exchange=auth`);
    expect(ok.name).not.toContain(password);
    await ok.connect(null);
    await ok.close();

    const wrongPassword = 'Wr0ng-pa55-x1';
    const bad = open(`amqp://tapper:${wrongPassword}@${hostPort}`);
    const refused = await rejection(bad.connect(null));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toMatch(/ACCESS_REFUSED/);
    expect(inspect(refused)).not.toContain(wrongPassword);

    const vhost = open(`amqp://tapper:${password}@${hostPort}/nowhere`);
    const notAllowed = await rejection(vhost.connect(null));
    expect(notAllowed.retryable).toBe(false);
    expect(notAllowed.message).toMatch(/NOT_ALLOWED.*nowhere|nowhere.*NOT_ALLOWED/);
    expect(inspect(notAllowed)).not.toContain(password);

    // A user who may write but not configure: publishes to an exchange someone else declared (checked
    // passively), and is refused, not retryable, for one that does not exist.
    await broker.ctl('add_user', 'writer', password);
    await broker.ctl('set_permissions', '-p', '/', 'writer', '^$', '.*', '.*');
    const c = await client(base);
    try {
      const q = await c.queue('prewired', '#');
      const writer = open(`amqp://writer:${password}@${hostPort}?exchange=prewired`);
      await writer.connect(null);
      await writer.write(batch(0, 3));
      expect((await c.take(q, 3)).map(indexOf)).toEqual([0, 1, 2]);
      await writer.close();
    } finally {
      await c.close();
    }
    const noExchange = open(`amqp://writer:${password}@${hostPort}?exchange=absent`);
    const absent = await rejection(noExchange.connect(null));
    expect(absent.retryable).toBe(false);
    expect(absent.message).toMatch(/may not declare the exchange "absent".*NOT_FOUND/);
    expect(inspect(absent)).not.toContain(password);

    const down = open(`amqp://tapper:${password}@127.0.0.1:${await closedPort()}`);
    const unreachable = await rejection(down.connect(null));
    expect(unreachable.retryable).toBe(true);
    expect(unreachable.message).toMatch(/ECONNREFUSED/);
    expect(inspect(unreachable)).not.toContain(password);
  });

  it('fails the pending write retryable when the broker restarts, and after connect() again publishes; confirmed messages survive', async () => {
    let c = await client(base);
    const q = await c.queue('durable-x', '#', 'kept');
    await c.close();
    const sink = open(`${base}?exchange=durable-x`);
    await sink.connect(null);
    await sink.write(batch(0, 100));
    const confirmed = new Set<number>(Array.from({ length: 100 }, (_, i) => i));

    // Keep writing while the broker stops: a pending write (or the next one) rejects, retryable.
    const restarted = broker.restart();
    let next = 100;
    let failure: SinkError | undefined;
    while (!failure) {
      const from = next;
      next += 10;
      try {
        await sink.write(batch(from, 10));
        for (let i = from; i < from + 10; i++) confirmed.add(i);
      } catch (err) {
        expect(err).toBeInstanceOf(SinkError);
        failure = err as SinkError;
      }
    }
    expect(failure.retryable).toBe(true);
    expect(failure.message).toMatch(/CONNECTION_FORCED|ECONNRESET|closed/);
    await sink.close();
    // While the broker is down (or still booting), connecting fails retryable.
    const whileDown = await sink.connect(null).then(() => null, (e: unknown) => e);
    if (whileDown !== null) expect((whileDown as SinkError).retryable).toBe(true);
    await restarted;

    await sink.close();
    await sink.connect(null);
    await sink.write(batch(100_000, 5));
    for (let i = 100_000; i < 100_005; i++) confirmed.add(i);
    await sink.close();

    // The durable exchange, queue and binding and every confirmed persistent message outlived the restart.
    c = await client(base);
    try {
      const depth = (await c.ch.checkQueue(q)).messageCount;
      const got = (await c.take(q, depth)).map(indexOf);
      for (const i of confirmed) expect(got).toContain(i);
      expect(got).toEqual([...got].sort((a, b) => a - b));
    } finally {
      await c.close();
    }
  }, 180_000);

  it.skipIf(!haveOpenssl())('connects with amqps:// and the TLS options; a certificate it cannot verify, or a plain-text port, is not retryable', async () => {
    // A TLS listener: the node's config file (its directory is the broker's), then a restart.
    const ca = new TestCa();
    try {
      ca.issue('server', '/CN=localhost', ['subjectAltName=DNS:localhost,IP:127.0.0.1', 'extendedKeyUsage=serverAuth']);
      const owner = statSync(broker.dir);
      for (const f of ['ca.crt', 'server.crt', 'server.key']) {
        copyFileSync(ca.path(f), join(broker.dir, f));
        chownSync(join(broker.dir, f), owner.uid, owner.gid);
      }
      const tlsPort = await closedPort();
      writeFileSync(join(broker.dir, 'rabbitmq.conf'), [
        `listeners.ssl.default = 127.0.0.1:${tlsPort}`,
        `ssl_options.cacertfile = ${join(broker.dir, 'ca.crt')}`,
        `ssl_options.certfile = ${join(broker.dir, 'server.crt')}`,
        `ssl_options.keyfile = ${join(broker.dir, 'server.key')}`,
        'ssl_options.verify = verify_none',
        'ssl_options.fail_if_no_peer_cert = false',
        '',
      ].join('\n'));
      await broker.restart();

      const c = await client(base);
      try {
        const q = await c.queue('tls', '#');
        const sink = open(`amqps://guest:guest@localhost:${tlsPort}?exchange=tls`, { tls: { ca: ca.file('ca.crt') } });
        expect(sink.name).toBe(`amqps://localhost:${tlsPort} exchange tls`);
        await sink.connect(null);
        await sink.write(batch(0, 3));
        expect((await c.take(q, 3)).map(indexOf)).toEqual([0, 1, 2]);
        await sink.close();
      } finally {
        await c.close();
      }
      // Without the CA: the certificate does not verify.
      const untrusted = await rejection(open(`amqps://guest:guest@localhost:${tlsPort}`).connect(null));
      expect(untrusted.retryable).toBe(false);
      expect(untrusted.message).toMatch(/TLS/);
      // amqps:// to the plain AMQP port.
      const plain = await rejection(open(`amqps://guest:guest@127.0.0.1:${broker.port}`, { tls: { ca: ca.file('ca.crt') } }).connect(null));
      expect(plain.retryable).toBe(false);
    } finally {
      ca.remove();
    }
  }, 120_000);

  it('waits while the broker blocks publishing (memory alarm), says so, and publishes everything once it clears', async () => {
    const c = await client(base);
    const notices: string[] = [];
    const proto = createRequire(import.meta.url)('amqplib/lib/channel_model.js').ConfirmChannel.prototype;
    const publish = vi.spyOn(proto, 'publish');
    try {
      const q = await c.queue('blocking', '#');
      const sink = open(`${base}?exchange=blocking`, { onNotice: (m) => notices.push(m) });
      await sink.connect(null);
      await broker.ctl('set_vm_memory_high_watermark', '0.0001');
      // 8,000 messages of 4 KiB: 32 MiB, more than the socket's buffers hold while the broker reads nothing.
      const total = 8000;
      const write = sink.write(batch(0, total, SET, 4096));
      write.catch(() => {});
      expect(await settlesWithin(write, 3000)).toBe(false);
      expect(notices.filter((n) => n.startsWith('the broker blocks publishing: '))).toHaveLength(1);
      // Publishing waited for 'drain' instead of pushing the whole batch into memory.
      const publishedWhileBlocked = publish.mock.calls.length;
      expect(publishedWhileBlocked).toBeGreaterThan(0);
      expect(publishedWhileBlocked).toBeLessThan(total);

      // Closing while blocked (the broker reads no close) neither hangs nor rejects; its write rejects, retryable.
      const other = open(`${base}?exchange=blocking-other`);
      await other.connect(null);
      const stuck = other.write(batch(100_000, 2000, SET, 4096));
      stuck.catch(() => {});
      expect(await settlesWithin(stuck, 500)).toBe(false);
      const closing = Date.now();
      await other.close();
      expect(Date.now() - closing).toBeLessThan(5000);
      expect((await rejection(stuck)).retryable).toBe(true);

      await broker.ctl('set_vm_memory_high_watermark', '0.4');
      await write;
      expect(publish.mock.calls.filter((call) => call[0] === 'blocking' && (call[2] as Buffer).length > 4096 && indexOfBody(call[2] as Buffer) < total)).toHaveLength(total);
      expect(notices).toEqual([expect.stringMatching(/^the broker blocks publishing: /), 'the broker accepts publishing again']);
      const got = await c.take(q, total);
      expect(got.map(indexOf)).toEqual(Array.from({ length: total }, (_, i) => i));
      await sink.close();
    } finally {
      publish.mockRestore();
      await broker.ctl('set_vm_memory_high_watermark', '0.4').catch(() => {});
      await c.close();
    }
  }, 120_000);
});
