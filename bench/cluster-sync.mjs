// `redistap sync` from a Redis Cluster against the cluster's own way of copying itself, on live
// redis-server processes (started here, on loopback, in temp dirs):
//
//   the corpus spread over a cluster of 3 masters (redis-server --cluster-enabled yes, joined by
//   redis-cli --cluster create, filled by redis-cli --cluster import from a server that loaded the RDB);
//   redistap sync: from a node of the cluster into one fresh redis-server, from its start until every
//              shard's copy is acknowledged by the target (phase 'streaming');
//   replicas:  a fresh `redis-server --replicaof <master>` for each of the 3 masters, started at once,
//              until the last of them has loaded its shard (link up, no sync in progress).
//
// Alternating, medians of --runs; the ratio is sync's median over the replicas'.
//
// --direction into: the other way, the corpus loaded by one redis-server and copied into an empty cluster
// of 3 masters (a fresh one each run):
//   redistap sync: from the server into a node of the cluster, until its copy is acknowledged by every
//              master (phase 'streaming');
//   redis-cli --cluster import --cluster-copy: the cluster's own tool (a MIGRATE per key).
//
//   node bench/cluster-sync.mjs [--direction from|into] [--runs N] [--rdb FILE] [--no-save]
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { environmentLine, fail, fmt, median, parseOptions, positiveInt, printRows, sleep, writeResults } from './common.mjs';
import {
  cleanupOnExit, cpuSecondsOf, findRdb, freePort, info, isRunning, logTail, makeTempDir, MiniClient, now, ownCpuSeconds,
  redisVersion, removeTempDir, requireRedis, runEnvironment, startServer, stopProcess, waitLoaded, waitMasterIdle,
} from './live-servers.mjs';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const MASTERS = 3;

const HELP = `redistap sync from a Redis Cluster of ${MASTERS} masters into one server, against a real replica of
each master syncing in the same run; or (--direction into) from one server into an empty cluster, against
redis-cli --cluster import in the same run.

Usage: node bench/cluster-sync.mjs [options]

  --direction D from (default): the cluster into one server; into: one server into the cluster
  --rdb FILE    the corpus, spread over the cluster (default: bench/corpus/mixed.rdb, else
                /work/corpus/mixed.rdb, else generated with ../shared/tools/perf-corpus --only mixed);
                its keys must all be in database 0 (a cluster has no other)
  --runs N      timed runs of each, alternating, median (default 3; plus one untimed warm-up each)
  --poll-ms N   how often the replicas' INFO replication is polled (default 20)
  --no-save     do not write bench/results/cluster-sync-<timestamp>.json
  -h, --help    this text

Needs redis-server and redis-cli in PATH, and the built library (npm run build). Filling the cluster
(redis-cli --cluster import, one MIGRATE per key) takes a few minutes for the mixed corpus.`;

const opts = parseOptions({
  rdb: { type: 'string' },
  runs: { type: 'string', default: '3' },
  'poll-ms': { type: 'string', default: '20' },
  direction: { type: 'string', default: 'from' },
  'no-save': { type: 'boolean', default: false },
}, HELP);
if (opts.direction !== 'from' && opts.direction !== 'into') fail(`--direction ${opts.direction}: from or into`);
const cfg = { runs: positiveInt('--runs', opts.runs), pollMs: positiveInt('--poll-ms', opts['poll-ms']) };

requireRedis({ benchmark: false });
if (!fs.existsSync(path.join(ROOT, 'dist/node.js'))) fail('dist/node.js missing: run `npm run build` first');
const { Sync } = await import(pathToFileURL(path.join(ROOT, 'dist/node.js')).href);

cleanupOnExit();

/** How the real replicas load: diskless, into a second dataset (their fastest way), as in replication-live. */
const REPLICA_CONFIG = ['--repl-diskless-load', 'swapdb'];

function redisCli(args) {
  const r = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 60 * 60_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`redis-cli ${args.slice(0, 2).join(' ')} failed: ${(r.stdout + r.stderr).slice(-2000)}`);
  return r.stdout;
}

