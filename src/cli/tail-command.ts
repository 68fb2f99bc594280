// `redistap tail <redis-url>`: connect as a replica and print the snapshot, then every write, as JSON lines.
// It runs the change pipeline (src/pipeline/pipeline.ts): the replica as the source, the JSON lines stage
// (jsonl-stage.ts), and standard output or the -o file as the sink (output-sink.ts).
import { readFromOption, type ClusterFlags } from './cluster-options.js';
import { Command, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Output } from '../node/output.js';
import { Pipeline, PipelineError, type PipelineEvent, type PipelineStatus } from '../pipeline/pipeline.js';
import { JsonlStage, type KeyPositions } from '../pipeline/jsonl-stage.js';
import { isClusterNode } from '../cluster/topology.js';
import { OutputClosed, OutputSink } from '../pipeline/sinks/output-sink.js';
import { PositionFile, type SavedPosition } from '../pipeline/position-file.js';
import type { SourceEvent } from '../pipeline/source.js';
import { ByteProgress } from './progress.js';
import { rescanAsked } from './status-output.js';
import { CliError } from './cli-error.js';
import { addPasswordOption, urlWithPassword } from './password-options.js';
import { addTlsOptions, tlsOptionsFrom } from './tls-options.js';
import { addRetryOptions, retryRuleFrom, type RetryFlags } from './retry-options.js';
import { METRICS_OPTION_HELP, serveMetrics, type MetricSpec } from './metrics.js';
import { dbNumber, keyPatternOf, list, positiveNumber, repeated } from './selection-options.js';
import { EventFilter } from '../pipeline/event-filter.js';
import { readCommandTable } from '../pipeline/source-commands.js';
import type { ConnectionOptions } from 'node:tls';
import { parseRedisUrl } from '../replica/redis-url.js';
import { sourceModeOption, type SourceModeFlags } from './source-mode-options.js';
import { scanRefusal, scanSelection } from '../scan/source-mode.js';
import { askSentinelNode, isSentinelUrl, parseSentinelUrl, sentinelNode } from '../replica/sentinel.js';

interface TailOptions extends RetryFlags, ClusterFlags, SourceModeFlags {
  checkpoint?: string;
  output?: string;
  rdb: boolean;
  format: 'jsonl';
  psyncCommand: string;
  buffer: string;
  spoolDir?: string;
  timeout: string;
  metrics?: string;
  events?: string;
  db?: string[];
  command?: string[];
  prefix?: string[];
  key?: string;
}

