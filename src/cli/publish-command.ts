// `redistap publish <source-url> <sink-url>`: every write of a server as change events in RabbitMQ, NATS
// JetStream or a Redis stream.
import { readFromOption, type ClusterFlags } from './cluster-options.js';
import { sourceModeOption, type SourceModeFlags } from './source-mode-options.js';
import { Command, Option } from 'commander';
import { formatBytes } from '../analysis/report-format.js';
import { Publisher, type PublishOptions, type PublishPhase, type PublishStatus } from '../pipeline/publisher.js';
import { sinkFromUrl } from '../pipeline/sink-url.js';
import { CliError } from './cli-error.js';
import { addPasswordOption, urlWithPassword } from './password-options.js';
import { dbNumber, keyPatternOf, list, positiveNumber, repeated } from './selection-options.js';
import { METRICS_OPTION_HELP, serveMetrics, type MetricSpec } from './metrics.js';
import { JobReporter } from './status-output.js';
import { addTlsOptions, tlsOptionsFrom } from './tls-options.js';

interface PublishFlags extends ClusterFlags, SourceModeFlags {
  snapshot: 'none' | 'keys' | 'values';
  checkpoint?: string | false;
  events?: string;
  db?: string[];
  command?: string[];
  prefix?: string[];
  key?: string;
  resync?: boolean;
  json?: boolean;
  maxInFlight: string;
  maxSpool: string;
  timeout: string;
  metrics?: string;
  partitions: string;
  format: 'json' | 'json+resp';
}

/** What --metrics serves for publish. */
function publishMetrics(status: () => PublishStatus): MetricSpec[] {
  return [
    { name: 'events_published_total', help: 'events handed to the sink', type: 'counter', value: () => status().published.events },
    { name: 'events_confirmed_total', help: 'events the sink confirmed', type: 'counter', value: () => status().confirmed.events },
    { name: 'confirmed_offset', help: 'replication offset of the source the confirmed events reach (a cluster: the sum of its shards\')', type: 'gauge', value: () => status().confirmed.offset },
    { name: 'lag_bytes', help: 'bytes read from the source and not yet confirmed (memory queue, spool, in flight)', type: 'gauge', value: () => status().lag.bytes },
    { name: 'lag_seconds', help: 'how long the oldest unconfirmed event has waited', type: 'gauge', value: () => status().lag.ms / 1000 },
    { name: 'queue_bytes', help: 'events waiting in memory (estimated)', type: 'gauge', value: () => status().queuedBytes },
    { name: 'spool_bytes', help: 'bytes of the source\'s stream waiting in the spool file', type: 'gauge', value: () => status().spoolBytes },
    { name: 'source_link_up', help: '1 while the replication link to the source is up', type: 'gauge', value: () => Number(status().source === 'up') },
    { name: 'sink_up', help: '1 while the sink is connected', type: 'gauge', value: () => Number(status().sink === 'up') },
    { name: 'full_syncs_total', help: 'full syncs (snapshots) from the source', type: 'counter', value: () => status().fullSyncs },
    { name: 'source_reconnects_total', help: 'times the source link came back after dropping', type: 'counter', value: () => status().sourceReconnects },
    { name: 'sink_reconnects_total', help: 'times the sink was reconnected after a failure', type: 'counter', value: () => status().sinkReconnects },
    { name: 'warnings_total', help: 'warnings', type: 'counter', value: () => status().warnings },
  ];
}

function partitionCount(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > 16384) throw new CliError(`--partitions expects a whole number from 1 to 16384, got "${text}"`);
  return n;
}

function statusLine(s: PublishStatus): string {
  const lag = `lag ${formatBytes(s.lag.bytes)}, ${(s.lag.ms / 1000).toFixed(1)} s`;
  const sink = s.sink === 'down' ? '; sink down, reconnecting' : '';
  const spool = s.spoolBytes > 0 ? `; ${formatBytes(s.spoolBytes)} spooled` : '';
  return `${s.phase}: ${s.confirmed.events.toLocaleString('en-US')} events confirmed, offset ${s.confirmed.offset}; ${lag}${spool}${sink}` +
    (s.warnings > 0 ? `; ${s.warnings} warnings` : '');
}

/** The command line → PublishOptions (without source and sink). */
function optionsFrom(opts: PublishFlags): Omit<PublishOptions, 'source' | 'sink'> {
  return {
    snapshot: opts.snapshot,
    positionFile: opts.checkpoint === false ? null : opts.checkpoint,
    events: opts.events,
    dbs: opts.db?.map((d) => dbNumber(d, '--db')),
    commands: opts.command,
    prefixes: opts.prefix,
    keyPattern: keyPatternOf(opts.key),
    resync: opts.resync,
    maxInFlightBytes: positiveNumber(opts.maxInFlight, '--max-in-flight') * 2 ** 20,
    maxSpoolBytes: positiveNumber(opts.maxSpool, '--max-spool') * 2 ** 20,
    timeoutMs: positiveNumber(opts.timeout, '--timeout') * 1000,
    partitions: partitionCount(opts.partitions),
    format: opts.format,
    readFrom: opts.readFrom,
    sourceMode: opts.sourceMode,
  };
}

