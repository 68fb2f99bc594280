// Replication end to end against real redis-server processes (started here, on loopback, in temp dirs):
//
//   lag:       a master under redis-benchmark (SET, pipelined) with a redistap Replica following it;
//              how far behind the master the Replica's consumer is, in bytes and in milliseconds.
//   full sync: the master loaded with an RDB file; a redistap Replica from connect to 'full-sync-end'
//              (every entry built and counted), and `redistap sync` into a fresh target server from its
//              start to the copy acknowledged (--copy restore: every key RESTOREd; --copy replication:
//              the target loaded the snapshot as our replica and was promoted), vs a real
//              `redis-server --replicaof` from its start until its link is up and loaded; alternating, medians.
//
//   node bench/replication-live.mjs [--part lag,fullsync] [--requests N] [--runs N] [--rdb FILE] ...
//
// See bench/README.md ("Replication against live servers") and --help.
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { environmentLine, fail, parseOptions, fmt, median, positiveInt, printRows, sleep, writeResults } from './common.mjs';
import {
  benchmarkSets, cleanupOnExit, cpuSecondsOf, findRdb, freePort, info, isRunning, lagAt, logTail, makeTempDir, MiniClient, now,
  ownCpuSeconds, redisVersion, removeTempDir, replOffset, requireRedis, runEnvironment, setCalls as setCallsOf, startSampler,
  startServer, stopProcess, waitLoaded, waitMasterIdle,
} from './live-servers.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH_DIR);

const HELP = `Replication against live redis-server processes: lag under load, and full-sync time.

Usage: node bench/replication-live.mjs [options]

  --part LIST        lag, fullsync or lag,fullsync (default: both)

 lag (a master under redis-benchmark, a redistap Replica with skipRdb following it):
  --requests N       redis-benchmark -n (default 5000000)
  --pipeline N       redis-benchmark -P (default 64)
  --keyspace N       redis-benchmark -r (default 100000)
  --data-size N      redis-benchmark -d (default 32)
  --sample-ms N      how often the consumer's offset is sampled (default 100)
  --master-poll-ms N how often the master's INFO replication is polled for its offset timeline
                     (default 20); both samplers run on a worker thread

 fullsync (master loaded from an RDB file, diskless sync; redistap Replica and redistap sync into a
 second redis-server vs a redis-server replica):
  --rdb FILE         the RDB the master loads (default: bench/corpus/mixed.rdb, else
                     /work/corpus/mixed.rdb, else generated with ../shared/tools/perf-corpus --only mixed)
  --runs N           timed runs of each, alternating, median (default 3; plus one untimed warm-up each)
  --poll-ms N        how often the Redis replica's INFO replication is polled (default 20)

  --no-save          do not write bench/results/replication-live-<timestamp>.json
  -h, --help         this text

Needs redis-server (and redis-benchmark for lag) in PATH, and the built library (npm run build).
Servers run on free 127.0.0.1 ports in temp dirs, are stopped by PID, and the dirs removed, also on
Ctrl-C.`;

const opts = parseOptions({
  part: { type: 'string', default: 'lag,fullsync' },
  requests: { type: 'string', default: '5000000' },
  pipeline: { type: 'string', default: '64' },
  keyspace: { type: 'string', default: '100000' },
  'data-size': { type: 'string', default: '32' },
  'sample-ms': { type: 'string', default: '100' },
  'master-poll-ms': { type: 'string', default: '20' },
  rdb: { type: 'string' },
  runs: { type: 'string', default: '3' },
  'poll-ms': { type: 'string', default: '20' },
  'no-save': { type: 'boolean', default: false },
}, HELP);
const parts = opts.part.split(',').map((s) => s.trim()).filter(Boolean);
if (parts.length === 0 || parts.some((p) => p !== 'lag' && p !== 'fullsync')) fail(`--part takes lag, fullsync or lag,fullsync; got ${opts.part}`);
const cfg = {
  requests: positiveInt('--requests', opts.requests),
  pipeline: positiveInt('--pipeline', opts.pipeline),
  keyspace: positiveInt('--keyspace', opts.keyspace),
  dataSize: positiveInt('--data-size', opts['data-size']),
  sampleMs: positiveInt('--sample-ms', opts['sample-ms']),
  masterPollMs: positiveInt('--master-poll-ms', opts['master-poll-ms']),
  runs: positiveInt('--runs', opts.runs),
  pollMs: positiveInt('--poll-ms', opts['poll-ms']),
};