/** An empty cluster of MASTERS masters (no replicas), started and joined: its masters. */
async function startEmptyCluster(serverConfig) {
  const masters = [];
  for (let i = 0; i < MASTERS; i++) {
    const dir = makeTempDir(`cluster-${i}`);
    let port;
    do port = await freePort(); while (masters.some((m) => Math.abs(m.port - port) === 10000));
    masters.push(await startServer(port, dir, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
      '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', ...serverConfig]));
  }
  redisCli(['--cluster', 'create', ...masters.map((m) => `127.0.0.1:${m.port}`), '--cluster-replicas', '0', '--cluster-yes']);
  for (const m of masters) {
    const c = await MiniClient.connect(m.port);
    while ((await info(c, 'cluster')).cluster_enabled !== '1' || !/cluster_state:ok/.test(await c.call('CLUSTER', 'INFO'))) await sleep(100);
    c.close();
  }
  return masters;
}

async function stopAll(servers) {
  for (const s of servers) {
    await stopProcess(s);
    removeTempDir(s.dir);
  }
}

/** One redis-server that loaded the corpus (all of it in db 0, as a cluster holds it). */
async function loadCorpus(rdb) {
  const dir = makeTempDir('corpus');
  fs.copyFileSync(rdb.file, path.join(dir, 'dump.rdb'));
  // A replica's sync (redistap's, in --direction into) starts at once, as the cluster's masters' do.
  const loader = await startServer(await freePort(), dir, ['--dbfilename', 'dump.rdb', '--repl-diskless-sync-delay', '0', ...rdb.serverConfig]);
  const c = await MiniClient.connect(loader.port);
  await waitLoaded(c);
  const keyspace = await info(c, 'keyspace');
  c.close();
  if (Object.keys(keyspace).some((db) => db !== 'db0')) throw new Error(`the corpus has keys outside db 0 (${Object.keys(keyspace).join(', ')}): a cluster holds db 0 only`);
  return loader;
}

/** redis-cli --cluster import of every key of `source` into the cluster of `masters` (a MIGRATE per key, copied). */
function importInto(masters, source) {
  redisCli(['--cluster', 'import', `127.0.0.1:${masters[0].port}`, '--cluster-from', `127.0.0.1:${source.port}`, '--cluster-copy', '--cluster-replace']);
}

/** A cluster of MASTERS masters (no replicas) holding the corpus: its masters, started and filled. */
async function startCluster(rdb) {
  const masters = await startEmptyCluster(rdb.serverConfig);
  // The corpus, loaded by a plain server and imported key by key into the slots' masters.
  const loader = await loadCorpus(rdb);
  const t0 = now();
  process.stderr.write(`  filling the cluster (redis-cli --cluster import) ...`);
  importInto(masters, loader);
  process.stderr.write(` ${fmt((now() - t0) / 1000, 0)} s\n`);
  await stopAll([loader]);
  return masters;
}

async function dbsize(port) {
  const c = await MiniClient.connect(port);
  try {
    return await c.call('DBSIZE');
  } finally {
    c.close();
  }
}

/**
 * A Sync with `options`, from its start (t0) until its copy is acknowledged (phase 'streaming'), then
 * stopped: how long it took and the CPU it and the target's processes (`targetPids`) spent.
 */
async function copyBySync(options, t0, cpu0, targetPids) {
  const warnings = [];
  const sync = new Sync({ ...options, onEvent: (e) => { if (e.type === 'warning') warnings.push(e.message); } });
  try {
    while (sync.status.phase !== 'streaming') {
      if (sync.status.phase === 'failed' || sync.status.phase === 'stopped') await sync.done;
      await sleep(2);
    }
    const ms = now() - t0;
    const cpu = { ours: ownCpuSeconds() - cpu0, target: targetPids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0) };
    if (warnings.length) throw new Error(`sync warnings: ${warnings.slice(0, 3).join('; ')}`);
    return { ms, cpu };
  } finally {
    sync.stop();
    await sync.done.catch(() => undefined);
  }
}

async function syncCopy(masters, serverConfig) {
  const dir = makeTempDir('target');
  const port = await freePort();
  const t0 = now();
  const cpu0 = ownCpuSeconds();
  const target = await startServer(port, dir, serverConfig);
  try {
    const { ms, cpu } = await copyBySync({ source: `redis://127.0.0.1:${masters[0].port}`, target: `redis://127.0.0.1:${port}` }, t0, cpu0, [target.pid]);
    return { ms, keys: await keysBesideOurs([target]), cpu, rssMb: process.memoryUsage().rss / 1e6 };
  } finally {
    await stopProcess(target);
    removeTempDir(dir);
  }
}

