// `redistap publish` end to end, per sink (RabbitMQ, NATS JetStream, a Redis stream), in the same run:
//
//   publish:  a source redis-server under redis-benchmark (SET, pipelined) and the library's publish()
//             (snapshot 'none') sending its writes to the sink: events/s from the first write handed to the
//             sink to the last one confirmed, and the lag (status.lag) during the load;
//   ceiling:  a plain client sending the same number of messages, the same bodies, to the same broker as a
//             careful user would, with delivery confirmation and a bounded window of unconfirmed messages;
//   ratio:    publish ÷ ceiling (goal ≥ 0.8); medians of --runs, publish and ceiling alternating.
//
//   node bench/publish.mjs [--sinks amqp,nats,redis] [--requests N] [--runs N] [--amqp-url URL] ...
//
// See bench/README.md ("Publishing to brokers") and --help.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import inspector from 'node:inspector/promises';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { environmentLine, fail, fmt, median, parseOptions, positiveInt, printRows, sleep, writeResults } from './common.mjs';
import {
  benchmarkSets, cleanupOnExit, freePort, info, lagAt, makeTempDir, now, REDIS_SERVER, redisVersion, removeTempDir,
  replOffset, requireRedis, runEnvironment, setCalls as setCallsOf, skipReply, startSampler, startServer, stopProcess,
} from './live-servers.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH_DIR);
const SINKS = ['amqp', 'nats', 'redis'];
/** redis-benchmark -n per sink unless --requests: the brokers confirm persistent messages ~10x slower than Redis takes XADDs. */
const DEFAULT_REQUESTS = { amqp: 40_000, nats: 60_000, redis: 400_000 };

const HELP = `redistap publish vs each broker's own ceiling: events/s, lag, and the ratio (goal >= 0.8).

Usage: node bench/publish.mjs [options]

  --sinks LIST       amqp, nats, redis, comma-separated (default: all three)
  --runs N           timed rounds per sink, publish and ceiling alternating who goes first (default 5;
                     plus one untimed warm-up round, whose SET events are the ceiling's messages)

 publish (a source redis-server under redis-benchmark, publish() with snapshot 'none' into the sink):
  --requests N       redis-benchmark -n (default per sink, for publish runs of ~4-8 s on a 2-core VM:
                     amqp 40000, nats 60000, redis 400000)
  --pipeline N       redis-benchmark -P (default 64)
  --keyspace N       redis-benchmark -r (default 100000)
  --data-size N      redis-benchmark -d (default 32)

 ceiling (a plain client: amqplib ConfirmChannel, @nats-io/jetstream js.publish with msgID, pipelined
 MULTI/XADD.../EXEC on a raw socket):
  --window N         unconfirmed messages in flight at most (default 10000)

 brokers (default: started here, on free 127.0.0.1 ports in temp dirs, with test/helpers/brokers.ts):
  --amqp-url URL     use this running RabbitMQ instead (exchange redistap-bench and queue redistap-bench are
                     declared, purged between runs and deleted at the end)
  --nats-url URL     use this running nats-server (JetStream on) instead (stream REDISTAP_BENCH on
                     redistapbench.>, purged between runs and deleted at the end)

  --cpu-prof DIR     write a V8 CPU profile of each sink's last timed publish run to DIR (this process only)
  --no-save          do not write bench/results/publish-<timestamp>.json
  -h, --help         this text

Needs redis-server and redis-benchmark in PATH, the built library (npm run build), and, unless the URLs are
given, RabbitMQ (Debian's rabbitmq-server) and nats-server. Everything started here is stopped by PID and its
temp dir removed at the end, on errors and on Ctrl-C.`;

const opts = parseOptions({
  sinks: { type: 'string', default: SINKS.join(',') },
  runs: { type: 'string', default: '5' },
  requests: { type: 'string' },
  pipeline: { type: 'string', default: '64' },
  keyspace: { type: 'string', default: '100000' },
  'data-size': { type: 'string', default: '32' },
  window: { type: 'string', default: '10000' },
  'amqp-url': { type: 'string' },
  'nats-url': { type: 'string' },
  'cpu-prof': { type: 'string' },
  'no-save': { type: 'boolean', default: false },
}, HELP);
const sinks = [...new Set(opts.sinks.split(',').map((s) => s.trim()).filter(Boolean))];
if (sinks.length === 0 || sinks.some((s) => !SINKS.includes(s))) fail(`--sinks takes ${SINKS.join(', ')} (comma-separated); got ${opts.sinks}`);
const cfg = {
  runs: positiveInt('--runs', opts.runs),
  requests: opts.requests === undefined ? null : positiveInt('--requests', opts.requests),
  pipeline: positiveInt('--pipeline', opts.pipeline),
  keyspace: positiveInt('--keyspace', opts.keyspace),
  dataSize: positiveInt('--data-size', opts['data-size']),
  window: positiveInt('--window', opts.window),
};