requireRedis({ benchmark: parts.includes('lag') });
if (!fs.existsSync(path.join(ROOT, 'dist/node.js'))) fail('dist/node.js missing: run `npm run build` first');
const { Replica, Sync } = await import(pathToFileURL(path.join(ROOT, 'dist/node.js')).href);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

// ---------------------------------------------------------------- processes and temp dirs, cleaned up on any exit

cleanupOnExit();

// ---------------------------------------------------------------- (a) lag under load

async function lagBench() {
  const dir = makeTempDir('lag');
  const port = await freePort();
  console.log(`lag: master on 127.0.0.1:${port}; redis-benchmark -P ${cfg.pipeline} -t set -n ${cfg.requests} -r ${cfg.keyspace} -d ${cfg.dataSize}`);
  const master = await startServer(port, dir, ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']);
  const client = await MiniClient.connect(port);
  const result = { port, config: { ...cfg } };
  let replica = null;
  let consumer = null;
  let sampler = null;
  try {
    // The Replica, as a consumer would use it: iterate, keep the latest command's offset.
    replica = new Replica({ url: `redis://127.0.0.1:${port}`, skipRdb: true });
    const st = { commands: 0, transactions: 0, lastCommandOffset: 0, linkDowns: [], synced: null, error: null, position: null };
    let onSynced;
    const synced = new Promise((resolve) => { onSynced = resolve; });
    consumer = (async () => {
      for await (const e of replica) {
        switch (e.type) {
          case 'command':
            st.commands++;
            st.lastCommandOffset = e.command.offset;
            if (st.position) st.position[0] = st.lastCommandOffset;
            break;
          case 'transaction':
            st.transactions++;
            st.commands += e.commands.length;
            st.lastCommandOffset = e.offset;
            if (st.position) st.position[0] = st.lastCommandOffset;
            break;
          case 'full-sync-end':
            st.synced = e;
            onSynced();
            break;
          case 'link-down':
            st.linkDowns.push({ t: now(), error: e.error ? String(e.error.message ?? e.error) : null });
            break;
        }
      }
    })().catch((err) => { st.error = err; onSynced(); });
    await withTimeout(synced, 30_000, 'the Replica did not finish its (empty) full sync within 30 s');
    if (st.error) throw st.error;
    // Where the consumer stands: its latest command, or the checkpoint (which also moves past PINGs,
    // SELECTs and other stream items that are not events). Written to shared memory for the sampler.
    const replicaOffset = () => Math.max(st.lastCommandOffset, replica.checkpoint?.offset ?? 0);
    const shared = new SharedArrayBuffer(8);
    st.position = new Float64Array(shared);
    st.position[0] = replicaOffset();

    sampler = await startSampler(port, shared, { intervalMs: cfg.masterPollMs, sampleMs: cfg.sampleMs, sampleAtStart: true });
    await sleep(3 * cfg.masterPollMs);

    const startOffset = await replOffset(client);
    const tLoadStart = now();
    sampler.start();
    const bench = await benchmarkSets(port, cfg);
    const tLoadEnd = now();
    const endOffset = await replOffset(client);
    const setCalls = await setCallsOf(client); // what the master executed

    // Catch-up: until the consumer stands at the master's offset (30 s at most).
    const deadline = Date.now() + 30_000;
    while (replicaOffset() < endOffset && Date.now() < deadline && !st.error) {
      st.position[0] = replicaOffset();
      await sleep(5);
    }
    st.position[0] = replicaOffset();
    const tCaughtUp = replicaOffset() >= endOffset ? now() : null;
    await sleep(3 * cfg.masterPollMs);
    const { records, samples } = await withTimeout(sampler.stop(), 10_000, 'the sampler worker did not answer');
    if (st.error) throw st.error;

    const lags = samples.filter((s) => s.t >= tLoadStart).map((s) => lagAt(s, records));
    Object.assign(result, {
      benchmark: { output: bench.stdout.trim().split('\n').filter(Boolean).at(-1), setsPerSec: bench.setsPerSec },
      loadSeconds: (tLoadEnd - tLoadStart) / 1000,
      streamBytes: endOffset - startOffset,
      commandsSeen: st.commands,
      masterSetCalls: setCalls,
      transactions: st.transactions,
      linkDowns: st.linkDowns,
      catchUpMs: tCaughtUp ? tCaughtUp - tLoadEnd : null,
      caughtUp: tCaughtUp !== null,
      samples: lags.length,
      masterRecords: records.length,
      lagMs: stats(lags.map((l) => l.ms)),
      lagBytes: stats(lags.map((l) => l.bytes)),
      series: lags.map((l) => ({ t: Math.round(l.t - tLoadStart), ms: Math.round(l.ms * 10) / 10, bytes: l.bytes })),
    });
  } finally {
    replica?.stop();
    await consumer;
    await sampler?.terminate();
    client.close();
    await stopProcess(master);
    removeTempDir(dir);
  }
  return result;
}

// ---------------------------------------------------------------- (b) full sync: redistap Replica vs redis-server --replicaof

/** The RDB the master loads, and what corpus.json says about it (key count, server config), if known. */

async function oursFullSync(port) {
  gc();
  const t0 = now();
  const replica = new Replica({ url: `redis://127.0.0.1:${port}` });
  let entries = 0;
  let tFullSyncStart = null;
  let tFirstByte = null;
  let end = null;
  try {
    for await (const e of replica) {
      if (e.type === 'entry') entries++;
      else if (e.type === 'rdb-progress') tFirstByte ??= now();
      else if (e.type === 'full-sync-start') tFullSyncStart = now();
      else if (e.type === 'full-sync-end') { end = e; break; }
      else if (e.type === 'link-down') throw new Error(`link down during the sync: ${e.error?.message ?? e.error}`);
    }
  } finally {
    replica.stop();
  }
  const t1 = now();
  if (!end) throw new Error('the Replica stopped before full-sync-end');
  return {
    ms: t1 - t0, entries, keys: end.keys, rdbBytes: end.bytes,
    toFullSyncStartMs: tFullSyncStart - t0, toFirstByteMs: tFirstByte - t0,
    heapUsedMb: process.memoryUsage().heapUsed / 1e6, rssMb: process.memoryUsage().rss / 1e6,
  };
}

/**
 * The floor: a raw socket that performs a replica's handshake, PSYNC ? -1, and reads the diskless
 * snapshot to its end mark, discarding it. Its time is how fast the master produces and sends the
 * snapshot; a replica cannot finish sooner.
 */
function rawFullSync(port) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const socket = net.connect({ port, host: '127.0.0.1' });
    const cmd = (...args) => `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('');
    let stage = 0; // 0-2: handshake replies, 3: PSYNC reply, 4: $EOF header, 5: payload
    let pending = Buffer.alloc(0);
    let mark = null;
    let bytes = 0;
    let tail = Buffer.alloc(0);
    const done = (err, value) => { socket.destroy(); if (err) reject(err); else resolve(value); };
    socket.on('error', (err) => done(err));
    socket.on('connect', () => socket.write(cmd('PING') + cmd('REPLCONF', 'listening-port', 0) + cmd('REPLCONF', 'capa', 'eof', 'capa', 'psync2')));
    socket.on('data', (d) => {
      if (stage === 5) {
        bytes += d.length;
        tail = Buffer.concat([tail, d]).subarray(-40);
        if (tail.length === 40 && tail.equals(mark)) done(null, { ms: now() - t0, rdbBytes: bytes - 40 });
        return;
      }
      pending = Buffer.concat([pending, d]);
      for (;;) {
        if (stage === 4) while (pending[0] === 0x0a) pending = pending.subarray(1); // keepalive newlines
        const nl = pending.indexOf('\r\n');
        if (nl < 0) return;
        const line = pending.toString('latin1', 0, nl);
        pending = pending.subarray(nl + 2);
        if (line.startsWith('-')) return done(new Error(`master: ${line}`));
        if (stage < 2) { stage++; continue; }
        if (stage === 2) { stage = 3; socket.write(cmd('PSYNC', '?', -1)); continue; }
        if (stage === 3) { if (!line.startsWith('+FULLRESYNC')) return done(new Error(`master: ${line}`)); stage = 4; continue; }
        if (!line.startsWith('$EOF:')) return done(new Error(`expected a diskless snapshot, got ${line.slice(0, 60)}`));
        mark = Buffer.from(line.slice(5), 'latin1');
        stage = 5;
        if (pending.length) socket.emit('data', pending);
        return;
      }
    });
  });
}

/**
 * `redistap sync` (the library's Sync) into a target server started for the run, from that start until
 * the copy is acknowledged by the target (phase 'streaming'): what a migration waits for. The target has
 * the Redis replica's configuration (its diskless swapdb load matters to --copy replication only).
 */
async function syncFullSync(masterPort, serverConfig, copy) {
  const dir = makeTempDir('target');
  const port = await freePort();
  gc();
  const t0 = now();
  const cpu0 = ownCpuSeconds();
  const child = await startServer(port, dir, [...REPLICA_CONFIG, ...serverConfig]);
  let tCopyStart = null;
  const failures = [];
  const sync = new Sync({
    source: `redis://127.0.0.1:${masterPort}`, target: `redis://127.0.0.1:${port}`, copy,
    onEvent: (e) => {
      if (e.type === 'phase' && e.phase === 'copying') tCopyStart = now();
      if (e.type === 'warning') failures.push(e.message);
    },
  });
  let client = null;
  try {
    await withTimeout(new Promise((resolve, reject) => {
      const poll = setInterval(() => {
        if (sync.status.phase === 'streaming') resolve();
        if (sync.status.phase === 'failed') reject(new Error('the sync failed'));
        if (sync.status.phase === 'streaming' || sync.status.phase === 'failed') clearInterval(poll);
      }, 2);
      sync.done.catch((err) => { clearInterval(poll); reject(err); });
    }), 30 * 60_000, 'the sync did not finish its copy in 30 minutes');
    const t1 = now();
    const cpu = { ours: ownCpuSeconds() - cpu0, server: cpuSecondsOf(child.pid) };
    if (failures.length) throw new Error(`sync warnings: ${failures.slice(0, 3).join('; ')}`);
    sync.stop();
    await sync.done;
    client = await MiniClient.connect(port);
    // Less the sync's own keys: its state and owner (the lease went when it stopped).
    const own = await client.call('EVAL', "return #redis.call('KEYS', 'redistap:*')", 0);
    const keys = await client.call('DBSIZE') - own;
    return { ms: t1 - t0, keys, toCopyStartMs: tCopyStart - t0, copied: sync.status.copy.keys, cpu,
      heapUsedMb: process.memoryUsage().heapUsed / 1e6, rssMb: process.memoryUsage().rss / 1e6 };
  } finally {
    sync.stop();
    await sync.done.catch(() => undefined);
    client?.close();
    await stopProcess(child);
    removeTempDir(dir);
  }
}