/** The filter the options ask for (reading the master's command table), or null without any. */
async function filterFrom(opts: TailOptions, url: string, tls: ConnectionOptions | undefined, timeoutMs: number): Promise<EventFilter | null> {
  const options = { events: opts.events, dbs: opts.db?.map((d) => dbNumber(d, '--db')), commands: opts.command, prefixes: opts.prefix, keyPattern: keyPatternOf(opts.key) };
  if (Object.values(options).every((v) => v === undefined)) return null;
  const table = await readCommandTable(url, tls, timeoutMs);
  try {
    return new EventFilter(options, table);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/**
 * Standard output, or the -o file. With a checkpoint the file is cut to the length the checkpoint covers
 * and continued, so a restart after a crash writes each line once; a file the checkpoint does not cover
 * is refused rather than cut or appended to.
 */
function openOutput(path: string | undefined, store: PositionFile | null, saved: SavedPosition | null): Output {
  const extent = saved?.extent;
  if (!path && store && extent) {
    // Saving it without the extent would lose FILE's length; keeping the old one would let the position
    // move on past lines FILE never gets. Either way the next -o FILE run could not be exactly once.
    throw new Error(`${store.path} was saved with -o ${extent.path} (covering ${extent.bytes} bytes): give -o ${extent.path}, or a new checkpoint file`);
  }
  if (!path || !store) return Output.to(path);
  if (saved && !extent) {
    throw new Error(`${store.path} was saved without -o: it does not say how much of ${path} it covers (give a new checkpoint file, or no -o)`);
  }
  if (extent && extent.path !== resolve(path)) {
    throw new Error(`${store.path} covers ${extent.path}, not ${resolve(path)}`);
  }
  if (!extent) {
    if (existsSync(path) && statSync(path).size > 0) {
      throw new Error(`${path} is not empty and ${store.path} does not exist yet: give a new output file, or the checkpoint saved with this one`);
    }
    // Before the first position: a crash from here on finds a checkpoint that covers none of the file.
    store.save(null, undefined, { path: resolve(path), bytes: 0 });
  }
  return Output.continuing(path, extent?.bytes ?? 0);
}

/** What a lifecycle event says on standard error (the data goes to standard output). */
function describe(e: SourceEvent, scan: boolean): string | null {
  if (scan) return describeScan(e);
  switch (e.type) {
    case 'link-up': return `connected to ${e.host}:${e.port}`;
    case 'full-sync-start':
      if (!e.replid) return 'full sync without a replication ID: the master took the PSYNC command for SYNC (renamed?); a restart will sync in full again';
      return `full sync from ${e.replid} at offset ${e.offset}${e.reason === 'resync' ? ' (the master could not continue from the checkpoint)' : ''}`;
    case 'full-sync-end': return `full sync done: ${e.keys} keys, ${e.bytes} bytes`;
    case 'resumed': return `resumed ${e.replid} after offset ${e.offset}`;
    case 'replid-changed': return `replication ID changed from ${e.from} to ${e.to} at offset ${e.offset}`;
    default: return null;
  }
}

/** The same in scan mode, where a full sync is a scan of every key. */
function describeScan(e: SourceEvent): string | null {
  switch (e.type) {
    case 'link-up': return `connected to ${e.host}:${e.port}, subscribed to its keyspace notifications`;
    case 'full-sync-start': return e.reason === 'rescan' ? 'reading every key again (the notifications dropped, or a flush): a new snapshot' : 'reading every key (SCAN, DUMP)';
    case 'full-sync-end': return `snapshot done: ${e.keys} keys; now each key a notification names, as it is then`;
    default: return null;
  }
}

/** What tail counts for --metrics besides the pipeline's status. */
interface TailCounts {
  writes: number;
}

function tailMetrics(counts: TailCounts, status: () => PipelineStatus, sink: OutputSink): MetricSpec[] {
  return [
    { name: 'writes_total', help: 'writes read from the master (before filters)', type: 'counter', value: () => counts.writes },
    { name: 'output_bytes_total', help: 'bytes of lines written (snapshot keys, writes, control lines)', type: 'counter', value: () => sink.written },
    { name: 'offset', help: 'replication offset of the last write written out (a cluster: the sum of its shards\')', type: 'gauge', value: () => status().confirmed.offset },
    { name: 'queue_bytes', help: 'events waiting in memory (estimated)', type: 'gauge', value: () => status().queuedBytes },
    { name: 'spool_bytes', help: 'bytes of the stream waiting in the spool file', type: 'gauge', value: () => status().spoolBytes },
    { name: 'source_link_up', help: '1 while the replication link is up', type: 'gauge', value: () => Number(status().source === 'up') },
    { name: 'full_syncs_total', help: 'full syncs (snapshots) from the master', type: 'counter', value: () => status().fullSyncs },
    { name: 'source_reconnects_total', help: 'times the link came back after dropping', type: 'counter', value: () => status().sourceReconnects },
  ];
}

export function tailCommand(): Command {
  const cmd = new Command('tail')
    .description('connect to a Redis or Valkey server as a replica and print its data, then every write')
    .argument('<redis-url>', 'redis://[user@]host[:port], or rediss:// for TLS (the password: REDISCLI_AUTH or --password-file); ' +
      'a master behind Sentinel: redis+sentinel://[user@]sentinel[:port][,sentinel[:port]...]/<master name>')
    .option('-c, --checkpoint <file>', 'resume from the position saved in this file, and keep it there')
    .option('-o, --output <file>', 'write the lines to this file; with --checkpoint each line exactly once, across crashes')
    .option('--no-rdb', 'do not print the snapshot (a full sync still reads it)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['jsonl']).default('jsonl'))
    .option('--psync-command <name>', 'the PSYNC command\'s name, where a service renamed it', 'PSYNC')
    .addOption(readFromOption())
    .addOption(sourceModeOption())
    .option('--buffer <MiB>', 'memory for writes waiting to be printed; beyond it they wait on disk', '64')
    .option('--spool-dir <dir>', 'where writes wait when the buffer is full (default: the temp directory)')
    .option('--timeout <seconds>', 'a connection attempt, or a link silent for this long, is a failure', '60')
    .option('--metrics <[host:]port>', METRICS_OPTION_HELP)
    .option('--events <classes>', 'only writes (and snapshot keys) of these classes, as notify-keyspace-events letters: g generic, ' +
      '$ string, l list, s set, h hash, z sorted set, t stream, A all (e.g. \'$h\')')
    .addOption(new Option('--db <n>', 'only these databases (repeatable, or comma-separated)').argParser(list))
    .addOption(new Option('--command <name>', 'only these commands (repeatable, or comma-separated), e.g. set,hset').argParser(list))
    .addOption(new Option('--prefix <prefix>', 'only keys beginning with this text (repeatable)').argParser(repeated))
    .option('--key <regex>', 'only keys matching this regular expression (as UTF-8 text)');
  addRetryOptions(cmd, 'the link');
  addTlsOptions(cmd, '', "the server's");
  addPasswordOption(cmd, '', "the server's", 'REDISCLI_AUTH');
  cmd.addHelpText('after', `
Output (jsonl): the snapshot as canonical lines (as \`redistap parse\` writes them), then one line per
write:
  {"replid":"8371b4fb...","offset":1234,"db":0,"cmd":["SET","k","v"]}
offset is the replication offset of the command's last byte (what a replica ACKs after it). Control
lines ({"event":...}) say what else changes the data: a full sync starting (drop what you hold; its
reason and replid) and ending, a flush, a resume, a new replication ID, and MULTI/EXEC blocks, printed
whole between a "multi" and an "exec" line. The schema: docs/tail-jsonl.md. Connection events go to
standard error, and on a terminal a progress line while a full sync takes more than a second. Ctrl-C
stops cleanly.

Filters (--events, --db, --command, --prefix, --key) leave out the writes and snapshot keys they do not
select; control lines always come. A write passes --prefix/--key when one of its keys does (RENAME a b
is printed to whoever follows b), or when it names no key (FLUSHALL, FLUSHDB, SWAPDB); a write whose
keys cannot be told is left out, with a warning. A MULTI/EXEC block is printed with its selected writes
(its multi line counts them), or not at all. Classes come from the master's command table (Redis 6.0+).

If the first connection fails (refused, unknown host, a TLS port spoken to without TLS, a refused
password) the command ends with the reason, exit 2, unless --wait. A link lost later is retried with
backoff (0.1 s doubling to 5 s), each attempt's failure on standard error ("link down: the master
closed the connection after 1048576 of 7340032 snapshot bytes", "no data from the master for 60000 ms
at offset 1234", "the connection was reset (ECONNRESET) ..."); once the link has not been back for
--max-retry-time seconds when an attempt fails, the command gives up: exit 2. A refusal or data that
cannot be read ends it at once.

A node of a Redis Cluster (cluster_enabled:1) is followed as its whole cluster: a replica of each
shard's master, every line with its "shard" (the master's node ID when found) and a key's line with its
hash "slot"; a shard's full-sync-start and flush lines name its "slots". The checkpoint keeps each
shard's position. When a shard's master fails over, tail continues on the promoted replica with PSYNC.
Once the cluster has answered, a shard's master that does not (a failover under way as tail starts) is
retried as a link lost later is, until --max-retry-time.

Through Redis Sentinel (redis+sentinel://s1,s2,s3/mymaster; 26379 when a sentinel's port is left out;
the user and password are the master's): the sentinels are asked where the master is, and again before
every reconnection; when they announce a failover (+switch-master), tail moves to the promoted master
and continues with PSYNC (a replid-changed line, no snapshot). A master they name that does not answer
(dead, not yet failed over) is retried as a link lost later is, until --max-retry-time.

The master's stream is read as fast as it comes even when the output is slower (a pipe to a busy
program): past --buffer MiB it waits in an unlinked temporary file, so the master never drops the link
for an overfull replica output buffer.

With --checkpoint F the position ({"replid","offset","db"}, and the filters) is written atomically at
least once a second while it moves and on exit; the next run resumes from it with PSYNC, without a full
sync while the master's backlog still holds the writes since. One tail per checkpoint: a second one is
refused while the first runs (F.lock names it), and a run with other filters than F was saved with is
refused rather than resumed (its lines would mix two selections). Standard output is at-least-once: after a crash
(kill -9, power loss) the next run prints again what came after the last saved position, up to a
second of writes, or a whole full sync cut short. A repeated write has the offset it had the first
time: drop a command line whose offset is not above the last one you kept since the last
full-sync-start line (docs/tail-jsonl.md). With -o FILE and --checkpoint F each line is in FILE
exactly once: F records how much of FILE it covers, and a run first cuts FILE to that length (FILE
must be new or empty when F does not exist yet; a run with F but without -o FILE is refused).

--source-mode: a server that refuses replication (managed services: ElastiCache, Azure, Redis Cloud
rename or block SYNC, PSYNC, REPLCONF) is read in scan mode: the snapshot by SCAN + DUMP, then each key a
keyspace notification names, printed as it is then: {"event":"upsert",...} with its value, or
{"event":"delete",...} once gone; a dropped notification connection, a FLUSHDB/FLUSHALL or a restart
reads everything again (full-sync-start, reason rescan or resync), as SIGUSR1 does. auto (the default)
asks the server and says which mode it chose. README: source modes, side by side.

Examples:
  redistap tail redis://127.0.0.1:6379 --no-rdb
  redistap tail redis://replicator@10.0.0.5:6379 --password-file tail.pw --checkpoint tail.pos >> changes.jsonl
  read -rs REDISCLI_AUTH && export REDISCLI_AUTH   # the password, as redis-cli reads it
  redistap tail redis://10.0.0.5:6379 --checkpoint tail.pos -o changes.jsonl
  redistap tail rediss://redis.internal:6380 --tls-ca ca.pem --tls-cert me.pem --tls-key me.key
  redistap tail redis://managed-cache:6379 --source-mode scan -o changes.jsonl`);
  return cmd.action(async (url: string, opts: TailOptions) => {
    const maxQueuedBytes = positiveNumber(opts.buffer, '--buffer', { unit: 'MiB' }) * 2 ** 20;
    const timeoutMs = positiveNumber(opts.timeout, '--timeout', { unit: 'seconds' }) * 1000;
    const retry = retryRuleFrom(opts);
    // Locked before the output is opened: a second tail on the same checkpoint must not cut the first's file.
    const store = opts.checkpoint ? new PositionFile(opts.checkpoint, 'tail') : null;
    let saved: SavedPosition | null = null;
    let out: Output;
    try {
      store?.lock();
      saved = store?.load() ?? null;
      out = openOutput(opts.output, store, saved);
    } catch (err) {
      store?.unlock();
      throw new CliError((err as Error).message);
    }
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let pipeline: Pipeline<Uint8Array> | null = null;
    const rescan = () => { if (pipeline) rescanAsked(pipeline, (message) => process.stderr.write(`redistap: ${message}\n`)); };
    process.on('SIGUSR1', rescan);
    const quit = async (err: unknown) => {
      abort.abort();
      store?.unlock();
      await out.end();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGUSR1', rescan);
      return err instanceof CliError ? err : new CliError((err as Error).message);
    };
    let tls: ConnectionOptions | undefined;
    let filter: EventFilter | null;
    let cluster = false;
    /** The source is read in scan mode (told by the pipeline when auto chose it): lifecycle events say other things. */
    let scanning = opts.sourceMode === 'scan';
    let keys: KeyPositions | null = null;
    let server = url;
    try {
      url = urlWithPassword(opts, '', url, 'REDISCLI_AUTH');
      if (isSentinelUrl(url)) parseSentinelUrl(url);
      else parseRedisUrl(url);
      tls = tlsOptionsFrom(opts, '', url);
      // What is asked before the pipeline starts goes to the node a Sentinel URL names now (--read-from).
      server = isSentinelUrl(url) ? await sentinelNode(url, opts.readFrom, undefined, tls, timeoutMs) : url;
      if (isSentinelUrl(url)) {
        // The node they name may be dead until they fail it over: asked again, as the link would be.
        ({ node: server, answer: filter } = await askSentinelNode(url, server, (node) => filterFrom(opts, node, tls, timeoutMs), {
          tls, timeoutMs, readFrom: opts.readFrom, maxRetryTimeMs: retry.maxRetryTimeMs, signal: abort.signal,
          onRetry: (message, delay) => process.stderr.write(`redistap: ${message}; asking the sentinels again in ${delay} ms\n`),
        }));
      } else {
        filter = await filterFrom(opts, server, tls, timeoutMs);
      }
      cluster = await isClusterNode(server, tls, timeoutMs);
      if (cluster) {
        // Each write's line names its keys' hash slot: where the keys are comes from the command table.
        const table = filter ? null : await readCommandTable(server, tls, timeoutMs);
        keys = filter ? (c) => filter!.keysOf(c) : (c) => table!.positions(c.name, c) ?? [];
      }
    } catch (err) {
      throw await quit(err);
    }
    const covered = opts.output && store ? { path: resolve(opts.output), bytes: saved?.extent?.bytes ?? 0 } : null;
    const sink = new OutputSink(out, covered);
    const counts: TailCounts = { writes: 0 };
    let metrics = null;
    try {
      metrics = opts.metrics === undefined ? null : await serveMetrics(opts.metrics, tailMetrics(counts, () => pipeline!.status, sink));
    } catch (err) {
      throw await quit(err);
    }
    if (metrics) process.stderr.write(`redistap: metrics at ${metrics.url}\n`);
    const progress = new ByteProgress('full sync');
    const notice = (message: string) => {
      progress.stop();
      process.stderr.write(`redistap: ${message}\n`);
    };
    pipeline = new Pipeline<Uint8Array>({
      command: 'tail', stage: new JsonlStage(filter, keys), sink, sizeOf: (line) => line.length,
      // The master a Sentinel URL names was asked for already: the pipeline starts there, following the sentinels.
      sourceMode: opts.sourceMode, scanRefusal: scanRefusal(opts.command),
      source: { scan: scanSelection(opts.db?.map((d) => dbNumber(d, '--db')), opts.prefix), cluster, readFrom: opts.readFrom, url: server, sentinel: isSentinelUrl(url) ? url : undefined, tls, skipRdb: !opts.rdb, psyncCommand: opts.psyncCommand, maxQueuedBytes, spoolDir: opts.spoolDir, timeoutMs,
        reconnect: { waitForMaster: retry.wait, maxRetryTimeMs: retry.maxRetryTimeMs } },
      positionFile: store, maxSpoolBytes: Infinity, signal: abort.signal,
      routeChangedHint: 'give a new checkpoint file (that run starts with a full sync)',
      onSourceEvent: (e) => {
        if (e.type === 'command' || e.type === 'key-state') counts.writes++;
        else if (e.type === 'transaction') counts.writes += e.commands.length;
        else if (e.type === 'moved') counts.writes += e.rest ? 1 : 0; // a migration's halves are no writes
        else if (e.type === 'rdb-progress') progress.update(e.bytes, e.total);
        const said = describe(e, scanning);
        if (said) notice(said);
      },
      onEvent: (e: PipelineEvent) => {
        if (e.type === 'warning') notice(e.message);
        if (e.type === 'phase' && e.phase === 'connecting') {
          notice(e.detail);
          scanning ||= e.detail.startsWith('source mode: scan');
        }
      },
    });
    let failed = false;
    try {
      await pipeline.done;
    } catch (err) {
      if (err instanceof OutputClosed) return; // `| head` had what it wanted
      failed = true;
      for (const late of err instanceof PipelineError ? err.also : []) process.stderr.write(`redistap: also: ${late}\n`);
      throw new CliError((err as Error).message);
    } finally {
      progress.stop();
      await metrics?.close();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGUSR1', rescan);
      try {
        await out.end();
      } catch (err) {
        // A failure here must not replace the one that ended the run: that one is the command's error.
        if (!failed) throw err;
        process.stderr.write(`redistap: also: ${(err as Error).message}\n`);
      }
    }
  });
}
