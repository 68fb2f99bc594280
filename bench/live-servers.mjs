// What the benches against live servers share (replication-live, publish): child processes and temp dirs
// cleaned up on any exit, redis-server started on free loopback ports, a tiny RESP client for the harness,
// redis-benchmark under the SET load, and the worker thread that samples a consumer's offset against the
// master's offset timeline.
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { fail, gitState, sleep } from './common.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH_DIR);

/** ms since the epoch, sub-ms, the same clock in worker threads. */
export const now = () => performance.timeOrigin + performance.now();

/** The first executable `cmd` in PATH, or null. */
export function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const f = path.join(dir, cmd);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return f;
    } catch { /* next */ }
  }
  return null;
}

export const REDIS_SERVER = which('redis-server');
export const REDIS_BENCHMARK = which('redis-benchmark');

/** Fails (exit 2) unless redis-server, and redis-benchmark when `benchmark`, are in PATH. */
export function requireRedis({ benchmark }) {
  if (!REDIS_SERVER) fail('redis-server not found in PATH: install Redis (Debian/Ubuntu: apt-get install redis-server)');
  if (benchmark && !REDIS_BENCHMARK) fail('redis-benchmark not found in PATH: install Redis tools (Debian/Ubuntu: apt-get install redis-tools)');
}

export function redisVersion() {
  const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().replace(/ sha=.*$/, '') : 'redis-server ?';
}

/** The environment a bench's results JSON records: Node, redis-server, `extra`, the CPU, the OS and git. */
export function runEnvironment(extra = {}) {
  return {
    node: process.version, redis: redisVersion(), ...extra, cpu: os.cpus()[0]?.model, cpus: os.cpus().length,
    os: `${os.type()} ${os.release()}`, git: gitState(),
  };
}

// ---------------------------------------------------------------- processes and temp dirs, cleaned up on any exit

const children = new Set(); // ChildProcess objects still running
const tempDirs = new Set();

function cleanupSync() {
  for (const child of children) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  children.clear();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/**
 * On exit, kills the processes still running and removes the temp dirs; on SIGINT, SIGTERM and SIGHUP also
 * says so and exits. `others`: more to stop first on a signal ({describe(): ' and N thing(s)', stop()}).
 */
export function cleanupOnExit(others = null) {
  process.on('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, async () => {
      console.error(`\n${signal}: stopping ${children.size} process(es)${others?.describe() ?? ''}, removing ${tempDirs.size} temp dir(s)`);
      if (others) await others.stop();
      cleanupSync();
      process.exit(128 + (os.constants.signals[signal] ?? 2));
    });
  }
}

export function makeTempDir(tag) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `redistap-bench-${tag}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export function track(child) {
  children.add(child);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  return child;
}

/** Whether a tracked process is still running. */
export function isRunning(child) {
  return children.has(child);
}

/** Stops a process by its PID: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(child, graceMs = 10_000) {
  if (!children.has(child)) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Runs cmd (tracked) and resolves with its exit code (or signal), stdout (progress lines dropped) and stderr. */
export function runCapture(cmd, args) {
  return new Promise((resolve) => {
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', (err) => { stderr += String(err); });
    child.exited.then(({ code, signal }) => resolve({ code: code ?? signal, stdout: stdout.replace(/.*\r/g, ''), stderr }));
  });
}

// ---------------------------------------------------------------- redis-server

/**
 * Starts redis-server on 127.0.0.1:port with its dir in `dir` (log: dir/redis.log); nothing is saved
 * on shutdown. Resolves once it accepts connections (it may still be loading), with child.port and
 * child.dir set, and child.client connected when `keepClient` (else that first connection is closed).
 */
export async function startServer(port, dir, extra = [], { keepClient = false } = {}) {
  const log = fs.openSync(path.join(dir, 'redis.log'), 'a');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--logfile', '', '--protected-mode', 'no', ...extra];
  const child = track(spawn(REDIS_SERVER, args, { stdio: ['ignore', log, log] }));
  fs.closeSync(log);
  child.port = port;
  child.dir = dir;
  child.on('error', () => {});
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!children.has(child)) throw new Error(`redis-server on port ${port} exited at start-up:\n${logTail(dir)}`);
    try {
      const c = await MiniClient.connect(port);
      if (keepClient) child.client = c;
      else c.close();
      return child;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not accept connections within 20 s:\n${logTail(dir)}`);
      await sleep(10);
    }
  }
}

