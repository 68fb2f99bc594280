// `redistap sync <source-url> <target-url>`: copy a live server into another and keep it in sync.
import { Command, Option } from 'commander';
import { parseRenameRule } from '../sync/key-route.js';
import { Sync, type SyncOptions, type SyncPhase, type SyncStatus } from '../sync/sync.js';
import { formatBytes } from '../analysis/report-format.js';
import { CliError } from './cli-error.js';
import { dbNumber, keyPatternOf, list, positiveNumber, repeated } from './selection-options.js';
import { addPasswordOption, urlWithPassword } from './password-options.js';
import { addTlsOptions, tlsOptionsFrom } from './tls-options.js';
import { addRetryOptions, retryRuleFrom, type RetryFlags } from './retry-options.js';
import { readFromOption, type ClusterFlags } from './cluster-options.js';
import { sourceModeOption, type SourceModeFlags } from './source-mode-options.js';
import { METRICS_OPTION_HELP, serveMetrics, type MetricSpec } from './metrics.js';
import { JobReporter } from './status-output.js';

interface SyncFlags extends RetryFlags, ClusterFlags, SourceModeFlags {
  db?: string[];
  dbMap?: string[];
  prefix?: string[];
  key?: string;
  rename?: string;
  checkpointKey?: string;
  resync?: boolean;
  copy: 'restore' | 'replication';
  json?: boolean;
  maxInFlight: string;
  timeout: string;
  lease: string;
  metrics?: string;
}

/** What --metrics serves for sync. */
function syncMetrics(status: () => SyncStatus): MetricSpec[] {
  return [
    { name: 'writes_applied_total', help: 'source writes the target confirmed', type: 'counter', value: () => status().applied.commands },
    { name: 'blocks_applied_total', help: 'MULTI/EXEC blocks of writes the target confirmed', type: 'counter', value: () => status().applied.transactions },
    { name: 'confirmed_offset', help: 'replication offset of the source the target holds', type: 'gauge', value: () => status().applied.offset },
    { name: 'lag_bytes', help: 'bytes read from the source and not yet confirmed by the target', type: 'gauge', value: () => status().lag.bytes },
    { name: 'lag_seconds', help: 'how long the oldest unconfirmed write has waited', type: 'gauge', value: () => status().lag.ms / 1000 },
    { name: 'copy_keys', help: 'keys of the current (or last) snapshot copied', type: 'gauge', value: () => status().copy.keys },
    { name: 'streaming', help: '1 while writes are being applied (the copy is done)', type: 'gauge', value: () => Number(status().phase === 'streaming') },
    { name: 'restarts_total', help: 'times the sync started over after a failure', type: 'counter', value: () => status().restarts },
    { name: 'warnings_total', help: 'warnings', type: 'counter', value: () => status().warnings },
  ];
}