/** How the Redis replica loads: diskless, into a second dataset (its fastest way). */
const REPLICA_CONFIG = ['--repl-diskless-load', 'swapdb'];

async function redisFullSync(masterPort, serverConfig) {
  const dir = makeTempDir('replica');
  const port = await freePort();
  const t0 = now();
  const child = await startServer(port, dir, ['--replicaof', '127.0.0.1', String(masterPort), ...REPLICA_CONFIG, ...serverConfig]);
  let client = null;
  try {
    client = await MiniClient.connect(port);
    let tSyncStarted = null;
    for (;;) {
      const repl = await info(client, 'replication');
      if (repl.master_sync_in_progress === '1') tSyncStarted ??= now();
      if (repl.master_link_status === 'up' && repl.master_sync_in_progress === '0') break;
      if (!isRunning(child)) throw new Error(`the Redis replica exited:\n${logTail(dir)}`);
      await sleep(cfg.pollMs);
    }
    const t1 = now();
    const cpu = { server: cpuSecondsOf(child.pid) };
    const keys = await client.call('DBSIZE');
    const mem = await info(client, 'memory');
    return { ms: t1 - t0, keys, cpu, toSyncStartMs: tSyncStarted ? tSyncStarted - t0 : null, rssMb: Number(mem.used_memory_rss) / 1e6 };
  } finally {
    client?.close();
    await stopProcess(child);
    removeTempDir(dir);
  }
}