/** The last `lines` lines of a server's dir/redis.log. */
export function logTail(dir, lines = 15) {
  try {
    return fs.readFileSync(path.join(dir, 'redis.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------- a tiny RESP client for the harness
// (independent of the library under test): one command at a time; simple strings, errors, integers, bulks.

/** An error reply of the server (as opposed to a failed connection). */
export class ReplyError extends Error {}

export class MiniClient {
  static connect(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(new MiniClient(socket));
      });
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.pending = null;
    socket.on('data', (d) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.tryReply();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  /** The reply; an error reply rejects (with the server's message). */
  call(...args) {
    if (this.pending) throw new Error('MiniClient: one command at a time');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      let s = `*${args.length}\r\n`;
      for (const a of args) s += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
      this.socket.write(s);
    });
  }

  tryReply() {
    if (!this.pending) return;
    const end = skipReply(this.buf, 0);
    if (end < 0) return;
    const nl = this.buf.indexOf('\r\n');
    const type = String.fromCharCode(this.buf[0]);
    const line = this.buf.toString('utf8', 1, nl);
    let value;
    if (type === '$') value = Number(line) < 0 ? null : this.buf.toString('utf8', nl + 2, end - 2);
    else if (type === '+') value = line;
    else if (type === ':') value = Number(line);
    else if (type === '-') value = new ReplyError(line);
    else value = new Error(`MiniClient: unsupported reply type ${type}`);
    this.buf = this.buf.subarray(end);
    const p = this.pending;
    this.pending = null;
    if (value instanceof Error) p.reject(value); else p.resolve(value);
  }

  fail(err) {
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }

  close() {
    this.socket.destroy();
  }
}

/** The end of the RESP reply at `at` in `buf`, or -1 when it is not all there. */
export function skipReply(buf, at) {
  const nl = buf.indexOf('\r\n', at);
  if (nl < 0) return -1;
  const type = buf[at];
  if (type === 0x2b || type === 0x2d || type === 0x3a) return nl + 2; // + - :
  const n = Number(buf.toString('latin1', at + 1, nl));
  if (type === 0x24) return n < 0 ? nl + 2 : (buf.length >= nl + 2 + n + 2 ? nl + 2 + n + 2 : -1); // $
  if (type === 0x2a) { // *
    let p = nl + 2;
    for (let k = 0; k < n; k++) {
      p = skipReply(buf, p);
      if (p < 0) return -1;
    }
    return p;
  }
  throw new Error(`unexpected RESP reply type ${String.fromCharCode(type)}`);
}

/** INFO <section> as a {field: value} object. */
export async function info(client, section) {
  const text = await client.call('INFO', section);
  const out = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

// ---------------------------------------------------------------- the SET load and how far behind a consumer is

/**
 * redis-benchmark -t set -q against 127.0.0.1:port (-P pipeline, -n requests, -r keyspace, -d dataSize);
 * throws when it fails. Its output and the SET/s it reports (null when it does not).
 */
export async function benchmarkSets(port, { pipeline, requests, keyspace, dataSize }) {
  const bench = await runCapture(REDIS_BENCHMARK, ['-h', '127.0.0.1', '-p', String(port), '-P', String(pipeline),
    '-t', 'set', '-n', String(requests), '-r', String(keyspace), '-d', String(dataSize), '-q']);
  if (bench.code !== 0) throw new Error(`redis-benchmark failed (${bench.code}): ${bench.stderr || bench.stdout}`);
  const setsPerSec = /SET: ([\d.]+) requests per second/.exec(bench.stdout)?.[1];
  return { stdout: bench.stdout, setsPerSec: setsPerSec ? Number(setsPerSec) : null };
}

/** The server's master_repl_offset. */
export async function replOffset(client) {
  return Number((await info(client, 'replication')).master_repl_offset);
}

/** The SET calls the server executed (since CONFIG RESETSTAT): redis-benchmark may send a few more than -n (its last pipelines). */
export async function setCalls(client) {
  return Number(/calls=(\d+)/.exec((await info(client, 'commandstats')).cmdstat_set ?? '')?.[1] ?? NaN);
}

/**
 * The worker thread that samples, on an event loop of its own: the master's offset timeline
 * ([{tSend, tRecv, offset}], INFO replication every intervalMs) and the consumer's position
 * ([{t, offset}] every sampleMs, read from memory the consumer writes to on the main thread; one sample
 * right away at 'sample' when sampleAtStart). Sampling from here sees the consumer stand still while the
 * main thread is busy; a timer on the main thread would only fire after it, and miss the worst moments.
 */
const SAMPLER_WORKER = `
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const now = () => performance.timeOrigin + performance.now();
const { port, intervalMs, sampleMs, sampleAtStart, shared } = workerData;
const position = new Float64Array(shared);
const records = [];
const samples = [];
let stop = false;
let sampling = null;
parentPort.on('message', (m) => {
  if (m === 'sample') {
    if (sampleAtStart) samples.push({ t: now(), offset: position[0] });
    sampling = setInterval(() => samples.push({ t: now(), offset: position[0] }), sampleMs);
  } else if (m === 'stop') {
    stop = true;
  }
});
const socket = net.connect({ port, host: '127.0.0.1' });
socket.setNoDelay(true);
let buf = '';
let waiting = null;
socket.on('data', (d) => {
  buf += d.toString('latin1');
  const nl = buf.indexOf('\\r\\n');
  if (nl < 0) return;
  const n = Number(buf.slice(1, nl));
  if (buf.length < nl + 2 + n + 2) return;
  const text = buf.slice(nl + 2, nl + 2 + n);
  buf = buf.slice(nl + 2 + n + 2);
  const w = waiting; waiting = null; w(text);
});
socket.on('error', (e) => parentPort.postMessage({ error: String(e) }));
const ask = () => new Promise((resolve) => { waiting = resolve; socket.write('*2\\r\\n$4\\r\\nINFO\\r\\n$11\\r\\nreplication\\r\\n'); });
socket.once('connect', async () => {
  parentPort.postMessage({ ready: true });
  let next = now();
  while (!stop) {
    const tSend = now();
    const text = await ask();
    const tRecv = now();
    const m = /master_repl_offset:(\\d+)/.exec(text);
    if (m) records.push({ tSend, tRecv, offset: Number(m[1]) });
    next += intervalMs;
    const wait = next - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait)); else next = now();
  }
  clearInterval(sampling);
  samples.push({ t: now(), offset: position[0] });
  socket.destroy();
  parentPort.postMessage({ records, samples });
  parentPort.close();
});
`;

/**
 * Starts the sampler on the master at 127.0.0.1:port, the consumer's position in `shared` (a Float64 at 0);
 * resolves once it is connected. start(): begin sampling the position; stop(): {records, samples}.
 */
export async function startSampler(port, shared, { intervalMs, sampleMs, sampleAtStart = false }) {
  const worker = new Worker(SAMPLER_WORKER, { eval: true, workerData: { port, intervalMs, sampleMs, sampleAtStart, shared } });
  const collected = new Promise((resolve, reject) => {
    worker.on('message', (m) => { if (m.records) resolve(m); else if (m.error) reject(new Error(m.error)); });
    worker.on('error', reject);
  });
  collected.catch(() => {});
  await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  return {
    start: () => worker.postMessage('sample'),
    stop: async () => {
      worker.postMessage('stop');
      try {
        return await collected;
      } finally {
        await worker.terminate();
      }
    },
    terminate: () => worker.terminate(),
  };
}

/**
 * The lag of one sample of the consumer's offset r at time t, against the master's timeline (records
 * with the time each was asked and answered, and the offset): in bytes, the master's offset at t
 * (interpolated) minus r; in ms, t minus the moment the master went past r (interpolated between the
 * last record at or below r and the first above it), 0 when no record is above r.
 */
export function lagAt({ t, offset: r }, records) {
  const at = (x) => (x.tSend + x.tRecv) / 2;
  let k = records.findIndex((x) => x.offset > r);
  let ms = 0;
  if (k === 0) ms = t - at(records[0]);
  else if (k > 0) {
    const a = records[k - 1];
    const b = records[k];
    const passed = at(a) + ((r + 1 - a.offset) / (b.offset - a.offset)) * (at(b) - at(a));
    ms = t - passed;
  }
  // The master's offset at t.
  k = records.findIndex((x) => at(x) > t);
  let masterOffset;
  if (k === -1) masterOffset = records.at(-1).offset;
  else if (k === 0) masterOffset = records[0].offset;
  else {
    const a = records[k - 1];
    const b = records[k];
    masterOffset = a.offset + ((t - at(a)) / (at(b) - at(a))) * (b.offset - a.offset);
  }
  return { t, ms: Math.max(0, ms), bytes: Math.max(0, Math.round(masterOffset - r)) };
}

/** Waits until the server answers PING with PONG (not -LOADING). */
export async function waitLoaded(client, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await client.call('PING').catch((err) => { if (err instanceof ReplyError) return err; throw err; }); // -LOADING
    if (r === 'PONG') return;
    if (Date.now() > deadline) throw new Error(`server still answers ${r} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Clock ticks per second of /proc's CPU times. */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/**
 * CPU seconds a process has used (user + system), with those of its children it has waited for: a
 * master's includes each snapshot child once the child has exited and been reaped.
 */
export function cpuSecondsOf(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is the state (field 3)
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

/** CPU seconds this process has used. */
export function ownCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Waits until the master has no replica and no snapshot child (the previous sync is over). */
export async function waitMasterIdle(client, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const repl = await info(client, 'replication');
    const pers = await info(client, 'persistence');
    if (repl.connected_slaves === '0' && pers.rdb_bgsave_in_progress === '0') return;
    if (Date.now() > deadline) throw new Error('the master still has a replica or a snapshot child');
    await sleep(20);
  }
}

/**
 * The RDB a benchmark loads: `rdbOption` (--rdb), else bench/corpus/mixed.rdb, else /work/corpus/mixed.rdb,
 * else generated with ../shared/tools/perf-corpus; with its key count and server config from corpus.json.
 */
export function findRdb(rdbOption) {
  const candidates = rdbOption ? [path.resolve(rdbOption)] : [path.join(BENCH_DIR, 'corpus/mixed.rdb'), '/work/corpus/mixed.rdb'];
  let file = candidates.find((f) => fs.existsSync(f));
  if (!file && rdbOption) fail(`--rdb ${rdbOption}: no such file`);
  if (!file) {
    const tool = path.resolve(ROOT, '../shared/tools/perf-corpus');
    if (!fs.existsSync(tool)) fail(`no mixed.rdb in bench/corpus or /work/corpus, and ${tool} is missing to generate one; pass --rdb FILE`);
    console.log(`generating bench/corpus/mixed.rdb with ${path.relative(process.cwd(), tool)} (once; ~30 s)...`);
    const r = spawnSync(process.execPath, [tool, path.join(BENCH_DIR, 'corpus'), '--only', 'mixed'], { stdio: 'inherit' });
    if (r.status !== 0) fail('perf-corpus failed');
    file = path.join(BENCH_DIR, 'corpus/mixed.rdb');
  }
  let meta = null;
  try {
    meta = JSON.parse(fs.readFileSync(path.join(path.dirname(file), 'corpus.json'), 'utf8')).files?.[path.basename(file)] ?? null;
  } catch { /* no corpus.json: an arbitrary RDB */ }
  return { file, bytes: fs.statSync(file).size, keys: meta?.keys ?? null, serverConfig: meta?.spec?.serverConfig?.split(/\s+/).filter(Boolean) ?? [] };
}