requireRedis({ benchmark: true });
for (const f of ['dist/pipeline/publisher.js', 'dist/pipeline/sink-url.js']) {
  if (!fs.existsSync(path.join(ROOT, f))) fail(`${f} missing: run \`npm run build\` first`);
}
const { publish } = await import(pathToFileURL(path.join(ROOT, 'dist/pipeline/publisher.js')).href);
const { sinkFromUrl } = await import(pathToFileURL(path.join(ROOT, 'dist/pipeline/sink-url.js')).href);
const { default: amqp } = await import('amqplib');
const { connect: natsConnect } = await import('@nats-io/transport-node');
const { jetstream, jetstreamManager, StorageType } = await import('@nats-io/jetstream');

// Names the bench uses on the brokers: apart from redistap's defaults, so a running broker's data is not touched.
const AMQP_EXCHANGE = 'redistap-bench';
const AMQP_QUEUE = 'redistap-bench';
const NATS_STREAM = 'REDISTAP_BENCH';
const NATS_SUBJECT = 'redistapbench.{db}.{command}';
const REDIS_STREAM = 'redistap:bench';
/** The publisher's batches: at most this many messages (publisher.ts BATCH_MAX_MESSAGES); the Redis ceiling's too. */
const BATCH_MESSAGES = 1000;

// ---------------------------------------------------------------- processes, brokers and temp dirs, cleaned up on any exit

const brokers = new Set(); // started by brokers.ts: {stop()}

// The brokers stop by their PIDs (RabbitMQ runs in a process group of its own: Ctrl-C does not reach it).
cleanupOnExit({ describe: () => ` and ${brokers.size} broker(s)`, stop: () => Promise.allSettled([...brokers].map((b) => b.stop())) });

/** Starts redis-server on a free 127.0.0.1 port in a temp dir, nothing saved; resolves once it answers. */
async function startRedis(tag, extra = []) {
  const dir = makeTempDir(tag);
  const port = await freePort();
  const server = await startServer(port, dir, extra, { keepClient: true });
  server.url = `redis://127.0.0.1:${port}`;
  return server;
}

async function stopRedis(server) {
  server.client?.close();
  await stopProcess(server);
  removeTempDir(server.dir);
}

/**
 * test/helpers/brokers.ts (startRabbitmq, startNats), compiled here with esbuild and imported from a data:
 * URL: the bench starts brokers exactly as the tests do, without a copy of that code.
 */
async function brokerHelpers() {
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: [path.join(ROOT, 'test/helpers/brokers.ts')],
    bundle: true, platform: 'node', format: 'esm', write: false, packages: 'external', logLevel: 'silent',
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
}

/** `url` with these query parameters set. */
function withParams(url, params) {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

// ---------------------------------------------------------------- the sinks: their URLs, setup and reset between runs

/**
 * One destination per sink: the URL publish() gets, how to reset it before a run, the ceiling's client,
 * and how to clean up. The broker is started here unless a URL was given.
 */
async function prepareAmqp(helpers) {
  let broker = null;
  let url = opts['amqp-url'];
  if (!url) {
    process.stderr.write('starting RabbitMQ (5-15 s)... ');
    broker = await helpers.startRabbitmq();
    brokers.add(broker);
    url = broker.url;
    process.stderr.write(`on 127.0.0.1:${broker.port}\n`);
  }
  // A durable queue bound to every routing key: the broker stores (and fsyncs) every persistent message before
  // it confirms it, as it would for a consumer. Without a queue it confirms and drops them.
  const admin = await amqp.connect(url);
  const version = admin.connection.serverProperties?.version;
  const channel = await admin.createChannel();
  await channel.assertExchange(AMQP_EXCHANGE, 'topic', { durable: true });
  await channel.assertQueue(AMQP_QUEUE, { durable: true });
  await channel.bindQueue(AMQP_QUEUE, AMQP_EXCHANGE, '#');
  return {
    kind: 'amqp', label: 'RabbitMQ', version: `RabbitMQ ${version ?? '?'}`, broker,
    sinkUrl: withParams(url, { exchange: AMQP_EXCHANGE }),
    reset: async () => { await channel.purgeQueue(AMQP_QUEUE); },
    stored: async () => (await channel.checkQueue(AMQP_QUEUE)).messageCount,
    ceiling: (messages, ids) => amqpCeiling(url, messages, ids),
    close: async () => {
      if (opts['amqp-url']) {
        await channel.deleteQueue(AMQP_QUEUE).catch(() => {});
        await channel.deleteExchange(AMQP_EXCHANGE).catch(() => {});
      }
      await admin.close().catch(() => {});
      await stopBroker(broker);
    },
  };
}

async function prepareNats(helpers) {
  let broker = null;
  let url = opts['nats-url'];
  if (!url) {
    broker = await helpers.startNats();
    brokers.add(broker);
    url = broker.url;
  }
  const nc = await natsConnect({ servers: new URL(url).host || url, ...natsAuth(url) });
  const jsm = await jetstreamManager(nc);
  // The stream the sink would create (file storage), made here so that the ceiling may go first.
  const subjects = `${NATS_SUBJECT.split('.')[0]}.>`;
  try {
    await jsm.streams.info(NATS_STREAM);
  } catch {
    await jsm.streams.add({ name: NATS_STREAM, subjects: [subjects], storage: StorageType.File });
  }
  return {
    kind: 'nats', label: 'NATS JetStream', version: `nats-server ${nc.info?.version ?? '?'}`, broker,
    sinkUrl: withParams(url, { stream: NATS_STREAM, subject: NATS_SUBJECT }),
    reset: async () => { await jsm.streams.purge(NATS_STREAM); },
    stored: async () => (await jsm.streams.info(NATS_STREAM)).state.messages,
    ceiling: (messages, ids) => natsCeiling(url, messages, ids),
    close: async () => {
      if (opts['nats-url']) await jsm.streams.delete(NATS_STREAM).catch(() => {});
      await nc.close().catch(() => {});
      await stopBroker(broker);
    },
  };
}

/** Stops a broker brokers.ts started (by its PIDs), if one was. */
async function stopBroker(broker) {
  if (!broker) return;
  try {
    await broker.stop();
  } catch (err) {
    console.error(`stopping a broker: ${err.message}`);
  }
  brokers.delete(broker);
}

function natsAuth(url) {
  const u = new URL(url);
  if (u.username && u.password) return { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) };
  if (u.username) return { token: decodeURIComponent(u.username) };
  return {};
}