async function replicaCopies(masters, serverConfig) {
  const t0 = now();
  const replicas = await Promise.all(masters.map(async (m) => {
    const dir = makeTempDir('replica');
    return startServer(await freePort(), dir, ['--replicaof', '127.0.0.1', String(m.port), ...REPLICA_CONFIG, ...serverConfig]);
  }));
  try {
    const loadedMs = await Promise.all(replicas.map(async (r) => {
      const c = await MiniClient.connect(r.port);
      try {
        for (;;) {
          const repl = await info(c, 'replication');
          if (repl.master_link_status === 'up' && repl.master_sync_in_progress === '0') return now() - t0;
          if (!isRunning(r)) throw new Error(`a replica exited:\n${logTail(r.dir)}`);
          await sleep(cfg.pollMs);
        }
      } finally {
        c.close();
      }
    }));
    let keys = 0;
    for (const r of replicas) keys += await dbsize(r.port);
    return { ms: Math.max(...loadedMs), perReplicaMs: loadedMs, keys, cpu: { replicas: replicas.reduce((sum, r) => sum + cpuSecondsOf(r.pid), 0) } };
  } finally {
    for (const r of replicas) {
      await stopProcess(r);
      removeTempDir(r.dir);
    }
  }
}

/** Keys in the servers (a cluster's masters), the sync's own (redistap:*) aside. */
async function keysBesideOurs(servers) {
  let keys = 0;
  for (const m of servers) {
    const c = await MiniClient.connect(m.port);
    keys += (await c.call('DBSIZE')) - (await c.call('EVAL', "return #redis.call('KEYS', 'redistap:*')", 0));
    c.close();
  }
  return keys;
}

/** redistap sync from `source` into a fresh empty cluster, until its copy is acknowledged. */
async function syncInto(source, serverConfig) {
  const masters = await startEmptyCluster(serverConfig);
  try {
    const options = { source: `redis://127.0.0.1:${source.port}`, target: `redis://127.0.0.1:${masters[0].port}`, dbs: [0] };
    const { ms, cpu } = await copyBySync(options, now(), ownCpuSeconds(), masters.map((m) => m.pid));
    return { ms, keys: await keysBesideOurs(masters), cpu, rssMb: process.memoryUsage().rss / 1e6 };
  } finally {
    await stopAll(masters);
  }
}

/** redis-cli --cluster import from `source` into a fresh empty cluster. */
async function importIntoFresh(source, serverConfig) {
  const masters = await startEmptyCluster(serverConfig);
  try {
    const t0 = now();
    importInto(masters, source);
    const ms = now() - t0;
    return { ms, keys: await keysBesideOurs(masters), cpu: { target: masters.reduce((sum, m) => sum + cpuSecondsOf(m.pid), 0) } };
  } finally {
    await stopAll(masters);
  }
}

/** --direction into: sync and redis-cli --cluster import, each into a fresh cluster, alternating. */
async function mainInto(startedAt, rdb) {
  const source = await loadCorpus(rdb);
  const result = { direction: 'into', rdb: { file: rdb.file, bytes: rdb.bytes, keys: rdb.keys }, masters: MASTERS, sync: [], import: [] };
  try {
    result.sourceKeys = await dbsize(source.port);
    console.log(`  the source holds ${fmt(result.sourceKeys, 0)} keys`);
    const contenders = { sync: () => syncInto(source, rdb.serverConfig), import: () => importIntoFresh(source, rdb.serverConfig) };
    process.stderr.write('  warm-up');
    for (let rep = 0; rep <= cfg.runs; rep++) {
      if (rep > 0) process.stderr.write(` ${rep}`);
      for (const id of rep % 2 === 0 ? ['sync', 'import'] : ['import', 'sync']) {
        const r = await contenders[id]();
        if (r.keys !== result.sourceKeys) throw new Error(`${id}: ${r.keys} keys in the cluster, the source has ${result.sourceKeys}`);
        if (rep > 0) result[id].push(r);
      }
    }
    process.stderr.write('\n');
  } finally {
    await stopAll([source]);
  }
  result.syncMedianMs = median(result.sync.map((r) => r.ms));
  result.importMedianMs = median(result.import.map((r) => r.ms));
  result.ratio = result.syncMedianMs / result.importMedianMs;
  printRows(['', 'median s', 'runs (s)', 'CPU s (median)'], [
    ['redistap sync (into the cluster)', fmt(result.syncMedianMs / 1000, 2), result.sync.map((r) => fmt(r.ms / 1000, 2)).join(' '),
      `ours ${fmt(median(result.sync.map((r) => r.cpu.ours)), 1)}, masters ${fmt(median(result.sync.map((r) => r.cpu.target)), 1)}`],
    ['redis-cli --cluster import --cluster-copy', fmt(result.importMedianMs / 1000, 2), result.import.map((r) => fmt(r.ms / 1000, 2)).join(' '),
      `masters ${fmt(median(result.import.map((r) => r.cpu.target)), 1)}`],
  ], new Set([0, 3]));
  console.log(`sync / redis-cli import: ${fmt(result.ratio, 2)}x (lower is faster)`);
  if (!opts['no-save']) writeResults('cluster-sync-into', startedAt, { ...runEnvironment(), result });
}

