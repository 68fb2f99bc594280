// `redistap tail <redis-url>`: connect as a replica and print the snapshot, then every write, as JSON lines.
import { Command, Option } from 'commander';
import { canonicalLine, jsonBytes } from '../rdb/canonical-json.js';
import { Replica } from '../replica/replica.js';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CheckpointFile, type SavedCheckpoint } from '../replica/checkpoint-file.js';
import type { ReplicaCommand, ReplicaEvent } from '../replica/events.js';
import { Output } from './output.js';
import { ByteProgress } from './progress.js';
import { CliError } from './cli-error.js';
import { addPasswordOption, urlWithPassword } from './password-options.js';
import { addTlsOptions, tlsOptionsFrom } from './tls-options.js';
import { METRICS_OPTION_HELP, serveMetrics, type MetricSpec } from './metrics.js';
import { dbNumber, keyPatternOf, list, positiveNumber, repeated } from './selection-options.js';
import { EventFilter } from '../pipeline/event-filter.js';
import { readCommandTable } from '../pipeline/source-commands.js';
import type { ConnectionOptions } from 'node:tls';

interface TailOptions {
  checkpoint?: string;
  output?: string;
  rdb: boolean;
  format: 'jsonl';
  psyncCommand: string;
  buffer: string;
  spoolDir?: string;
  wait?: boolean;
  maxRetryTime: string;
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
  try {
    return new EventFilter(options, await readCommandTable(url, tls, timeoutMs));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** The lines of a write or a MULTI/EXEC block that the filter lets through ('' for none). */
function selectedLines(filter: EventFilter | null, e: { replid: string; commands: ReplicaCommand[]; firstOffset: number | null; offset: number },
  unknownKeys: (c: ReplicaCommand) => void): string {
  const commands = filter ? e.commands.filter((c) => {
    const chosen = filter.write(c.name, c.db, c);
    if (chosen === 'keys-unknown') unknownKeys(c);
    return chosen !== null && chosen !== 'keys-unknown';
  }) : e.commands;
  if (commands.length === 0) return '';
  return e.firstOffset === null ? commandLine(e.replid, commands[0]!) : transactionLines(e.replid, commands, e.firstOffset, e.offset);
}

/**
 * Standard output, or the -o file. With a checkpoint the file is cut to the length the checkpoint covers
 * and continued, so a restart after a crash writes each line once; a file the checkpoint does not cover
 * is refused rather than cut or appended to.
 */
function openOutput(path: string | undefined, store: CheckpointFile | null, saved: SavedCheckpoint | null): Output {
  const extent = saved?.output;
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
    store.save(null, { path: resolve(path), bytes: 0 });
  }
  return Output.continuing(path, extent?.bytes ?? 0);
}

function commandLine(replid: string, c: ReplicaCommand): string {
  return `{"replid":"${replid}","offset":${c.offset},"db":${c.db},"cmd":[${c.args.map(jsonBytes).join(',')}]}\n`;
}

/**
 * The control line of a lifecycle event that changes what a consumer of the lines holds (docs/tail-jsonl.md),
 * or null. Connection events (link up, link down) change nothing there and go to standard error only.
 */
function controlLine(e: ReplicaEvent): string | null {
  switch (e.type) {
    case 'full-sync-start': return `{"event":"full-sync-start","replid":"${e.replid}","offset":${e.offset},"reason":"${e.reason}"}\n`;
    case 'flush': return `{"event":"flush","db":${e.db},"cause":"${e.cause}"}\n`;
    case 'full-sync-end': return `{"event":"full-sync-end","replid":"${e.replid}","offset":${e.offset}}\n`;
    case 'resumed': return `{"event":"resumed","replid":"${e.replid}","offset":${e.offset}}\n`;
    case 'replid-changed': return `{"event":"replid-changed","from":"${e.from}","to":"${e.to}","offset":${e.offset}}\n`;
    default: return null;
  }
}

/** A MULTI/EXEC block: its commands between a multi line (MULTI's first byte, how many follow) and an exec line. */
function transactionLines(replid: string, commands: ReplicaCommand[], firstOffset: number, offset: number): string {
  return `{"event":"multi","replid":"${replid}","offset":${firstOffset},"commands":${commands.length}}\n` +
    commands.map((c) => commandLine(replid, c)).join('') +
    `{"event":"exec","replid":"${replid}","offset":${offset}}\n`;
}

/** What a lifecycle event says on standard error (the data goes to standard output). */
function describe(e: ReplicaEvent): string | null {
  switch (e.type) {
    case 'link-up': return `connected to ${e.host}:${e.port}`;
    // The last link-down (no reconnect) carries the error the command ends with, printed once, by the caller.
    case 'link-down': return e.reconnectInMs === null ? null : `link down: ${e.error.message}; reconnecting in ${e.reconnectInMs} ms`;
    case 'full-sync-start':
      if (!e.replid) return 'full sync without a replication ID: the master took the PSYNC command for SYNC (renamed?); a restart will sync in full again';
      return `full sync from ${e.replid} at offset ${e.offset}${e.reason === 'resync' ? ' (the master could not continue from the checkpoint)' : ''}`;
    case 'full-sync-end': return `full sync done: ${e.keys} keys, ${e.bytes} bytes`;
    case 'resumed': return `resumed ${e.replid} after offset ${e.offset}`;
    case 'replid-changed': return `replication ID changed from ${e.from} to ${e.to} at offset ${e.offset}`;
    default: return null;
  }
}

/** What tail counts for --metrics. */
interface TailCounts {
  writes: number;
  bytes: number;
  fullSyncs: number;
  linkUp: boolean;
  everUp: boolean;
  reconnects: number;
}

function tailMetrics(counts: TailCounts, replica: () => Replica): MetricSpec[] {
  return [
    { name: 'writes_total', help: 'writes read from the master (before filters)', type: 'counter', value: () => counts.writes },
    { name: 'output_bytes_total', help: 'bytes of lines written (snapshot keys, writes, control lines)', type: 'counter', value: () => counts.bytes },
    { name: 'offset', help: 'replication offset of the last write boundary taken', type: 'gauge', value: () => replica().checkpoint?.offset ?? 0 },
    { name: 'queue_bytes', help: 'events waiting in memory (estimated)', type: 'gauge', value: () => replica().backlog.queuedBytes },
    { name: 'spool_bytes', help: 'bytes of the stream waiting in the spool file', type: 'gauge', value: () => replica().backlog.spooledBytes },
    { name: 'source_link_up', help: '1 while the replication link is up', type: 'gauge', value: () => Number(counts.linkUp) },
    { name: 'full_syncs_total', help: 'full syncs (snapshots) from the master', type: 'counter', value: () => counts.fullSyncs },
    { name: 'source_reconnects_total', help: 'times the link came back after dropping', type: 'counter', value: () => counts.reconnects },
  ];
}

/** Counts an event for --metrics. */
function count(counts: TailCounts, e: ReplicaEvent): void {
  if (e.type === 'command') counts.writes++;
  else if (e.type === 'transaction') counts.writes += e.commands.length;
  else if (e.type === 'full-sync-start') counts.fullSyncs++;
  else if (e.type === 'link-down') counts.linkUp = false;
  else if (e.type === 'link-up') {
    if (counts.everUp) counts.reconnects++;
    counts.linkUp = counts.everUp = true;
  }
}

export function tailCommand(): Command {
  const cmd = new Command('tail')
    .description('connect to a Redis or Valkey server as a replica and print its data, then every write')
    .argument('<redis-url>', 'redis://[user@]host[:port], or rediss:// for TLS (the password: REDISCLI_AUTH or --password-file)')
    .option('-c, --checkpoint <file>', 'resume from the position saved in this file, and keep it there')
    .option('-o, --output <file>', 'write the lines to this file; with --checkpoint each line exactly once, across crashes')
    .option('--no-rdb', 'do not print the snapshot (a full sync still reads it)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['jsonl']).default('jsonl'))
    .option('--psync-command <name>', 'the PSYNC command\'s name, where a service renamed it', 'PSYNC')
    .option('--buffer <MiB>', 'memory for writes waiting to be printed; beyond it they wait on disk', '64')
    .option('--spool-dir <dir>', 'where writes wait when the buffer is full (default: the temp directory)')
    .option('--wait', 'if the first connection fails, retry it (by default the command ends: exit 2)')
    .option('--max-retry-time <seconds>', 'give up (exit 2) when reconnecting has not brought the link back for this long; 0: never', '300')
    .option('--timeout <seconds>', 'a connection attempt, or a link silent for this long, is a failure', '60')
    .option('--metrics <[host:]port>', METRICS_OPTION_HELP)
    .option('--events <classes>', 'only writes (and snapshot keys) of these classes, as notify-keyspace-events letters: g generic, ' +
      '$ string, l list, s set, h hash, z sorted set, t stream, A all (e.g. \'$h\')')
    .addOption(new Option('--db <n>', 'only these databases (repeatable, or comma-separated)').argParser(list))
    .addOption(new Option('--command <name>', 'only these commands (repeatable, or comma-separated), e.g. set,hset').argParser(list))
    .addOption(new Option('--prefix <prefix>', 'only keys beginning with this text (repeatable)').argParser(repeated))
    .option('--key <regex>', 'only keys matching this regular expression (as UTF-8 text)');
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

The master's stream is read as fast as it comes even when the output is slower (a pipe to a busy
program): past --buffer MiB it waits in an unlinked temporary file, so the master never drops the link
for an overfull replica output buffer.

With --checkpoint F the position ({"replid","offset","db"}) is written atomically at least once a
second while it moves and on exit; the next run resumes from it with PSYNC, without a full sync while
the master's backlog still holds the writes since. Standard output is at-least-once: after a crash
(kill -9, power loss) the next run prints again what came after the last saved position, up to a
second of writes, or a whole full sync cut short. A repeated write has the offset it had the first
time: drop a command line whose offset is not above the last one you kept since the last
full-sync-start line (docs/tail-jsonl.md). With -o FILE and --checkpoint F each line is in FILE
exactly once: F records how much of FILE it covers, and a run first cuts FILE to that length (FILE
must be new or empty when F does not exist yet; a run with F but without -o FILE is refused).

Examples:
  redistap tail redis://127.0.0.1:6379 --no-rdb
  redistap tail redis://replicator@10.0.0.5:6379 --password-file tail.pw --checkpoint tail.pos >> changes.jsonl
  read -rs REDISCLI_AUTH && export REDISCLI_AUTH   # the password, as redis-cli reads it
  redistap tail redis://10.0.0.5:6379 --checkpoint tail.pos -o changes.jsonl
  redistap tail rediss://redis.internal:6380 --tls-ca ca.pem --tls-cert me.pem --tls-key me.key`);
  return cmd.action(async (url: string, opts: TailOptions) => {
    const maxQueuedBytes = positiveNumber(opts.buffer, '--buffer', { unit: 'MiB' }) * 2 ** 20;
    const timeoutMs = positiveNumber(opts.timeout, '--timeout', { unit: 'seconds' }) * 1000;
    const maxRetryTimeMs = positiveNumber(opts.maxRetryTime, '--max-retry-time', { unit: 'seconds', zero: true }) * 1000 || Infinity;
    const store = opts.checkpoint ? new CheckpointFile(opts.checkpoint) : null;
    let saved: SavedCheckpoint | null;
    let out: Output;
    try {
      saved = store?.loadSaved() ?? null;
      out = openOutput(opts.output, store, saved);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    const outputPath = opts.output && store ? resolve(opts.output) : null;
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let replica: Replica;
    let filter: EventFilter | null;
    try {
      url = urlWithPassword(opts, '', url, 'REDISCLI_AUTH');
      const tls = tlsOptionsFrom(opts, '', url);
      filter = await filterFrom(opts, url, tls, timeoutMs);
      replica = new Replica({ url, tls, checkpoint: saved?.checkpoint ?? null, skipRdb: !opts.rdb, signal: abort.signal,
        psyncCommand: opts.psyncCommand, maxQueuedBytes, spoolDir: opts.spoolDir, timeoutMs,
        reconnect: { waitForMaster: opts.wait === true, maxRetryTimeMs } });
    } catch (err) {
      await out.end();
      throw new CliError((err as Error).message);
    }
    const counts: TailCounts = { writes: 0, bytes: 0, fullSyncs: 0, linkUp: false, everUp: false, reconnects: 0 };
    let metrics = null;
    try {
      metrics = opts.metrics === undefined ? null : await serveMetrics(opts.metrics, tailMetrics(counts, () => replica));
    } catch (err) {
      abort.abort();
      await out.end();
      throw err;
    }
    if (metrics) process.stderr.write(`redistap: metrics at ${metrics.url}\n`);
    // The output written so far, and the last checkpoint with how much of it that checkpoint covers. Outside
    // the loop's body (waiting for an event, or before handling one) every line of the events taken is
    // written and the replica's checkpoint counts no event after them.
    let written = saved?.output?.bytes ?? 0;
    let covered = { checkpoint: replica.checkpoint, bytes: written };
    let handling = false;
    const note = () => {
      if (replica.checkpoint !== covered.checkpoint) covered = { checkpoint: replica.checkpoint, bytes: written };
    };
    let stored = covered;
    const save = () => {
      if (!handling) note();
      const { checkpoint: cp, bytes } = covered;
      if (!store || !cp || stored === covered) return;
      // The lines first, then the checkpoint that covers them: a crash between the two repeats nothing.
      if (outputPath) out.sync();
      store.save(cp, outputPath ? { path: outputPath, bytes } : undefined);
      stored = covered;
    };
    const timer = setInterval(save, 1000);
    const unknownKeys = (c: ReplicaCommand) => {
      const warning = filter?.unknownKeysWarning(c.name, c.offset);
      if (warning) process.stderr.write(`redistap: ${warning}\n`);
    };
    let failed = false;
    const progress = new ByteProgress('full sync');
    const write = async (text: string) => {
      const bytes = Buffer.from(text);
      await out.write(bytes);
      written += bytes.length;
      counts.bytes += bytes.length;
    };
    try {
      for await (const e of replica) {
        note();
        handling = true;
        count(counts, e);
        if (e.type === 'rdb-progress') progress.update(e.bytes, e.total);
        const said = describe(e);
        if (said) {
          progress.stop();
          process.stderr.write(`redistap: ${said}\n`);
        }
        if (e.type === 'entry') {
          const line = !filter || filter.snapshotKey(e.entry.db, e.entry.key, e.entry.type) ? canonicalLine(e.entry) : null;
          if (line !== null) await write(`${line}\n`);
        } else if (e.type === 'command' || e.type === 'transaction') {
          const block = e.type === 'command' ? { replid: e.replid, commands: [e.command], firstOffset: null, offset: e.command.offset } : e;
          const lines = selectedLines(filter, block, unknownKeys);
          if (lines) await write(lines);
        } else {
          const control = controlLine(e);
          if (control) await write(control);
        }
        if (out.closed) break;
        handling = false;
      }
    } catch (err) {
      handling = false;
      failed = true;
      throw new CliError((err as Error).message);
    } finally {
      progress.stop();
      clearInterval(timer);
      await metrics?.close();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      // A failure here must not replace the one that ended the loop: that one is the command's error.
      let late: unknown;
      try {
        save();
      } catch (err) {
        late = err;
      }
      try {
        await out.end();
      } catch (err) {
        late ??= err;
      }
      if (late !== undefined) {
        if (!failed) throw late;
        process.stderr.write(`redistap: also: ${(late as Error).message}\n`);
      }
    }
  });
}