async function prepareRedis() {
  // A server of its own (not the source's: its XADDs would come back in the source's stream).
  const server = await startRedis('sink');
  const version = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/ sha=.*$/, '');
  return {
    kind: 'redis', label: 'Redis stream', version, server,
    sinkUrl: `${server.url}?stream=${encodeURIComponent(REDIS_STREAM)}`,
    reset: async () => { await server.client.call('FLUSHALL'); },
    stored: async () => server.client.call('XLEN', REDIS_STREAM),
    ceiling: (messages, ids) => redisCeiling(server.port, messages, ids),
    close: async () => { await stopRedis(server); },
  };
}

// ---------------------------------------------------------------- publish: the library under a redis-benchmark load

/**
 * The sink, with a record of what it was handed and confirmed: the SET events (their count and body bytes),
 * when the first was handed over and when the last confirmation came. `capture`: keep the SET messages too.
 */
function recordingSink(inner, rec) {
  const sink = {
    name: inner.name,
    storesPosition: inner.storesPosition,
    connect: (route) => inner.connect(route),
    close: () => inner.close(),
    write(batch) {
      let sets = 0;
      let bytes = 0;
      for (const m of batch.messages) {
        if (m.route.command !== 'set') continue;
        sets++;
        bytes += m.body.length;
        rec.capture?.add(m);
      }
      if (sets > 0) rec.tFirstWrite ??= now();
      rec.batches++;
      const written = inner.write(batch);
      written.then(() => {
        rec.confirmedSets += sets;
        rec.confirmedBytes += bytes;
        rec.tLastConfirm = now();
        if (batch.position && batch.position.offset > rec.position[0]) rec.position[0] = batch.position.offset;
      }, () => {});
      return written;
    },
  };
  if (inner.readPosition) sink.readPosition = () => inner.readPosition();
  if (inner.ownsKey) sink.ownsKey = (db, key) => inner.ownsKey(db, key);
  return sink;
}