async function main() {
  const startedAt = new Date();
  const rdb = findRdb(opts.rdb);
  console.log(`cluster sync (${opts.direction} a cluster): ${rdb.file} (${fmt(rdb.bytes / 1e6, 1)} MB${rdb.keys ? `, ${fmt(rdb.keys, 0)} keys` : ''}) over ${MASTERS} masters; ${redisVersion()}`);
  console.log(environmentLine());
  if (opts.direction === 'into') return mainInto(startedAt, rdb);
  const masters = await startCluster(rdb);
  const result = { rdb: { file: rdb.file, bytes: rdb.bytes, keys: rdb.keys }, masters: MASTERS, sync: [], replicas: [] };
  try {
    let total = 0;
    for (const m of masters) total += await dbsize(m.port);
    result.clusterKeys = total;
    console.log(`  the cluster holds ${fmt(total, 0)} keys`);
    const check = (label, keys) => {
      if (keys !== total) throw new Error(`${label}: ${keys} keys, the cluster has ${total}`);
    };
    const contenders = {
      sync: async () => {
        const r = await syncCopy(masters, rdb.serverConfig);
        check('redistap sync target', r.keys);
        return r;
      },
      replicas: async () => {
        const r = await replicaCopies(masters, rdb.serverConfig);
        check('the replicas', r.keys);
        return r;
      },
    };
    const idle = async () => {
      for (const m of masters) {
        const c = await MiniClient.connect(m.port);
        await waitMasterIdle(c);
        c.close();
      }
    };
    process.stderr.write('  warm-up');
    for (let rep = 0; rep <= cfg.runs; rep++) {
      if (rep > 0) process.stderr.write(` ${rep}`);
      for (const id of rep % 2 === 0 ? ['sync', 'replicas'] : ['replicas', 'sync']) {
        await idle();
        const r = await contenders[id]();
        if (rep > 0) result[id].push(r);
      }
    }
    process.stderr.write('\n');
    await idle();
  } finally {
    await stopAll(masters);
  }
  result.syncMedianMs = median(result.sync.map((r) => r.ms));
  result.replicasMedianMs = median(result.replicas.map((r) => r.ms));
  result.ratio = result.syncMedianMs / result.replicasMedianMs;
  result.ratiosPerRound = result.sync.map((r, i) => r.ms / result.replicas[i].ms);
  printRows(['', 'median s', 'runs (s)', 'CPU s (median)'], [
    ['redistap sync (one target)', fmt(result.syncMedianMs / 1000, 2), result.sync.map((r) => fmt(r.ms / 1000, 2)).join(' '),
      `ours ${fmt(median(result.sync.map((r) => r.cpu.ours)), 1)}, target ${fmt(median(result.sync.map((r) => r.cpu.target)), 1)}`],
    [`${MASTERS} replicas (the last loaded)`, fmt(result.replicasMedianMs / 1000, 2), result.replicas.map((r) => fmt(r.ms / 1000, 2)).join(' '),
      `replicas ${fmt(median(result.replicas.map((r) => r.cpu.replicas)), 1)}`],
  ], new Set([0, 3]));
  console.log(`sync / replicas: ${fmt(result.ratio, 2)}x (per round: ${result.ratiosPerRound.map((x) => fmt(x, 2)).join(', ')})`);
  if (!opts['no-save']) writeResults('cluster-sync', startedAt, { ...runEnvironment(), result });
}

await main();
