// `redistap tail <redis-url>`: connect as a replica and print the snapshot, then every write, as JSON lines.
import { Command, Option } from 'commander';
import { canonicalLine, jsonBytes } from '../rdb/canonical-json.js';
import { Replica } from '../replica/replica.js';
import { CheckpointFile } from '../replica/checkpoint-file.js';
import type { Checkpoint, ReplicaCommand, ReplicaEvent } from '../replica/events.js';
import { Output } from './output.js';
import { ByteProgress } from './progress.js';
import { CliError } from './cli-error.js';
import { addPasswordOption, urlWithPassword } from './password-options.js';
import { addTlsOptions, tlsOptionsFrom } from './tls-options.js';

interface TailOptions {
  checkpoint?: string;
  rdb: boolean;
  format: 'jsonl';
  psyncCommand: string;
  buffer: string;
  spoolDir?: string;
  wait?: boolean;
  maxRetryTime: string;
  timeout: string;
}

/** The value of `option`: a number above 0 (or 0 itself when `zero` says what 0 means). */
function positive(text: string, option: string, unit: string, zero = false): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zero)) {
    throw new CliError(`${option} expects a ${zero ? 'non-negative' : 'positive'} number of ${unit}, got "${text}"`);
  }
  return n;
}

function commandLine(replid: string, c: ReplicaCommand): string {
  return `{"replid":"${replid}","offset":${c.offset},"db":${c.db},"cmd":[${c.args.map(jsonBytes).join(',')}]}\n`;
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

export function tailCommand(): Command {
  const cmd = new Command('tail')
    .description('connect to a Redis or Valkey server as a replica and print its data, then every write')
    .argument('<redis-url>', 'redis://[user@]host[:port], or rediss:// for TLS (the password: REDISCLI_AUTH or --password-file)')
    .option('-c, --checkpoint <file>', 'resume from the position saved in this file, and keep it there')
    .option('--no-rdb', 'do not print the snapshot (a full sync still reads it)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['jsonl']).default('jsonl'))
    .option('--psync-command <name>', 'the PSYNC command\'s name, where a service renamed it', 'PSYNC')
    .option('--buffer <MiB>', 'memory for writes waiting to be printed; beyond it they wait on disk', '64')
    .option('--spool-dir <dir>', 'where writes wait when the buffer is full (default: the temp directory)')
    .option('--wait', 'if the first connection fails, retry it (by default the command ends: exit 2)')
    .option('--max-retry-time <seconds>', 'give up (exit 2) when reconnecting has not brought the link back for this long; 0: never', '300')
    .option('--timeout <seconds>', 'a connection attempt, or a link silent for this long, is a failure', '60');
  addTlsOptions(cmd, '', "the server's");
  addPasswordOption(cmd, '', "the server's", 'REDISCLI_AUTH');
  cmd.addHelpText('after', `
Output (jsonl): the snapshot as canonical lines (as \`redistap parse\` writes them), then one line per
write, MULTI/EXEC blocks whole:
  {"replid":"8371b4fb...","offset":1234,"db":0,"cmd":["SET","k","v"]}
offset is the replication offset of the command's last byte (what a replica ACKs after it). Connection
events go to standard error, and on a terminal a progress line while a full sync takes more than a
second. Ctrl-C stops cleanly.

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

With --checkpoint FILE the position ({"replid","offset","db"}) is written atomically at least once a
second while it moves and on exit; the next run resumes from it with PSYNC, without a full sync while
the master's backlog still holds the writes since.

Examples:
  redistap tail redis://127.0.0.1:6379 --no-rdb
  redistap tail redis://replicator@10.0.0.5:6379 --password-file tail.pw --checkpoint tail.pos >> changes.jsonl
  read -rs REDISCLI_AUTH && export REDISCLI_AUTH   # the password, as redis-cli reads it
  redistap tail redis://10.0.0.5:6379 --checkpoint tail.pos >> changes.jsonl
  redistap tail rediss://redis.internal:6380 --tls-ca ca.pem --tls-cert me.pem --tls-key me.key`);
  return cmd.action(async (url: string, opts: TailOptions) => {
    const maxQueuedBytes = positive(opts.buffer, '--buffer', 'MiB') * 2 ** 20;
    const timeoutMs = positive(opts.timeout, '--timeout', 'seconds') * 1000;
    const maxRetryTimeMs = positive(opts.maxRetryTime, '--max-retry-time', 'seconds', true) * 1000 || Infinity;
    const store = opts.checkpoint ? new CheckpointFile(opts.checkpoint) : null;
    let checkpoint: Checkpoint | null;
    try {
      checkpoint = store?.load() ?? null;
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let replica: Replica;
    try {
      url = urlWithPassword(opts, '', url, 'REDISCLI_AUTH');
      const tls = tlsOptionsFrom(opts, '', url);
      replica = new Replica({ url, tls, checkpoint, skipRdb: !opts.rdb, signal: abort.signal,
        psyncCommand: opts.psyncCommand, maxQueuedBytes, spoolDir: opts.spoolDir, timeoutMs,
        reconnect: { waitForMaster: opts.wait === true, maxRetryTimeMs } });
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    const out = Output.to(undefined);
    let saved = checkpoint?.offset ?? -1;
    const save = () => {
      const cp = replica.checkpoint;
      if (store && cp && cp.offset !== saved) {
        store.save(cp);
        saved = cp.offset;
      }
    };
    const timer = setInterval(save, 1000);
    const progress = new ByteProgress('full sync');
    try {
      for await (const e of replica) {
        if (e.type === 'rdb-progress') progress.update(e.bytes, e.total);
        const note = describe(e);
        if (note) {
          progress.stop();
          process.stderr.write(`redistap: ${note}\n`);
        }
        if (e.type === 'entry') {
          const line = canonicalLine(e.entry);
          if (line !== null) await out.write(Buffer.from(`${line}\n`));
        } else if (e.type === 'command') {
          await out.write(Buffer.from(commandLine(e.replid, e.command)));
        } else if (e.type === 'transaction') {
          await out.write(Buffer.from(e.commands.map((c) => commandLine(e.replid, c)).join('')));
        }
        if (out.closed) break;
      }
    } catch (err) {
      throw new CliError((err as Error).message);
    } finally {
      progress.stop();
      clearInterval(timer);
      save();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await out.end();
    }
  });
}