export function publishCommand(): Command {
  const cmd = new Command('publish')
    .description('publish every write of a live Redis or Valkey server as change events to RabbitMQ, NATS JetStream or a Redis stream')
    .argument('<source-url>', 'the server to follow: redis://[user@]host[:port] (rediss:// for TLS; behind Sentinel: ' +
      'redis+sentinel://sentinel[:port][,sentinel[:port]...]/<master name>; the password: ' +
      'REDISTAP_SOURCE_PASSWORD or --source-password-file)')
    .argument('<sink-url>', 'where the events go (the password: REDISTAP_SINK_PASSWORD or --sink-password-file):\n' +
      '  amqp://[user@]host[:port][/vhost][?exchange=NAME&routing-key=TEMPLATE]  (amqps:// for TLS)\n' +
      '  nats://[user@]host[:port][?stream=NAME&subject=TEMPLATE]                  (tls:// for TLS)\n' +
      '  redis://[user@]host[:port][?stream=KEY&maxlen=N]                           (rediss:// for TLS)')
    .addOption(new Option('--snapshot <what>', 'what of the source\'s snapshot (first run, or when it cannot continue) is published: ' +
      'none (its start and end), keys (an event per key), values (an event per key, with its value)').choices(['none', 'keys', 'values']).default('none'))
    .option('--checkpoint <file>', 'keep the position in this file (amqp:// and nats://; a Redis stream keeps it beside the stream): a restart continues from it')
    .option('--no-checkpoint', 'no position (amqp:// and nats://): every start publishes from a new snapshot')
    .option('--events <classes>', 'only writes of these classes, as notify-keyspace-events letters: g generic, $ string, l list, s set, h hash, ' +
      'z sorted set, t stream, A all (e.g. \'$h\')')
    .addOption(new Option('--db <n>', 'only writes to these databases (repeatable, or comma-separated)').argParser(list))
    .addOption(new Option('--command <name>', 'only these commands (repeatable, or comma-separated), e.g. set,hset').argParser(list))
    .addOption(new Option('--prefix <prefix>', 'only writes to keys beginning with this text (repeatable)').argParser(repeated))
    .option('--key <regex>', 'only writes to keys matching this regular expression (as UTF-8 text)')
    .option('--partitions <n>', 'spread events over n partitions by their key\'s hash slot (as Redis Cluster: keys sharing a {tag} ' +
      'share one), for n consumers each seeing its keys in order; route them with {partition} in the subject or routing key', '1')
    .addOption(new Option('--format <format>', 'json, or json+resp: each write also carries its command as RESP (base64, field resp)')
      .choices(['json', 'json+resp']).default('json'))
    .option('--resync', 'continue although the options changed since the position was saved: from a new snapshot')
    .option('--json', 'status as JSON lines on standard output (the default when it is not a terminal)')
    .addOption(readFromOption())
    .addOption(sourceModeOption())
    .option('--max-in-flight <MiB>', 'events sent to the sink and not yet confirmed, at most', '16')
    .option('--max-spool <MiB>', 'the source\'s stream kept on disk while the sink is down or slow, at most: beyond it publish stops, its position saved', '1024')
    .option('--timeout <seconds>', 'a source link silent for this long is a failure (it reconnects)', '60')
    .option('--metrics <[host:]port>', METRICS_OPTION_HELP);
  addTlsOptions(cmd, 'source-', "the source's");
  addTlsOptions(cmd, 'sink-', "the sink's");
  addPasswordOption(cmd, 'source-', "the source's", 'REDISTAP_SOURCE_PASSWORD');
  addPasswordOption(cmd, 'sink-', "the sink's", 'REDISTAP_SINK_PASSWORD');
  cmd.addHelpText('after', `
How it works: redistap connects to the source as one of its replicas and turns every write (and, with
--snapshot, every key of its snapshot) into a JSON event (docs/event-schema.md): an id
<replid>-<offset>-<seq> that is the same each time the event is published again, the database, the
command, its keys and arguments (binary-safe), its class, and the MULTI/EXEC block it belongs to.
Events go out in the source's order; a batch is confirmed by the sink (publisher confirms, JetStream
PubAcks, EXEC) before the position moves past it.

Subjects and routing keys are templates: {db}, {command} (set, hset...; or the event: snapshot,
full-sync-start...), {class} (string, list, set, hash, zset, stream, generic) and {partition}.

Filters (--events, --db, --command, --prefix, --key) select writes and snapshot keys; lifecycle events
(full-sync-start/end, replid-changed) always go. A write passes --prefix/--key when one of its keys does,
or when it names no key (FLUSHALL); one whose keys cannot be told is left out with a warning. Expired
and evicted keys reach a replica as DEL or UNLINK (class generic), like a user's DEL. The position
remembers the options it was saved with: a run with others refuses, unless --resync.

A node of a Redis Cluster (cluster_enabled:1) is published as its whole cluster: a replica of each
shard's master, every event with its "shard" (the master's node ID when found) and a key's with its
hash "slot"; events are in order per shard. The position holds each shard's; when a shard's master
fails over, publish continues on the promoted replica with PSYNC (docs/event-schema.md).

Delivery:
  redis://   exactly once: the events and the position go in one MULTI/EXEC (the position is kept in
             redistap:publish:<stream>). One publish per stream: a second one refuses to start.
  amqp://    at least once: after a crash the events since the last saved position (about a second of
             them, and those sent but not yet confirmed: up to --max-in-flight) are published again, with
             the same message-id; consumers drop repeats by id.
  nats://    at least once: each message must follow the one before it in the stream (expected last message
             id; Nats-Msg-Id = id), so the stream holds the events in order with no gap; a repeat only
             when a restart comes more than the stream's duplicate window (2 min) after a crash. One
             publish per stream: give each its own ?stream= (two would keep breaking each other's chain).
While the sink is down, blocked (a RabbitMQ memory alarm) or refusing (a full stream), publish waits and
retries; it keeps reading the source into memory and a spool file, so the source never drops it. Past
--max-spool it stops with its position saved: start it again once the sink takes events.

--source-mode: a server that refuses replication (managed services) is read in scan mode: the snapshot by
SCAN + DUMP, then each key a keyspace notification names as an upsert event (its value as read) or a
delete event; at least once, ordered per key; a dropped notification connection, a FLUSHDB/FLUSHALL or
a restart publishes a new snapshot, as SIGUSR1 does. auto (the default) asks the server and says which mode it chose
(docs/event-schema.md: upsert and delete).

Examples:
  redistap publish redis://10.0.0.5:6379 amqp://guest@rabbit:5672 --checkpoint publish.pos
  redistap publish redis://10.0.0.5:6379 'nats://nats:4222?subject=cdc.{db}.{class}' --checkpoint publish.pos --events '$h'
  redistap publish redis://10.0.0.5:6379 'redis://10.0.0.9:6379?stream=cdc&maxlen=1000000' --snapshot values
Exit status: 0 when stopped by Ctrl-C / SIGTERM, 2 when publishing fails for a reason retrying cannot cure.`);
  return cmd.action(async (source: string, sinkUrl: string, opts: PublishFlags) => {
    const reporter = new JobReporter<PublishStatus, PublishPhase>(Boolean(opts.json || !process.stdout.isTTY), statusLine);
    const onEvent = reporter.onEvent;
    let publisher: Publisher | undefined;
    const metrics = opts.metrics === undefined ? null : await serveMetrics(opts.metrics, publishMetrics(() => publisher!.status));
    if (metrics) onEvent({ type: 'phase', phase: 'connecting', detail: `metrics at ${metrics.url}` });
    try {
      const sink = sinkFromUrl(urlWithPassword(opts, 'sink-', sinkUrl, 'REDISTAP_SINK_PASSWORD', (url) => new URL(url)), {
        tls: tlsOptionsFrom(opts, 'sink-', sinkUrl, ['amqps', 'tls', 'rediss']),
        onNotice: (message) => onEvent({ type: 'warning', message }),
      });
      if (!sink.storesPosition && opts.checkpoint === undefined) {
        throw new Error(`${sink.name} does not keep the position with the events: pass --checkpoint FILE (a restart continues ` +
          'from it), or --no-checkpoint (every start publishes from a new snapshot)');
      }
      if (sink.storesPosition && opts.checkpoint !== undefined) {
        throw new Error(`--${opts.checkpoint === false ? 'no-' : ''}checkpoint: ${sink.name} keeps the position beside the stream, ` +
          'in the same MULTI/EXEC as the events (delete redistap:publish:<stream> there to start from a new snapshot)');
      }
      if (sink.storesPosition && opts.partitions !== '1') {
        throw new Error(`--partitions: ${sink.name} is one stream, with nothing to route partitions by; publish to a broker with {partition} in its subject or routing key`);
      }
      publisher = new Publisher({ ...optionsFrom(opts), sink, onEvent, sourceTls: tlsOptionsFrom(opts, 'source-', source),
        source: urlWithPassword(opts, 'source-', source, 'REDISTAP_SOURCE_PASSWORD') });
    } catch (err) {
      await metrics?.close();
      throw err instanceof CliError ? err : new CliError((err as Error).message);
    }
    await reporter.runToEnd(publisher, async () => { await metrics?.close(); });
  });
}