async function fullSyncBench() {
  const rdb = findRdb(opts.rdb);
  const dir = makeTempDir('master');
  const port = await freePort();
  console.log(`fullsync: ${rdb.file} (${fmt(rdb.bytes / 1e6, 1)} MB${rdb.keys ? `, ${fmt(rdb.keys, 0)} keys` : ''}); master on 127.0.0.1:${port}, diskless sync`);
  fs.copyFileSync(rdb.file, path.join(dir, 'dump.rdb'));
  const t0 = now();
  const master = await startServer(port, dir, ['--dbfilename', 'dump.rdb', '--repl-diskless-sync', 'yes',
    '--repl-diskless-sync-delay', '0', ...rdb.serverConfig]);
  const client = await MiniClient.connect(port);
  const result = { rdb: { file: rdb.file, bytes: rdb.bytes, keys: rdb.keys }, serverConfig: rdb.serverConfig, raw: [], ours: [], redis: [], sync: [], syncReplication: [] };
  try {
    await waitLoaded(client);
    const dbsize = await client.call('DBSIZE');
    result.masterLoadMs = now() - t0;
    result.masterKeys = dbsize;
    console.log(`  master loaded ${fmt(dbsize, 0)} keys in ${fmt(result.masterLoadMs / 1000, 1)} s` +
      (rdb.keys != null && rdb.keys !== dbsize ? ` (corpus.json says ${rdb.keys}!)` : ''));
    const check = (label, keys) => {
      if (keys !== dbsize) throw new Error(`${label}: ${keys} keys, the master has ${dbsize}`);
    };
    const contenders = {
      raw: () => rawFullSync(port),
      ours: async () => {
        const r = await oursFullSync(port);
        check('redistap Replica', r.entries);
        return r;
      },
      redis: async () => {
        const r = await redisFullSync(port, rdb.serverConfig);
        check('Redis replica', r.keys);
        return r;
      },
      sync: async () => {
        const r = await syncFullSync(port, rdb.serverConfig, 'restore');
        check('redistap sync target', r.keys);
        return r;
      },
      syncReplication: async () => {
        const r = await syncFullSync(port, rdb.serverConfig, 'replication');
        check('redistap sync --copy replication target', r.keys);
        return r;
      },
    };
    process.stderr.write('  warm-up');
    for (let rep = 0; rep <= cfg.runs; rep++) {
      if (rep > 0) process.stderr.write(` ${rep}`);
      // Alternate who goes first.
      const order = rep % 2 === 0 ? ['raw', 'ours', 'redis', 'sync', 'syncReplication'] : ['syncReplication', 'sync', 'redis', 'ours', 'raw'];
      for (const id of order) {
        await waitMasterIdle(client);
        const masterCpu0 = cpuSecondsOf(master.pid);
        const r = await contenders[id]();
        await waitMasterIdle(client);
        if (r.cpu) r.cpu.master = cpuSecondsOf(master.pid) - masterCpu0;
        if (rep > 0) result[id].push(r);
        else result[`${id}WarmUp`] = r;
      }
    }
    process.stderr.write('\n');
    // Let the last snapshot child exit first: a master stopped while it runs leaves it an orphan.
    await waitMasterIdle(client);
  } finally {
    client.close();
    await stopProcess(master);
    removeTempDir(dir);
  }
  const m = (xs, f) => median(xs.map(f));
  result.oursMedianMs = m(result.ours, (r) => r.ms);
  result.redisMedianMs = m(result.redis, (r) => r.ms);
  result.rawMedianMs = m(result.raw, (r) => r.ms);
  result.ratio = result.oursMedianMs / result.redisMedianMs;
  result.syncMedianMs = m(result.sync, (r) => r.ms);
  result.syncRatio = result.syncMedianMs / result.redisMedianMs;
  result.syncRatiosPerRound = result.sync.map((r, i) => r.ms / result.redis[i].ms);
  result.syncReplicationMedianMs = m(result.syncReplication, (r) => r.ms);
  result.syncReplicationRatio = result.syncReplicationMedianMs / result.redisMedianMs;
  result.syncReplicationRatiosPerRound = result.syncReplication.map((r, i) => r.ms / result.redis[i].ms);
  result.rdbStreamBytes = result.ours[0]?.rdbBytes ?? null;
  return result;
}