async function publishRun(source, dest, { capture = false, profile = null } = {}) {
  const client = source.client;
  await client.call('FLUSHALL');
  await client.call('CONFIG', 'RESETSTAT');
  await dest.reset();
  // The confirmed position, in shared memory for the sampler thread.
  const shared = new SharedArrayBuffer(8);
  const rec = { capture: capture ? new Captured() : null, tFirstWrite: null, tLastConfirm: null, confirmedSets: 0, confirmedBytes: 0, batches: 0, position: new Float64Array(shared) };
  const statuses = [];
  const warnings = [];
  const sink = recordingSink(sinkFromUrl(dest.sinkUrl, { onNotice: (m) => warnings.push(`notice: ${m}`) }), rec);
  const publisher = publish({
    source: source.url, sink, snapshot: 'none',
    ...(sink.storesPosition ? {} : { positionFile: null }),
    onEvent: (e) => {
      if (e.type === 'status') statuses.push({ t: now(), bytes: e.status.lag.bytes, ms: e.status.lag.ms });
      else if (e.type === 'warning') warnings.push(e.message);
    },
  });
  let session = null;
  let sampler = null;
  try {
    // Streaming, and its full-sync-start/-end confirmed: the load starts on an idle pipeline.
    await waitFor(() => publisher.status.phase === 'streaming' && publisher.status.confirmed.events >= 2 && publisher.status.lag.bytes === 0,
      30_000, () => `publish did not start streaming within 30 s (phase ${publisher.status.phase}; ${warnings.slice(-3).join('; ')})`, publisher);
    if (profile) {
      session = new inspector.Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    sampler = await startSampler(source.port, shared, { intervalMs: 20, sampleMs: 100 });
    const cpu0 = process.cpuUsage();
    const tLoadStart = now();
    sampler.start();
    const bench = await benchmarkSets(source.port, { ...cfg, requests: dest.requests });
    const tLoadEnd = now();
    const endOffset = await replOffset(client);
    const setCalls = await setCallsOf(client); // what the source executed
    // Done when the confirmed position reaches the source's offset (or every SET is confirmed: a PING the
    // source sends its replicas moves its offset, and no event carries the position past it).
    await waitFor(() => publisher.status.confirmed.offset >= endOffset || rec.confirmedSets >= setCalls,
      300_000, () => `publish did not confirm the load within 300 s (confirmed ${rec.confirmedSets} of ${setCalls} SETs)`, publisher, 1);
    const cpu = process.cpuUsage(cpu0);
    const { records, samples } = await sampler.stop();
    sampler = null;
    const behind = samples.filter((x) => x.t <= rec.tLastConfirm).map((x) => lagAt(x, records));
    if (session) {
      const { profile: p } = await session.post('Profiler.stop');
      fs.mkdirSync(profile.dir, { recursive: true });
      profile.file = path.join(profile.dir, `publish-${dest.kind}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
      fs.writeFileSync(profile.file, JSON.stringify(p));
    }
    const during = statuses.filter((s) => s.t >= tLoadStart && s.t <= rec.tLastConfirm);
    const seconds = (rec.tLastConfirm - rec.tFirstWrite) / 1000;
    const reqPerSec = bench.setsPerSec;
    return {
      events: rec.confirmedSets, setCalls, seconds, eventsPerSec: rec.confirmedSets / seconds,
      avgBodyBytes: rec.confirmedBytes / rec.confirmedSets, batches: rec.batches,
      // How long redis-benchmark wrote, by its own count (its exit is seen late when the main thread is busy).
      loadSeconds: reqPerSec ? setCalls / reqPerSec : null,
      benchmarkExitSeenMs: tLoadEnd - tLoadStart, firstWriteAfterLoadStartMs: rec.tFirstWrite - tLoadStart,
      catchUpMs: reqPerSec ? rec.tLastConfirm - tLoadStart - (1000 * setCalls) / reqPerSec : null,
      benchmarkSetsPerSec: reqPerSec,
      streamBytes: endOffset, cpuSeconds: (cpu.user + cpu.system) / 1e6,
      lagSamples: during.length, lagMs: maxMedian(during.map((s) => s.ms)), lagBytes: maxMedian(during.map((s) => s.bytes)),
      lagSeries: during.map((s) => ({ t: Math.round(s.t - tLoadStart), ms: s.ms, bytes: s.bytes })),
      behindSamples: behind.length,
      behindMs: maxMedian(behind.map((x) => x.ms)), behindBytes: maxMedian(behind.map((x) => x.bytes)),
      behindSeries: behind.map((x) => ({ t: Math.round(x.t - tLoadStart), ms: Math.round(x.ms * 10) / 10, bytes: x.bytes })),
      warnings: warnings.slice(0, 10),
      profile: profile?.file ?? null,
      captured: rec.capture?.finish(),
    };
  } finally {
    await sampler?.terminate();
    if (session) session.disconnect();
    publisher.stop();
    await publisher.done.catch((err) => { warnings.push(`publish ended with: ${err.message}`); });
  }
}

// ---------------------------------------------------------------- ceilings: plain clients, bounded windows

/**
 * The SET messages of a publish run, kept compact (one buffer of bodies, typed arrays): a few hundred
 * thousand small objects would stay live through the later runs and slow down every garbage collection.
 */
class Captured {
  chunks = [];
  chunk = Buffer.allocUnsafe(16 << 20);
  used = 0;
  ends = [];
  offsets = [];
  routeIndex = [];
  routes = new Map();

  add(m) {
    if (this.used + m.body.length > this.chunk.length) {
      this.chunks.push(this.chunk.subarray(0, this.used));
      this.chunk = Buffer.allocUnsafe(Math.max(16 << 20, m.body.length));
      this.used = 0;
    }
    this.chunk.set(m.body, this.used);
    this.used += m.body.length;
    this.ends.push((this.ends.at(-1) ?? 0) + m.body.length);
    // The id is <replid>-<offset>-<seq>: a ceiling sends <its own replid>-<offset>-<seq>, as long.
    this.offsets.push(m.id.slice(m.id.indexOf('-') + 1));
    const key = JSON.stringify(m.route);
    if (!this.routes.has(key)) this.routes.set(key, this.routes.size);
    this.routeIndex.push(this.routes.get(key));
  }

  finish() {
    this.chunks.push(this.chunk.subarray(0, this.used));
    const routes = [...this.routes.keys()].map((k) => JSON.parse(k));
    return new CapturedMessages(Buffer.concat(this.chunks), Float64Array.from(this.ends), this.offsets, Uint16Array.from(this.routeIndex), routes);
  }
}

class CapturedMessages {
  constructor(bodies, ends, idTails, routeIndex, routes) {
    Object.assign(this, { bodies, ends, idTails, routeIndex, routes, count: ends.length });
  }

  body(i) {
    return this.bodies.subarray(i === 0 ? 0 : this.ends[i - 1], this.ends[i]);
  }

  route(i) {
    return this.routes[this.routeIndex[i]];
  }

  get bodyBytes() {
    return this.ends[this.count - 1];
  }
}

/**
 * Ids for a ceiling run: each captured message's id (`<replid>-<offset>-<seq>`) with a random replid, so
 * they have the same length, never repeat a publish run's (NATS would drop them as duplicates) nor each other.
 */
function ceilingIds(messages) {
  const tag = randomBytes(20).toString('hex');
  return (i) => `${tag}-${messages.idTails[i]}`;
}

/** A window of `size` unconfirmed messages: take() resolves once one is free; give() frees one. */
function windowOf(size) {
  let free = size;
  let waiter = null;
  return {
    take() {
      if (free > 0) { free--; return undefined; }
      return new Promise((resolve) => { waiter = resolve; }).then(() => { free--; });
    },
    give() {
      free++;
      const w = waiter;
      waiter = null;
      w?.();
    },
  };
}

/**
 * Calls send(i) for i = 0, step, 2 * step, ... below `count`, each once the window has room (win.take()),
 * until failed() says a confirmation failed; awaits what send returns when it returns something.
 */
async function eachInWindow(count, win, failed, send, step = 1) {
  for (let i = 0; i < count && !failed(); i += step) {
    const w = win.take();
    if (w) await w;
    const r = send(i);
    if (r) await r;
  }
}

/** Runs a ceiling's send() (which returns once all its `count` messages are confirmed): its rate and this process's CPU time. */
async function timedCeiling(count, send) {
  const cpu0 = process.cpuUsage();
  const t0 = now();
  await send();
  const t1 = now();
  const cpu = process.cpuUsage(cpu0);
  return { messages: count, seconds: (t1 - t0) / 1000, messagesPerSec: count / ((t1 - t0) / 1000), cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** amqplib: a ConfirmChannel, persistent publishes with the sink's properties, --window unconfirmed at most. */
async function amqpCeiling(url, messages, ids) {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    const win = windowOf(cfg.window);
    let failure = null;
    let confirmed = 0;
    let allConfirmed;
    const done = new Promise((resolve) => { allConfirmed = resolve; });
    return await timedCeiling(messages.count, async () => {
      await eachInWindow(messages.count, win, () => failure, (i) => {
        const route = messages.route(i);
        const ok = ch.publish(AMQP_EXCHANGE, `redis.${route.db}.${route.command}`, messages.body(i), {
          persistent: true, messageId: ids(i), contentType: 'application/json', type: route.command,
          headers: { 'x-redistap-class': route.class, 'x-redistap-db': route.db },
        }, (err) => {
          if (err) failure ??= err;
          win.give();
          if (++confirmed === messages.count) allConfirmed();
        });
        return ok ? undefined : new Promise((resolve) => ch.once('drain', resolve));
      });
      if (failure) throw failure;
      await done;
    });
  } finally {
    await conn.close().catch(() => {});
  }
}

/** @nats-io/jetstream: js.publish with a msgID per message, --window pending acks at most. */
async function natsCeiling(url, messages, ids) {
  const nc = await natsConnect({ servers: new URL(url).host || url, ...natsAuth(url) });
  try {
    const js = jetstream(nc);
    const win = windowOf(cfg.window);
    let failure = null;
    const acks = [];
    return await timedCeiling(messages.count, async () => {
      await eachInWindow(messages.count, win, () => failure, (i) => {
        const route = messages.route(i);
        const id = ids(i);
        acks.push(js.publish(`redistapbench.${route.db}.${route.command}`, messages.body(i), { msgID: id })
          .then((ack) => { if (ack.duplicate) failure ??= new Error(`duplicate ${id}`); }, (err) => { failure ??= err; })
          .finally(() => win.give()));
      });
      await Promise.all(acks);
      if (failure) throw failure;
    });
  } finally {
    await nc.close().catch(() => {});
  }
}

/**
 * A raw socket: MULTI, an XADD per message (id and event fields, as the sink writes them), EXEC, in blocks
 * of the publisher's batch size (1000 messages), pipelined with --window messages unconfirmed at most.
 */
async function redisCeiling(port, messages, ids) {
  const socket = await new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => { s.off('error', reject); s.setNoDelay(true); resolve(s); });
    s.once('error', reject);
  });
  try {
    const win = windowOf(Math.max(1, Math.ceil(cfg.window / BATCH_MESSAGES)));
    const blocks = []; // replies due per block, in order
    let failure = null;
    let pending = Buffer.alloc(0);
    let finished;
    const allDone = new Promise((resolve) => { finished = resolve; });
    let blocksLeft = Math.ceil(messages.count / BATCH_MESSAGES);
    socket.on('data', (d) => {
      pending = pending.length ? Buffer.concat([pending, d]) : d;
      let at = 0;
      while (blocks.length > 0) {
        const end = skipReply(pending, at);
        if (end < 0) break;
        if (pending[at] === 0x2d) failure ??= new Error(pending.toString('latin1', at, Math.min(end, at + 200)));
        at = end;
        if (--blocks[0] === 0) {
          blocks.shift();
          win.give();
          if (--blocksLeft === 0) finished();
        }
      }
      pending = pending.subarray(at);
    });
    socket.on('error', (err) => { failure ??= err; finished(); });
    const multi = Buffer.from('*1\r\n$5\r\nMULTI\r\n');
    const exec = Buffer.from('*1\r\n$4\r\nEXEC\r\n');
    const head = Buffer.from(`*7\r\n$4\r\nXADD\r\n$${Buffer.byteLength(REDIS_STREAM)}\r\n${REDIS_STREAM}\r\n$1\r\n*\r\n$2\r\nid\r\n`);
    return await timedCeiling(messages.count, async () => {
      await eachInWindow(messages.count, win, () => failure, (i) => {
        const parts = [multi];
        const end = Math.min(messages.count, i + BATCH_MESSAGES);
        for (let j = i; j < end; j++) {
          const body = messages.body(j);
          const id = ids(j);
          parts.push(head, Buffer.from(`$${id.length}\r\n${id}\r\n$5\r\nevent\r\n$${body.length}\r\n`), body, CRLF);
        }
        parts.push(exec);
        blocks.push(end - i + 2); // +OK, +QUEUED each, the EXEC array
        socket.write(Buffer.concat(parts));
      }, BATCH_MESSAGES);
      await allDone;
      if (failure) throw failure;
    });
  } finally {
    socket.destroy();
  }
}
const CRLF = Buffer.from('\r\n');

// ---------------------------------------------------------------- one sink: warm-up, then alternating rounds

async function benchSink(source, dest) {
  const result = { sink: dest.kind, label: dest.label, version: dest.version, sinkUrl: redact(dest.sinkUrl), requests: dest.requests, publish: [], ceiling: [], order: [] };
  process.stderr.write(`${dest.label}: warm-up`);
  const warm = await publishRun(source, dest, { capture: true });
  const messages = warm.captured;
  delete warm.captured;
  if (messages.count === 0) throw new Error('the warm-up publish run confirmed no SET events');
  result.warmUp = { publish: warm };
  result.messages = messages.count;
  result.capturedAvgBodyBytes = messages.bodyBytes / messages.count;
  await dest.reset();
  result.warmUp.ceiling = await dest.ceiling(messages, ceilingIds(messages));
  for (let rep = 1; rep <= cfg.runs; rep++) {
    process.stderr.write(` ${rep}`);
    const order = rep % 2 === 1 ? ['ceiling', 'publish'] : ['publish', 'ceiling'];
    result.order.push(order[0]);
    for (const which of order) {
      if (which === 'publish') {
        const profile = opts['cpu-prof'] && rep === cfg.runs ? { dir: path.resolve(opts['cpu-prof']) } : null;
        const r = await publishRun(source, dest, { profile });
        delete r.captured;
        if (r.events !== r.setCalls) r.warnings.push(`MISMATCH: ${r.events} SET events confirmed, the source executed ${r.setCalls} SETs`);
        result.publish.push(r);
      } else {
        await dest.reset();
        const r = await dest.ceiling(messages, ceilingIds(messages));
        r.stored = await dest.stored();
        if (r.stored !== messages.count) r.warning = `MISMATCH: the ceiling sent ${messages.count} messages, the destination holds ${r.stored}`;
        result.ceiling.push(r);
      }
    }
  }
  process.stderr.write('\n');
  const m = (xs, f) => median(xs.map(f).filter((v) => v != null));
  result.publishEventsPerSec = m(result.publish, (r) => r.eventsPerSec);
  result.ceilingMessagesPerSec = m(result.ceiling, (r) => r.messagesPerSec);
  result.ratio = result.publishEventsPerSec / result.ceilingMessagesPerSec;
  result.ratiosPerRound = result.publish.map((r, i) => r.eventsPerSec / result.ceiling[i].messagesPerSec);
  result.lagMsMax = m(result.publish, (r) => r.lagMs.max);
  result.lagMsMedian = m(result.publish, (r) => r.lagMs.median);
  result.lagBytesMax = m(result.publish, (r) => r.lagBytes.max);
  result.lagBytesMedian = m(result.publish, (r) => r.lagBytes.median);
  result.behindMsMax = m(result.publish, (r) => r.behindMs.max);
  result.behindMsMedian = m(result.publish, (r) => r.behindMs.median);
  result.behindBytesMax = m(result.publish, (r) => r.behindBytes.max);
  result.behindBytesMedian = m(result.publish, (r) => r.behindBytes.median);
  result.benchmarkSetsPerSec = m(result.publish, (r) => r.benchmarkSetsPerSec);
  result.catchUpMs = m(result.publish, (r) => r.catchUpMs);
  result.avgBodyBytes = m(result.publish, (r) => r.avgBodyBytes);
  result.publishCpuSeconds = m(result.publish, (r) => r.cpuSeconds);
  result.ceilingCpuSeconds = m(result.ceiling, (r) => r.cpuSeconds);
  return result;
}

// ---------------------------------------------------------------- output

function printSink(r) {
  console.log('');
  console.log(`${r.label} (${r.version}): ${r.sinkUrl}`);
  const rows = [
    ['publish() events/s', fmt(r.publishEventsPerSec, 0), r.publish.map((x) => fmt(x.eventsPerSec / 1000, 1) + 'k').join(' '),
      `${fmt(median(r.publish.map((x) => x.events)), 0)} SET events, ${fmt(r.avgBodyBytes, 0)} B bodies; ${fmt(median(r.publish.map((x) => x.seconds)), 2)} s; ` +
      `load ${fmt(r.benchmarkSetsPerSec / 1000, 0)}k SET/s for ${fmt(median(r.publish.map((x) => x.loadSeconds)), 2)} s, last confirmed ${fmt(r.catchUpMs / 1000, 2)} s after it; ` +
      `CPU ${fmt(r.publishCpuSeconds, 2)} s (${fmt((1e6 * r.publishCpuSeconds) / median(r.publish.map((x) => x.events)), 1)} µs/event)`],
    [`ceiling msg/s (window ${cfg.window})`, fmt(r.ceilingMessagesPerSec, 0), r.ceiling.map((x) => fmt(x.messagesPerSec / 1000, 1) + 'k').join(' '),
      `${fmt(r.messages, 0)} messages; ${fmt(median(r.ceiling.map((x) => x.seconds)), 2)} s; CPU ${fmt(r.ceilingCpuSeconds, 2)} s (${fmt((1e6 * r.ceilingCpuSeconds) / r.messages, 1)} µs/message)`],
  ];
  printRows(['', 'median', 'runs', 'notes'], rows, new Set([0, 2, 3]));
  console.log(`  lag during the load (status.lag, once a second): max ${fmt(r.lagMsMax, 0)} ms / ${fmt(mb(r.lagBytesMax), 1)} MB, ` +
    `median ${fmt(r.lagMsMedian, 0)} ms / ${fmt(mb(r.lagBytesMedian), 1)} MB (medians over runs)`);
  console.log(`  confirmed position behind the source (every 100 ms, from a worker): max ${fmt(r.behindMsMax, 0)} ms / ${fmt(mb(r.behindBytesMax), 1)} MB, ` +
    `median ${fmt(r.behindMsMedian, 0)} ms / ${fmt(mb(r.behindBytesMedian), 1)} MB`);
  const verdict = r.ratio >= 0.8 ? 'meets' : 'misses';
  console.log(`  publish / ceiling = ${fmt(r.ratio, 2)} (per round: ${r.ratiosPerRound.map((x) => fmt(x, 2)).join(' ')}): ${verdict} the ">= 0.8" goal`);
  const warnings = [...new Set([...r.publish.flatMap((x) => x.warnings), ...r.ceiling.map((x) => x.warning).filter(Boolean)])];
  for (const w of warnings.slice(0, 5)) console.log(`  ! ${w}`);
  for (const x of r.publish) if (x.profile) console.log(`  CPU profile: ${path.relative(process.cwd(), x.profile)}`);
}

function printSummary(results) {
  console.log('');
  printRows(['sink', 'publish ev/s', 'ceiling msg/s', 'ratio', 'lag max ms', 'lag p50 ms', 'lag max MB', 'lag p50 MB', 'behind max ms', 'behind p50 ms'],
    results.filter((r) => !r.error).map((r) => [r.label, fmt(r.publishEventsPerSec, 0), fmt(r.ceilingMessagesPerSec, 0), fmt(r.ratio, 2),
      fmt(r.lagMsMax, 0), fmt(r.lagMsMedian, 0), fmt(mb(r.lagBytesMax), 1), fmt(mb(r.lagBytesMedian), 1),
      fmt(r.behindMsMax, 0), fmt(r.behindMsMedian, 0)]), new Set([0]));
}

// ---------------------------------------------------------------- main

async function main() {
  const startedAt = new Date();
  const needBrokerHelpers = (sinks.includes('amqp') && !opts['amqp-url']) || (sinks.includes('nats') && !opts['nats-url']);
  const helpers = needBrokerHelpers ? await brokerHelpers() : null;
  if (helpers && sinks.includes('amqp') && !opts['amqp-url'] && !helpers.haveRabbitmq()) fail('RabbitMQ is not installed (Debian: apt-get install rabbitmq-server), or pass --amqp-url, or leave amqp out of --sinks', 1);
  if (helpers && sinks.includes('nats') && !opts['nats-url'] && !helpers.haveNats()) fail('nats-server is not installed, or pass --nats-url, or leave nats out of --sinks', 1);

  const versions = [];
  let source = null;
  const results = [];
  let failed = false;
  try {
    source = await startRedis('source', ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']);
    console.log(`${environmentLine({ before: [redisVersion()] })}\n`);
    console.log(`source on 127.0.0.1:${source.port}; redis-benchmark -P ${cfg.pipeline} -t set -n ${sinks.map((k) => `${cfg.requests ?? DEFAULT_REQUESTS[k]} (${k})`).join(', ')} ` +
      `-r ${cfg.keyspace} -d ${cfg.dataSize}; ${cfg.runs} rounds per sink (+1 warm-up); ceiling window ${cfg.window} messages`);
    // One sink at a time, its broker running only meanwhile (an idle Erlang VM still spins on its schedulers).
    const prepare = { amqp: () => prepareAmqp(helpers), nats: () => prepareNats(helpers), redis: () => prepareRedis() };
    for (const kind of sinks) {
      let dest = null;
      try {
        dest = await prepare[kind]();
        dest.requests = cfg.requests ?? DEFAULT_REQUESTS[kind];
        versions.push(dest.version);
        const r = await benchSink(source, dest);
        results.push(r);
        printSink(r);
      } catch (err) {
        failed = true;
        process.stderr.write('\n');
        results.push({ sink: kind, label: dest?.label ?? kind, error: String(err.stack ?? err) });
        console.log(`\n${dest?.label ?? kind} FAILED: ${err.stack ?? err}`);
      } finally {
        await dest?.close().catch(() => {});
      }
    }
    printSummary(results);
  } finally {
    if (source) await stopRedis(source);
    for (const b of brokers) await stopBroker(b);
  }
  if (!opts['no-save']) {
    const out = writeResults('publish', startedAt, {
      environment: runEnvironment({ brokers: versions }),
      config: { ...cfg, sinks, amqpUrl: opts['amqp-url'] ? redact(opts['amqp-url']) : null, natsUrl: opts['nats-url'] ? redact(opts['nats-url']) : null },
      units: { publish: 'SET events/s, first handed to the sink to last confirmed', ceiling: 'messages/s, first sent to last confirmed', lag: 'ms and bytes (status.lag)' },
      results,
    });
    console.log(`\nresult: ${path.relative(process.cwd(), out)}`);
  }
  process.exitCode = failed ? 1 : 0;
}

// ---------------------------------------------------------------- small helpers

/** Polls `test` every `everyMs` until true; throws message() after `ms`, or as soon as the publisher failed. */
async function waitFor(test, ms, message, publisher, everyMs = 5) {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (publisher?.status.phase === 'failed' || publisher?.status.phase === 'stopped') {
      await publisher.done; // rejects with why
      throw new Error(`publish stopped: ${message()}`);
    }
    if (Date.now() > deadline) throw new Error(message());
    await sleep(everyMs);
  }
}

/** Bytes as MB (10^6), null kept. */
function mb(bytes) {
  return bytes == null ? null : bytes / 1e6;
}

/** The max and median of `xs` (null when empty: a run too short for a sample). */
function maxMedian(xs) {
  return xs.length === 0 ? { max: null, median: null } : { max: Math.max(...xs), median: median(xs) };
}

function redact(url) {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

await main();
