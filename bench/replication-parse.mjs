// Replication-stream parsing throughput: redistap's RESP core in replication mode vs the JavaScript RESP
// parsers of ioredis / node_redis v3 (`redis-parser`) and node-redis v4+ (`@redis/client`'s Decoder),
// in one run, on the same bytes: what a master sends after "+CONTINUE", many small SET commands,
// cut into 64 KiB chunks.
//
//   node bench/replication-parse.mjs [--mb 96] [--runs 7] [--chunk-kib 64] [--seed 1] [--no-save]
//
// See bench/README.md ("Replication stream parsing").
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { environmentLine, fail, parseOptions, fmt, gitState, median, positiveInt } from './common.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH_DIR);
const require = createRequire(import.meta.url);

const HELP = `Replication-stream parsing: redistap vs redis-parser vs @redis/client's RESP decoder.

Usage: node bench/replication-parse.mjs [options]

  --mb N          size of the generated command stream in MB (10^6 bytes; default 96)
  --runs N        timed runs per contender, median reported (default 7)
  --chunk-kib N   size of the chunks the stream is cut into (default 64)
  --seed N        PRNG seed of the generated stream (default 1)
  --consumer K    strings, views or strings,views (default): what each command's name and key are
                  handed over as (see below)
  --dist DIR      the built library to load (default: dist/ of this checkout; e.g. a copy, to A/B a change)
  --no-save       do not write bench/results/replication-parse-<timestamp>.json
  -h, --help      this text

The stream: "+CONTINUE <replid>\\r\\n" (fed before timing), SELECT 0, then SET key:<12 digits> <10..100
bytes> as RESP arrays of bulk strings. Every contender hands each command's name and key to the same
consumer: 'strings' gets JS strings (and lower-cases the name), 'views' gets byte views (Uint8Array or
Buffer) and compares the name byte-wise. Counts and key bytes are checked against the generator's.
Each row's ratio is to the fastest peer serving the same consumer. Every timed run is a process of its
own (one warm-up run first), the rows interleaved. Uses the built library in dist/ (npm run build first).`;

const opts = parseOptions({
  mb: { type: 'string', default: '96' },
  runs: { type: 'string', default: '7' },
  'chunk-kib': { type: 'string', default: '64' },
  seed: { type: 'string', default: '1' },
  consumer: { type: 'string', default: 'strings,views' },
  dist: { type: 'string', default: path.join(ROOT, 'dist') },
  'no-save': { type: 'boolean', default: false },
  // Internal: run one row in this process (see measureInChild).
  child: { type: 'string' },
  stream: { type: 'string' },
}, HELP);
const runs = positiveInt('--runs', opts.runs);
const targetBytes = Math.round(Number(opts.mb) * 1e6);
if (!(targetBytes >= 1e5)) fail(`--mb must be a number >= 0.1, got ${opts.mb}`);
const chunkSize = positiveInt('--chunk-kib', opts['chunk-kib']) * 1024;
const seed = positiveInt('--seed', opts.seed);
const consumerKinds = opts.consumer.split(',').map((k) => k.trim()).filter(Boolean);
if (consumerKinds.length === 0 || consumerKinds.some((k) => k !== 'strings' && k !== 'views')) {
  fail(`--consumer takes strings, views or strings,views; got ${opts.consumer}`);
}

const DIST = path.resolve(opts.dist);
if (!fs.existsSync(path.join(DIST, 'node.js'))) fail(`${path.join(DIST, 'node.js')} missing: run \`npm run build\` first`);
const { ReplicaCommand } = await import(pathToFileURL(path.join(DIST, 'node.js')).href);
// The link is not exported; the bench drives the real one through a stand-in socket (see linkContender).
const { ReplicaLink } = await import(pathToFileURL(path.join(DIST, 'replica/link.js')).href);
const RedisParser = requireOrFail('redis-parser');
const { Decoder, RESP_TYPES } = requireOrFail('@redis/client/dist/lib/RESP/decoder.js');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const REPLID = '8d3c2c7a1f5e4b6a9c0d1e2f3a4b5c6d7e8f9a0b';
const CONTINUE = Buffer.from(`+CONTINUE ${REPLID}\r\n`, 'latin1');