// ---------------------------------------------------------------- output

function printLag(r) {
  console.log('');
  const rows = [
    ['redis-benchmark', `${r.benchmark.output}`],
    ['load', `${fmt(r.loadSeconds, 2)} s, ${fmt(r.streamBytes / 1e6, 1)} MB of replication stream (${fmt(r.streamBytes / 1e6 / r.loadSeconds, 1)} MB/s)`],
    ['commands seen by the Replica', `${fmt(r.commandsSeen, 0)} (the master executed ${fmt(r.masterSetCalls, 0)} SETs)${r.commandsSeen === r.masterSetCalls ? '' : '  MISMATCH'}`],
    ['link drops', r.linkDowns.length ? r.linkDowns.map((l) => l.error).join('; ') : 'none'],
    ['caught up after load ended', r.caughtUp ? `${fmt(r.catchUpMs, 0)} ms` : 'NO (still behind after 30 s)'],
    ['samples', `${r.samples} (every ${r.config.sampleMs} ms); master timeline: ${r.masterRecords} polls (every ${r.config.masterPollMs} ms)`],
  ];
  const w = Math.max(...rows.map((x) => x[0].length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
  console.log('');
  const header = ['lag', 'max', 'p99', 'p50', 'mean'];
  const table = [
    ['ms', ...['max', 'p99', 'p50', 'mean'].map((k) => fmt(r.lagMs[k], 1))],
    ['bytes', ...['max', 'p99', 'p50', 'mean'].map((k) => fmt(r.lagBytes[k], 0))],
  ];
  printRows(header, table, new Set([0]));
  const verdict = r.caughtUp && r.lagMs.max <= 1000 ? 'meets' : 'misses';
  console.log(`\n  max lag ${fmt(r.lagMs.max, 0)} ms: ${verdict} the "within 1 s" target`);
}

function printFullSync(r) {
  console.log('');
  const row = (label, xs, medianMs, extra) => [label, fmt(medianMs / 1000, 3), xs.map((x) => fmt(x.ms / 1000, 2)).join(' '), extra];
  const ours = r.ours;
  const table = [
    row('redistap Replica: connect → full-sync-end', ours, r.oursMedianMs,
      `${fmt(median(ours.map((x) => x.entries)), 0)} entries; FULLRESYNC at ${fmt(median(ours.map((x) => x.toFullSyncStartMs)), 0)} ms, ` +
      `first RDB byte at ${fmt(median(ours.map((x) => x.toFirstByteMs)), 0)} ms; RSS ${fmt(Math.max(...ours.map((x) => x.rssMb)), 0)} MB`),
    row('redis-server --replicaof (swapdb): start → link up, loaded', r.redis, r.redisMedianMs,
      `${fmt(median(r.redis.map((x) => x.keys)), 0)} keys; used_memory_rss ${fmt(Math.max(...r.redis.map((x) => x.rssMb)), 0)} MB`),
  ];
  const syncRow = (label, runs, medianMs) => row(label, runs, medianMs,
    `${fmt(median(runs.map((x) => x.keys)), 0)} keys on the target; copy began at ${fmt(median(runs.map((x) => x.toCopyStartMs)), 0)} ms; ` +
    `RSS ${fmt(Math.max(...runs.map((x) => x.rssMb)), 0)} MB`);
  table.push(syncRow('redistap sync --copy restore: target start → copy acknowledged', r.sync, r.syncMedianMs));
  table.push(syncRow('redistap sync --copy replication: target start → loaded, promoted', r.syncReplication, r.syncReplicationMedianMs));
  table.push(row('floor: raw socket replica, snapshot discarded', r.raw, r.rawMedianMs,
    `the master's send rate: ${fmt(median(r.raw.map((x) => x.rdbBytes)) / 1e6 / (r.rawMedianMs / 1000), 1)} MB/s`));
  printRows(['contender', 'median s', 'runs (s)', 'notes'], table, new Set([0, 2, 3]));
  const verdict = r.ratio <= 1 ? 'meets' : 'misses';
  console.log(`\n  ours / Redis = ${fmt(r.ratio, 2)} (${r.ratio <= 1 ? 'faster' : 'slower'}): ${verdict} the "ours <= Redis" target`);
  const syncVerdict = (label, ratio, perRound) => console.log(`  ${label} / Redis = ${fmt(ratio, 2)} (per round: ${perRound.map((x) => fmt(x, 2)).join(' ')}): ` +
    `${ratio <= 1 ? 'meets' : 'misses'} the "sync's target no slower than Redis's replica" target`);
  syncVerdict('sync --copy restore', r.syncRatio, r.syncRatiosPerRound);
  syncVerdict('sync --copy replication', r.syncReplicationRatio, r.syncReplicationRatiosPerRound);
  console.log(`  diskless RDB stream: ${fmt(r.rdbStreamBytes / 1e6, 1)} MB; master load of the file: ${fmt(r.masterLoadMs / 1000, 1)} s`);
  printCpu(r);
}

/**
 * Where the CPU went, medians per run: every process either way of copying runs on this machine's cores,
 * so a contender's wall time can be no less than its total CPU time divided by the cores.
 */
function printCpu(r) {
  const cores = os.cpus().length;
  const m = (xs, f) => median(xs.map(f));
  const row = (label, runs, loader) => {
    const master = m(runs, (x) => x.cpu.master);
    const server = m(runs, (x) => x.cpu.server);
    const ours = runs[0].cpu.ours === undefined ? null : m(runs, (x) => x.cpu.ours);
    const total = m(runs, (x) => x.cpu.master + x.cpu.server + (x.cpu.ours ?? 0));
    return [label, fmt(master, 2), `${fmt(server, 2)} (${loader})`, ours === null ? '-' : fmt(ours, 2), fmt(total, 2), fmt(total / cores, 2)];
  };
  console.log('');
  printRows(['CPU seconds per run (median)', 'master + snapshot child', 'loading server', 'redistap', 'total', `total / ${cores} cores`], [
    row('redis-server --replicaof', r.redis, 'replica'),
    row('redistap sync --copy restore', r.sync, 'target'),
    row('redistap sync --copy replication', r.syncReplication, 'target'),
  ], new Set([0]));
}

// ---------------------------------------------------------------- main

async function main() {
  const startedAt = new Date();
  console.log(`${environmentLine({ before: [redisVersion()] })}\n`);
  const results = {};
  let failed = false;
  for (const part of parts) {
    try {
      if (part === 'lag') {
        results.lag = await lagBench();
        printLag(results.lag);
      } else {
        results.fullsync = await fullSyncBench();
        printFullSync(results.fullsync);
      }
    } catch (err) {
      failed = true;
      results[part] = { error: String(err.stack ?? err) };
      console.log(`\n${part} FAILED: ${err.stack ?? err}`);
    }
    console.log('');
  }
  if (!opts['no-save']) {
    const out = writeResults('replication-live', startedAt, {
      environment: runEnvironment(),
      units: { time: 'ms (wall clock)', lag: 'ms and replication-stream bytes behind the master' },
      results,
    });
    console.log(`result: ${path.relative(process.cwd(), out)}`);
  }
  process.exitCode = failed ? 1 : 0;
}

await main();

// ---------------------------------------------------------------- small helpers

function withTimeout(promise, ms, message) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); })])
    .finally(() => clearTimeout(timer));
}

function stats(xs) {
  if (xs.length === 0) return { max: NaN, p99: NaN, p50: NaN, mean: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { max: s.at(-1), p99: q(0.99), p50: q(0.5), mean: s.reduce((a, b) => a + b, 0) / s.length };
}