/** The command line → SyncOptions (without the URLs). */
function optionsFrom(opts: SyncFlags): Omit<SyncOptions, 'source' | 'target'> {
  const dbMap = new Map<number, number>();
  for (const pair of opts.dbMap ?? []) {
    const m = /^(\d+):(\d+)$/.exec(pair);
    if (!m) throw new CliError(`--db-map expects source:target pairs such as 0:1, got "${pair}"`);
    dbMap.set(dbNumber(m[1]!, '--db-map'), dbNumber(m[2]!, '--db-map'));
  }
  const keyPattern = keyPatternOf(opts.key);
  const retry = retryRuleFrom(opts);
  let rename;
  try {
    rename = opts.rename === undefined ? undefined : parseRenameRule(opts.rename);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  return {
    dbs: opts.db?.map((d) => dbNumber(d, '--db')),
    dbMap: dbMap.size > 0 ? dbMap : undefined,
    prefixes: opts.prefix,
    keyPattern,
    rename,
    stateKey: opts.checkpointKey,
    resync: opts.resync,
    copy: opts.copy,
    readFrom: opts.readFrom,
    sourceMode: opts.sourceMode,
    maxInFlightBytes: positiveNumber(opts.maxInFlight, '--max-in-flight') * 2 ** 20,
    timeoutMs: positiveNumber(opts.timeout, '--timeout') * 1000,
    leaseMs: positiveNumber(opts.lease, '--lease') * 1000,
    reconnect: { waitForServers: retry.wait, maxRetryTimeMs: retry.maxRetryTimeMs },
  };
}

function statusLine(s: SyncStatus): string {
  const lag = `lag ${formatBytes(s.lag.bytes)}, ${(s.lag.ms / 1000).toFixed(1)} s`;
  if (s.phase === 'copying' && s.copy.targetLoading) return `copying: snapshot ${formatBytes(s.copy.rdbBytes)} sent; the target is loading it`;
  if (s.phase === 'copying') {
    const of = s.copy.rdbTotal === null ? '' : ` of ${formatBytes(s.copy.rdbTotal)}`;
    const keys = s.copy.keys > 0 ? `${s.copy.keys.toLocaleString('en-US')} keys, ` : '';
    return `copying: ${keys}snapshot ${formatBytes(s.copy.rdbBytes)}${of} read`;
  }
  return `${s.phase}: ${s.applied.commands.toLocaleString('en-US')} writes applied, offset ${s.applied.offset}; ${lag}` +
    (s.warnings > 0 ? `; ${s.warnings} warnings` : '');
}

export function syncCommand(): Command {
  const cmd = new Command('sync')
    .description('copy a live Redis or Valkey server into another one, then keep applying its writes (exactly once)')
    .argument('<source-url>', 'the server to copy from: redis://[user@]host[:port] (rediss:// for TLS; the password: ' +
      'REDISTAP_SOURCE_PASSWORD or --source-password-file)')
    .argument('<target-url>', 'the server to copy into (the password: REDISTAP_TARGET_PASSWORD or --target-password-file)')
    .addOption(new Option('--db <n>', 'only these source databases (repeatable, or comma-separated)').argParser(list))
    .addOption(new Option('--db-map <src:dst>', 'write source database src into target database dst (repeatable, or comma-separated); ' +
      'alone, it also selects: --db-map 0:3 syncs db 0 only').argParser(list))
    .addOption(new Option('--prefix <prefix>', 'only keys beginning with this text (repeatable)').argParser(repeated))
    .option('--key <regex>', 'only keys matching this regular expression (as UTF-8 text)')
    .option('--rename <s/^from/to/>', "rename keys on the way by replacing a fixed prefix: 's/^old:/new:/', or 's/^/new:/' to add one")
    .option('--checkpoint-key <key>', 'the target key keeping the sync\'s position (default redistap:checkpoint:<source host:port>)')
    .option('--resync', 'allow deleting the target\'s synced keys to copy everything again (when the target is not empty, or the source cannot continue)')
    .addOption(new Option('--copy <how>', 'how the snapshot reaches the target: restore (RESTORE commands) or replication ' +
      '(the target loads it as a replica of redistap: fastest; see below)').choices(['restore', 'replication']).default('restore'))
    .addOption(readFromOption())
    .addOption(sourceModeOption())
    .option('--json', 'status as JSON lines on standard output (the default when it is not a terminal)')
    .option('--max-in-flight <MiB>', 'data sent to the target and not yet acknowledged, at most', '16')
    .option('--timeout <seconds>', 'a silent source link, or a target that does not answer, for this long is a failure', '60')
    .option('--lease <seconds>', 'how long the target stays this sync\'s after it stops renewing its lease (killed, frozen, cut off); ' +
      'until then another sync refuses to start on it', '30')
    .option('--metrics <[host:]port>', METRICS_OPTION_HELP);
  addRetryOptions(cmd, 'both links');
  addTlsOptions(cmd, 'source-', "the source's");
  addTlsOptions(cmd, 'target-', "the target's");
  addPasswordOption(cmd, 'source-', "the source's", 'REDISTAP_SOURCE_PASSWORD');
  addPasswordOption(cmd, 'target-', "the target's", 'REDISTAP_TARGET_PASSWORD');
  cmd.addHelpText('after', `
How it works: redistap connects to the source as one of its replicas. It copies the snapshot into the
target with pipelined RESTORE (each value as the source stores it when the target's version loads that,
else re-encoded for the target), then applies every write
in order, MULTI/EXEC blocks kept whole. Each block it sends to the target ends with the sync's position
(replication ID, offset, database) written into the checkpoint key, in the same MULTI/EXEC: the target
always says exactly which writes it holds.

A source behind Redis Sentinel is given as redis+sentinel://[user@]s1[:port],s2[:port]/<master name>
(the user and password are the master's): each attempt asks the sentinels where the master is, and
when they announce a failover (+switch-master) the sync moves to the promoted master and continues
with PSYNC, without a new copy.

A node of a Redis Cluster (cluster_enabled:1) as the source is synced as its whole cluster: a
replication link to each shard, every shard's writes applied in its own order (a cluster orders writes
per shard only), and the checkpoint key holding each shard's position. A shard's failover continues
with PSYNC on its promoted replica; a shard added is followed from its own snapshot. A shard copied
again (its node could not continue) replaces the keys of its slots only, and a FLUSHALL on one node
deletes the keys of its slots only. --read-from replica reads each shard from a replica.

A node of a Redis Cluster as the target (from one server, or from a cluster: each source shard's
writes in order) gets each write on the master serving its keys' slot, fenced and positioned per slot (keys
<checkpoint key>{<slot tag>}:...). A cluster has database 0 only: pass --db 0 or --db-map N:0. A
MULTI/EXEC over several slots is applied as one atomic block per slot; DEL, UNLINK, TOUCH and MSET over
several slots as one command per slot; other commands over several slots are reported, not applied.
The copy goes as one RESTORE per key; function libraries are not copied. Writes answered MOVED, ASK or
TRYAGAIN (the cluster resharding, a master switched over) go again where their slot is, in order; a
master lost (CLUSTERDOWN) starts the sync over from the positions the cluster holds; --copy replication
is refused.

Restarting (after Ctrl-C, a crash, or a kill -9) continues from that position with PSYNC, without a new
copy, as long as the source's backlog still holds the writes since. If it does not (or the source
restarted without its data), redistap says so and stops; --resync then deletes the target's synced keys
and copies everything again. A first sync refuses a target that already holds keys where it would write,
unless --resync allows deleting them. Keys under redistap: on the target are the sync's own and never deleted.

If the first attempt cannot reach the source or the target (refused, unknown host, a TLS port spoken to
without TLS, a refused password) the command ends with the reason, exit 2, unless --wait. A failure
later (either link lost, the target restarted) starts over from the position the target holds, with
backoff (0.1 s doubling to 5 s); once no attempt has reached both servers for --max-retry-time seconds
when one fails, the command gives up: exit 2.

What the sync owns: exactly the target keys its selection can write: the synced databases (--db, or
those --db-map names, else all) under their --db-map numbers, and in them the keys --prefix and --key
select, named as --rename makes them. Only those are checked for emptiness, deleted by --resync, an
interrupted copy or the source's FLUSHALL. The target's state records this selection: a run with
another one refuses, saying what changed; with --resync it deletes what the earlier selection wrote and
what the new one writes, then copies again.

One sync per target: a sync holds the target by a lease kept on it (<checkpoint key>:lease, renewed with
every block of writes). Another sync refuses to start, naming the holder (host, pid, since when); when the
holder stops renewing (killed, frozen, cut off) it takes over after --lease seconds, at once when the
holder ran on the same host and its process is gone. A block of writes from a sync that lost the target
fails whole on the target (a fencing token checked inside each MULTI/EXEC), so nothing is applied twice.

--source-mode: a source that refuses replication (managed services) is read in scan mode: copied by
SCAN + DUMP, then each key a keyspace notification names is written again as it is then (RESTORE ...
REPLACE, or DEL once gone); every start, a dropped notification connection, a FLUSHDB/FLUSHALL and
SIGUSR1 copy everything again. auto (the default) asks the source and says which mode it chose.

--copy replication: for the copy, the target is made a replica of redistap (REPLICAOF to a port redistap
opens on the address it reaches the target from) and loads the snapshot with its own replica code, as
fast as a replica of the source would; then it is made a master again and the writes follow as usual.
It needs a target that can connect back to this machine, accepts REPLICAOF and CONFIG GET/SET, loads
the source's RDB version and holds no other keys (the load replaces its whole dataset); no --db,
--db-map, --prefix, --key or --rename. The snapshot goes as the source wrote it: function libraries and
module values too. Only the target gets it: for the copy its masteruser/masterauth are a secret made
for the copy (any connection without it is refused), and afterwards what they were; after a kill -9
the next start clears the secret, with a warning. With a rediss:// target the link is TLS, served
with the certificate of --target-tls-cert/--target-tls-key (signed by a CA the target trusts, allowed
for a server: serverAuth); without them the copy is refused. With redis:// it is plain TCP.

The target must accept RESTORE, MULTI/EXEC and the source's write commands. Hash field TTLs reach only
targets that have them (Redis 7.4+, Valkey 9.0+); on older targets such hashes are copied without their
field TTLs, HSETEX is applied as HSET and TTL-only commands are left out (the source's HDEL of each
expired field still follows), with a warning. Function libraries are copied with FUNCTION LOAD where the target has
functions (Redis 7.0+, Valkey), else counted in a warning. Keys keep the LRU/LFU data the snapshot
holds (IDLETIME/FREQ). Module values cannot be copied and are reported as warnings. A value longer
than the target's proto-max-bulk-len stops the copy, saying so.

Status: on a terminal a status line (phase, writes applied, lag) and warnings on standard error;
otherwise (or with --json) one JSON line per second and per event on standard output:
  {"time":"...","type":"status","phase":"streaming","applied":{"commands":1200,...},"lag":{"bytes":0,"ms":0},...}
  {"time":"...","type":"warning","message":"..."}
Exit status: 0 when stopped by Ctrl-C / SIGTERM, 2 when the sync fails for a reason retrying cannot cure
(or the command line is wrong).

Examples:
  redistap sync redis://10.0.0.5:6379 redis://10.0.0.9:6379
  redistap sync redis://old:6379 redis://new:6379 --prefix user: --rename 's/^user:/u:/'
  redistap sync redis://sync@src:6379 rediss://sync@dst:6380 --source-password-file src.pw --target-password-file dst.pw \\
    --db 0 --db-map 0:3 --json >> sync.log
  redistap sync rediss://src:6380 redis://dst:6379 --source-tls-ca ca.pem --copy replication`);
  return cmd.action(async (source: string, target: string, opts: SyncFlags) => {
    const options = optionsFrom(opts);
    const reporter = new JobReporter<SyncStatus, SyncPhase>(Boolean(opts.json || !process.stdout.isTTY), statusLine);
    const onEvent = reporter.onEvent;
    let sync: Sync | undefined;
    const metrics = opts.metrics === undefined ? null : await serveMetrics(opts.metrics, syncMetrics(() => sync!.status));
    if (metrics) onEvent({ type: 'phase', phase: 'connecting', detail: `metrics at ${metrics.url}` });
    try {
      const sourceTls = tlsOptionsFrom(opts, 'source-', source);
      const targetTls = tlsOptionsFrom(opts, 'target-', target);
      sync = new Sync({ ...options, source: urlWithPassword(opts, 'source-', source, 'REDISTAP_SOURCE_PASSWORD'),
        target: urlWithPassword(opts, 'target-', target, 'REDISTAP_TARGET_PASSWORD'), sourceTls, targetTls, onEvent });
    } catch (err) {
      await metrics?.close();
      throw new CliError((err as Error).message);
    }
    await reporter.runToEnd(sync, async () => { await metrics?.close(); });
  });
}