// ---------------------------------------------------------------- the stream

/** mulberry32: a small deterministic PRNG (same seed → same bytes on every machine). */
function prng(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The bytes a master sends after +CONTINUE: SELECT 0, then SETs of 16-byte keys and 10–100 byte values. */
function generate(bytes, seedValue) {
  const rand = prng(seedValue);
  const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const buf = Buffer.allocUnsafe(bytes + 256);
  let at = buf.write('*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n', 0, 'latin1');
  let commands = 1;
  let keyBytes = 1; // SELECT's "key" is its argument "0"
  let sets = 0;
  const value = Buffer.allocUnsafe(100);
  while (at < bytes) {
    const key = `key:${String(Math.floor(rand() * 1e12)).padStart(12, '0')}`;
    const vlen = 10 + Math.floor(rand() * 91);
    for (let i = 0; i < vlen; i++) value[i] = ALPHABET.charCodeAt(Math.floor(rand() * ALPHABET.length));
    at += buf.write(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${vlen}\r\n`, at, 'latin1');
    at += value.copy(buf, at, 0, vlen);
    buf[at++] = 13;
    buf[at++] = 10;
    commands++;
    sets++;
    keyBytes += key.length;
  }
  const stream = buf.subarray(0, at);
  const chunks = [];
  for (let off = 0; off < stream.length; off += chunkSize) chunks.push(stream.subarray(off, off + chunkSize));
  return { stream, chunks, expect: { commands, sets, keyBytes } };
}

// ---------------------------------------------------------------- the consumers (same for every contender)
//
// 'strings': the command name and key as JS strings (the name lower-cased here, for every contender);
// 'views': as byte views (Uint8Array / Buffer), the name compared byte-wise, case-insensitively.

let seen = { commands: 0, sets: 0, keyBytes: 0 };
function takeStrings(name, key) {
  seen.commands++;
  if (name.toLowerCase() === 'set') seen.sets++;
  seen.keyBytes += key.length;
}
function takeViews(name, key) {
  seen.commands++;
  if (name.length === 3 && (name[0] | 0x20) === 0x73 && (name[1] | 0x20) === 0x65 && (name[2] | 0x20) === 0x74) seen.sets++;
  seen.keyBytes += key.length;
}

// ---------------------------------------------------------------- the contenders
//
// Each has setup(consumer) → state (untimed: construction, the +CONTINUE line) and run(state, chunks)
// (timed). `consumers` lists the consumer kinds it can serve.

/** A stand-in for the net.Socket ReplicaLink reads: it only needs on/write/destroy. */
function fakeSocket() {
  const listeners = {};
  return {
    destroyed: false,
    error: null,
    on(event, fn) { (listeners[event] ??= []).push(fn); return this; },
    write() { return true; },
    destroy(err) { this.destroyed = true; this.error ??= err ?? new Error('destroyed'); },
    data: (chunk) => listeners.data[0](chunk),
  };
}

const runParser = (state, chunks) => {
  for (const c of chunks) state.parser.execute(c);
  if (state.error) throw state.error;
};
const runDecoder = (state, chunks) => {
  for (const c of chunks) state.decoder.write(c);
  if (state.error) throw state.error;
};

const contenders = [
  {
    id: 'link',
    label: 'redistap ReplicaLink+ReplicaCommand',
    ours: true,
    consumers: ['strings', 'views'],
    note: 'link.ts as the Replica uses it: its socket "data" handler (RespReader.write, one event per ' +
      'whole command, views of the chunk), handlers.command, then a ReplicaCommand per command as ' +
      'replica.ts builds it; strings: cmd.name and cmd.argText(1), views: cmd.arg(0), cmd.arg(1)',
    setup(consumer) {
      const socket = fakeSocket();
      const command = consumer === 'strings'
        ? (source, at, argCount, name, first, offset) => {
            const cmd = new ReplicaCommand(0, source, at, argCount, name, first, offset);
            takeStrings(cmd.name, cmd.argText(1));
          }
        : (source, at, argCount, name, first, offset) => {
            const cmd = new ReplicaCommand(0, source, at, argCount, name, first, offset);
            takeViews(cmd.arg(0), cmd.arg(1));
          };
      const handlers = { fullResync() {}, continued() {}, rdbBegin() {}, rdbData() {}, rdbEnd() {}, closed() {}, command };
      // The constructor is private in TypeScript only; psync() switches the reader to replication mode
      // and "sends" PSYNC to the stand-in.
      const link = new ReplicaLink(socket, handlers);
      link.psync('PSYNC', { replid: REPLID, offset: 1000 });
      socket.data(CONTINUE);
      return { socket };
    },
    run({ socket }, chunks) {
      for (const c of chunks) socket.data(c);
      if (socket.error) throw socket.error; // link.read() closes the link on a parse error
    },
  },
  {
    id: 'rp-buf',
    label: 'redis-parser returnBuffers',
    consumers: ['strings', 'views'],
    note: 'redis-parser 3 (ioredis, node_redis v3), returnBuffers: true: arguments as Buffer views ' +
      '(strings: the consumer gets reply[0].toString(), reply[1].toString())',
    setup(consumer) {
      let error = null;
      const parser = new RedisParser({
        returnBuffers: true,
        returnReply: consumer === 'strings'
          ? (reply) => takeStrings(reply[0].toString(), reply[1].toString())
          : (reply) => takeViews(reply[0], reply[1]),
        returnError: (e) => { error ??= e; },
        returnFatalError: (e) => { error ??= e; },
      });
      return { parser, get error() { return error; } };
    },
    run: runParser,
  },
  {
    id: 'rp-str',
    label: 'redis-parser strings',
    consumers: ['strings'],
    note: 'redis-parser 3, returnBuffers: false: the parser decodes every argument (values too) to a string',
    setup() {
      let error = null;
      const parser = new RedisParser({
        returnBuffers: false,
        returnReply: (reply) => takeStrings(reply[0], reply[1]),
        returnError: (e) => { error ??= e; },
        returnFatalError: (e) => { error ??= e; },
      });
      return { parser, get error() { return error; } };
    },
    run: runParser,
  },
  {
    id: 'dec-buf',
    label: '@redis/client Decoder, Buffer',
    consumers: ['strings', 'views'],
    note: '@redis/client (node-redis v4+) dist/lib/RESP/decoder.js, type mapping BLOB_STRING → Buffer: ' +
      'arguments as Buffer views (strings: the consumer gets reply[0].toString(), reply[1].toString())',
    setup(consumer) {
      const mapping = { [RESP_TYPES.BLOB_STRING]: Buffer };
      let error = null;
      const decoder = new Decoder({
        onReply: consumer === 'strings'
          ? (reply) => takeStrings(reply[0].toString(), reply[1].toString())
          : (reply) => takeViews(reply[0], reply[1]),
        onErrorReply: (e) => { error ??= e; },
        onPush: () => {},
        getTypeMapping: () => mapping,
      });
      return { decoder, get error() { return error; } };
    },
    run: runDecoder,
  },
  {
    id: 'dec-str',
    label: '@redis/client Decoder, strings',
    consumers: ['strings'],
    note: '@redis/client Decoder with the default (empty) type mapping: it decodes every argument to a string',
    setup() {
      const mapping = {};
      let error = null;
      const decoder = new Decoder({
        onReply: (reply) => takeStrings(reply[0], reply[1]),
        onErrorReply: (e) => { error ??= e; },
        onPush: () => {},
        getTypeMapping: () => mapping,
      });
      return { decoder, get error() { return error; } };
    },
    run: runDecoder,
  },
];

// The peers are plain RESP parsers without a replication mode: a replica built on them would read the
// PSYNC reply line by other means, so they get the command stream only.

// ---------------------------------------------------------------- running

if (opts.child) childMain();
else main();

function main() {
  const startedAt = new Date();
  console.log(environmentLine({ after: [`redis-parser ${pkgVersion('redis-parser')}`, `@redis/client ${pkgVersion('@redis/client')}`] }));
  const t0 = performance.now();
  const { stream, chunks, expect } = generate(targetBytes, seed);
  const bytes = stream.length;
  console.log(`stream: ${fmt(bytes / 1e6, 1)} MB, ${fmt(expect.commands, 0)} commands (SELECT 0, SET key:<12 digits> <10..100 B>), ` +
    `${chunks.length} chunks of ${chunkSize / 1024} KiB, seed ${seed}; generated in ${fmt((performance.now() - t0) / 1000, 1)} s`);
  console.log(`consumers: ${consumerKinds.join(', ')}; ${runs} timed runs per row, each in a process of its own after a warm-up run, ` +
    'interleaved; median\n');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redistap-bench-'));
  const file = path.join(dir, 'stream.bin');
  fs.writeFileSync(file, stream);
  fs.writeFileSync(`${file}.json`, JSON.stringify(expect));

  // One entry per (contender, consumer kind): the rows of the table.
  const entries = [];
  for (const kind of consumerKinds) {
    for (const c of contenders) if (c.consumers.includes(kind)) entries.push({ c, kind, times: [], error: null });
  }
  try {
    process.stderr.write('run');
    for (let rep = 1; rep <= runs; rep++) {
      process.stderr.write(` ${rep}`);
      // Rotate the order every repetition so no row always runs right after the same one.
      for (let k = 0; k < entries.length; k++) {
        const e = entries[(k + rep) % entries.length];
        if (e.error) continue;
        const res = measureInChild(e, file);
        if (res.error) e.error = res.error;
        else e.times.push(res.ms);
      }
    }
    process.stderr.write('\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const results = entries.map(({ c, kind, times, error }) => {
    const ms = error ? null : median(times);
    return {
      id: c.id, consumer: kind, label: c.label, ours: !!c.ours, note: c.note,
      error, timesMs: times, medianMs: ms,
      mbPerSec: ms ? bytes / 1e6 / (ms / 1000) : null,
      commandsPerSec: ms ? expect.commands / (ms / 1000) : null,
    };
  });
  // The ratio of each row to the fastest peer serving the same consumer.
  const best = {};
  for (const kind of consumerKinds) {
    const peers = results.filter((x) => x.consumer === kind && !x.ours && x.mbPerSec);
    best[kind] = peers.reduce((a, b) => (b.mbPerSec > a.mbPerSec ? b : a), peers[0] ?? null);
  }
  for (const x of results) x.ratioToBestPeer = x.mbPerSec && best[x.consumer] ? x.mbPerSec / best[x.consumer].mbPerSec : null;
  printTable(results, best);

  if (!opts['no-save']) {
    const out = writeJson(startedAt, { bytes, chunks: chunks.length, expect }, results, best);
    console.log(`\nresult: ${path.relative(process.cwd(), out)}`);
  }
  process.exitCode = results.some((x) => x.error) ? 1 : 0;
}

/**
 * One timed run of a row in a fresh Node process: in one process the contenders would share the
 * consumer's type feedback (Buffer and Uint8Array arguments make it polymorphic for all of them) and
 * collect each other's garbage. Returns { ms } or { error }.
 */
function measureInChild({ c, kind }, file) {
  const args = [fileURLToPath(import.meta.url), '--child', `${c.id}:${kind}`, '--stream', file,
    '--chunk-kib', String(chunkSize / 1024), '--dist', DIST];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  try {
    return JSON.parse(child.stdout.trim().split('\n').pop());
  } catch {
    return { error: `the child process for ${c.id}:${kind} failed (exit ${child.status}): ${child.stderr.trim().split('\n').slice(0, 6).join('\n  ')}` };
  }
}

/** The child: an untimed warm-up run (JIT, wasm compilation, the counts checked), then the timed run. */
function childMain() {
  const [id, kind] = opts.child.split(':');
  const entry = { c: contenders.find((c) => c.id === id), kind };
  const stream = fs.readFileSync(opts.stream);
  const expect = JSON.parse(fs.readFileSync(`${opts.stream}.json`, 'utf8'));
  const chunks = [];
  for (let off = 0; off < stream.length; off += chunkSize) chunks.push(stream.subarray(off, off + chunkSize));
  const warm = runOnce(entry, chunks, expect);
  const res = warm.error ? warm : runOnce(entry, chunks, expect);
  console.log(JSON.stringify(res.error ? { error: String(res.error.stack ?? res.error) } : res));
}

function runOnce({ c, kind }, chunks, expect) {
  try {
    gc(); // the warm-up's garbage is not collected on the timed run's time
    const st = c.setup(kind);
    seen = { commands: 0, sets: 0, keyBytes: 0 };
    const t0 = process.hrtime.bigint();
    c.run(st, chunks);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (seen.commands !== expect.commands || seen.sets !== expect.sets || seen.keyBytes !== expect.keyBytes) {
      throw new Error(`consumer saw ${seen.commands} commands / ${seen.sets} SETs / ${seen.keyBytes} key bytes, ` +
        `expected ${expect.commands} / ${expect.sets} / ${expect.keyBytes}`);
    }
    return { ms };
  } catch (error) {
    return { error };
  }
}

function printTable(results, best) {
  const header = ['consumer', 'contender', 'median s', 'MB/s', 'commands/s', 'vs best peer', 'runs (s)'];
  const rows = results.map((x, i) => {
    const first = i === 0 || results[i - 1].consumer !== x.consumer ? x.consumer : '';
    return x.error
      ? [first, x.label, 'ERROR', '', '', '', '']
      : [first, x.label, fmt(x.medianMs / 1000, 3), fmt(x.mbPerSec, 1), fmt(x.commandsPerSec, 0),
          `${fmt(x.ratioToBestPeer, 2)}x`, x.timesMs.map((t) => fmt(t / 1000, 2)).join(' ')];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const left = new Set([0, 1, 6]);
  const line = (cells) => cells.map((v, i) => (left.has(i) ? String(v).padEnd(widths[i]) : String(v).padStart(widths[i]))).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((row, i) => {
    if (i > 0 && row[0] !== '') console.log('');
    console.log(line(row));
  });
  console.log('');
  for (const x of results.filter((y) => y.ours && y.mbPerSec && best[y.consumer])) {
    const verdict = x.ratioToBestPeer >= 2 ? 'meets' : 'misses';
    console.log(`${x.consumer.padEnd(7)} ${x.label}: ${fmt(x.ratioToBestPeer, 2)}x the fastest peer ` +
      `(${best[x.consumer].label}): ${verdict} the >= 2x target`);
  }
  for (const x of results) {
    if (x.error) console.log(`${x.consumer} ${x.label} FAILED: ${x.error.split('\n').slice(0, 4).join('\n  ')}`);
  }
  console.log('\nnotes:');
  for (const c of contenders) console.log(`  ${c.label}: ${c.note}`);
}

function writeJson(startedAt, input, results, best) {
  const dir = path.join(BENCH_DIR, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, `replication-parse-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const doc = {
    startedAt: startedAt.toISOString(),
    runs, seed, chunkBytes: chunkSize, consumers: consumerKinds, dist: DIST, input,
    environment: {
      node: process.version, cpu: os.cpus()[0]?.model, cpus: os.cpus().length, os: `${os.type()} ${os.release()}`,
      peers: { 'redis-parser': pkgVersion('redis-parser'), '@redis/client': pkgVersion('@redis/client') },
      git: gitState(),
    },
    units: { time: 'ms (in-process, hrtime around feeding every chunk)', throughput: 'MB/s, MB = 1e6 bytes' },
    bestPeer: Object.fromEntries(Object.entries(best).map(([k, v]) => [k, v?.id ?? null])),
    results,
  };
  fs.writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
  return out;
}

// ---------------------------------------------------------------- small helpers

function requireOrFail(id) {
  try {
    return require(id);
  } catch (err) {
    fail(`cannot load ${id} (${err.code ?? err.message}): run \`npm install\` in ${ROOT} (it is a devDependency)`);
  }
}

function pkgVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}
