// `publish` into NATS JetStream, through the built CLI, against real servers started here: a source, a
// nats-server (helpers/brokers.ts), and a third redis-server that the consumer of helpers/event-consumer.ts
// rebuilds from the stream's messages alone (read back by an ordered consumer from the stream's start). A
// case that publishes a workload ends, once the writes have stopped and a marker written last is in the
// stream, with the rebuilt keyspace equal to the source's (the shared canonical dumper's lines) and every
// Nats-Msg-Id in the stream exactly once (the sink chains its messages: expected last msg id). Order is
// judged against Redis's own reader of the source's replication stream, `redis-cli --replica`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { byteTextBytes, type ByteText } from '../src/rdb/canonical-json.js';
import { readNatsStream } from './helpers/nats-stream.js';
import { haveNats, startNats, type Nats } from './helpers/brokers.js';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { rebuild, type ChangeEventJson } from './helpers/event-consumer.js';
import { canonicalDump, unexpired } from './helpers/keyspace.js';
import { haveRedisServer, sharedTool, type RedisClient } from './helpers/redis-server.js';
import { client, later, server, stopAll, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { binaryRound, writeRound, writeUntil } from './helpers/sync-workload.js';

const STREAM = 'REDISTAP';

afterEach(stopAll);

// ------------------------------------------------------------------ servers and the CLI

async function nats(options: { maxPayload?: number } = {}): Promise<Nats> {
  const n = await startNats(options);
  later({ stop: () => n.stop() });
  return n;
}

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'redistap-publish-nats-'));
  later({ stop: () => rmSync(dir, { recursive: true, force: true }) });
  return dir;
}

/** The built CLI publishing `source` into `natsUrl`, --snapshot values, status as JSON lines; killed after the test. */
function cliPublish(sourcePort: number, natsUrl: string, checkpoint: string, extra: string[] = []): CliProcess {
  const p = cli(['publish', `redis://127.0.0.1:${sourcePort}`, natsUrl, '--snapshot', 'values', '--checkpoint', checkpoint, '--json', ...extra]);
  later({ stop: async () => { if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exit; } } });
  return p;
}

const parsed = (p: CliProcess) => p.lines.flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
const streaming = (p: CliProcess) => p.lines.some((l) => l.includes('"phase":"streaming"'));
const warnings = (p: CliProcess, from = 0) => parsed({ ...p, lines: p.lines.slice(from) }).filter((e) => e.type === 'warning').map((e) => String(e.message));

async function exited(p: CliProcess, ms = 30_000): Promise<number | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`publish still running after ${ms} ms: ${p.err()}`)), ms); });
  return Promise.race([p.exit, late]).finally(() => clearTimeout(timer));
}

function alive(p: CliProcess): void {
  if (p.child.exitCode !== null) throw new Error(`publish exited (${p.child.exitCode}): ${p.err()}`);
}

/** Waits until a status line says a position past the snapshot is confirmed, and the file has had time to keep it (saved every second). */
async function savedPastSnapshot(p: CliProcess): Promise<void> {
  await waitFor('a confirmed position', () => {
    alive(p);
    return parsed(p).some((e) => e.type === 'status' && e.phase === 'streaming' && (e.confirmed as { replid: string }).replid !== '');
  });
  await new Promise((r) => setTimeout(r, 1500));
}

// ------------------------------------------------------------------ the workload

async function db2Client(port: number): Promise<RedisClient> {
  const c = await client({ port });
  await c.ok('SELECT', 2);
  return c;
}


// ------------------------------------------------------------------ the stream, read back

interface Stored { seq: number; subject: string; msgId: string; event: ChangeEventJson }

/** Every message of the stream, in stream order. */
async function readStream(n: Nats, stream = STREAM): Promise<Stored[]> {
  return (await readNatsStream(n.url, stream)).map((m) => ({ seq: m.seq, subject: m.subject, msgId: m.header('Nats-Msg-Id'), event: JSON.parse(m.body) as ChangeEventJson }));
}

async function natsConnect(n: Nats): Promise<NatsConnection> {
  return connect({ servers: `127.0.0.1:${n.port}`, reconnect: false, timeout: 3000 });
}

/** Messages, bytes and last sequence of the stream; null while the server is down. */
async function streamState(n: Nats, stream = STREAM): Promise<{ messages: number; bytes: number; lastSeq: number } | null> {
  let nc: NatsConnection | null = null;
  try {
    nc = await natsConnect(n);
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    return { messages: info.state.messages, bytes: info.state.bytes, lastSeq: info.state.last_seq };
  } catch {
    return null;
  } finally {
    await nc?.close().catch(() => undefined);
  }
}


/** Waits until the stream holds `more` messages beyond what it holds now. */
async function grows(n: Nats, more: number, p?: CliProcess, timeoutMs = 30_000): Promise<void> {
  const start = (await streamState(n))?.messages ?? 0;
  await waitFor(`the stream to grow by ${more}`, async () => {
    if (p) alive(p);
    return ((await streamState(n))?.messages ?? 0) >= start + more;
  }, timeoutMs);
}

/**
 * Writes a marker last (the writers have stopped) and waits until it is the stream's last SET of db 0:
 * the chain stores messages in order with no gap, so everything before it is in the stream too.
 */
async function markerInStream(source: RedisClient, n: Nats, p?: CliProcess, stream = STREAM): Promise<void> {
  const token = `marker-${Date.now()}-${Math.random()}`;
  await source.ok('SET', 'w:marker', token);
  await waitFor('the marker in the stream', async () => {
    if (p) alive(p);
    let nc: NatsConnection | null = null;
    try {
      nc = await natsConnect(n);
      const m = await (await jetstreamManager(nc)).streams.getMessage(stream, { last_by_subj: 'redistap.0.set' });
      const e = m?.json<ChangeEventJson>();
      return Array.isArray(e?.args) && e.args[1] === token;
    } catch {
      return false;
    } finally {
      await nc?.close().catch(() => undefined);
    }
  }, 60_000);
  await new Promise((r) => setTimeout(r, 300)); // the workload's short TTLs (≤ 150 ms) have run out
}

const keyText = (k: unknown) => (typeof k === 'string' ? k : JSON.stringify(k));

/** The canonical dump made comparable: keys whose TTL passed left out, entries_read only as present. */
function keyspace(port: number): string[] {
  return withoutEntriesRead(unexpired(canonicalDump(port)));
}

/**
 * Reads the whole stream (the messages `ours` keeps): each Nats-Msg-Id once, the id of the event it carries, sequences without a gap;
 * rebuilds it into a fresh server (no repeat, nothing out of order) whose keyspace must be the source's.
 */
async function rebuildAndCompare(sourcePort: number, n: Nats, stream = STREAM, ours: (s: Stored) => boolean = () => true): Promise<ChangeEventJson[]> {
  const stored = (await readStream(n, stream)).filter(ours);
  expect(stored.length).toBeGreaterThan(0);
  const counts = new Map<string, number>();
  for (const s of stored) counts.set(s.msgId, (counts.get(s.msgId) ?? 0) + 1);
  expect([...counts].filter(([, c]) => c > 1).map(([id, c]) => `${id} ×${c}`)).toEqual([]);
  expect(stored.filter((s) => s.msgId !== s.event.id).map((s) => `seq ${s.seq}: Nats-Msg-Id ${s.msgId}, event ${s.event.id}`)).toEqual([]);
  expect(stored.map((s) => s.seq)).toEqual(stored.map((_, i) => stored[0]!.seq + i));
  const events = stored.map((s) => s.event);
  const rebuilt = await server();
  const stats = await rebuild(await client(rebuilt), events);
  expect(stats.repeats).toBe(0);
  expect(stats.stale).toBe(0);
  const expected = keyspace(sourcePort);
  expect(expected.length).toBeGreaterThan(20);
  expect(keyspace(rebuilt.port)).toEqual(expected);
  return events;
}

// ------------------------------------------------------------------ Redis's own reader of the replication stream

/** A `redis-cli --replica` line ("SET","k","v", sdsrepr escapes) as its arguments. */
function replicaArgs(line: string): Buffer[] {
  const simple: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8 };
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map(([, text]) => {
    const out: number[] = [];
    for (let i = 0; i < text!.length; i++) {
      if (text![i] !== '\\') { out.push(text!.charCodeAt(i)); continue; }
      const e = text![++i]!;
      if (e === 'x') { out.push(parseInt(text!.slice(i + 1, i + 3), 16)); i += 2; } else out.push(simple[e] ?? e.charCodeAt(0));
    }
    return Buffer.from(out);
  });
}

const NOT_DATA = new Set(['select', 'multi', 'exec', 'ping', 'replconf', 'publish']);

/** Every replicated write as "db command arg-hex ...", in the source's order. */
function replicaReader(port: number): { writes: string[]; synced: () => boolean } {
  const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--replica'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  later({ stop: async () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); await exit; } });
  const writes: string[] = [];
  let synced = false;
  let db = 0;
  let rest = '';
  let status = '';
  child.stderr.on('data', (d: Buffer) => { status += d.toString(); if (/SYNC done/.test(status)) synced = true; });
  child.stdout.on('data', (d: Buffer) => {
    const lines = (rest + d.toString('latin1')).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('"')) continue;
      const [name, ...args] = replicaArgs(line);
      const command = name!.toString().toLowerCase();
      if (command === 'select') db = Number(args[0]!.toString());
      if (NOT_DATA.has(command)) continue;
      writes.push(`${db} ${command} ${args.map((a) => a.toString('hex')).join(' ')}`);
    }
  });
  return { writes, synced: () => synced };
}

const bytesOf = (t: ByteText) => Buffer.from(byteTextBytes(t));
const showWrite = (e: ChangeEventJson) => `${e.db} ${e.command} ${(e.args ?? []).map((a) => bytesOf(a).toString('hex')).join(' ')}`;

// ------------------------------------------------------------------ the cases

describe.skipIf(!haveNats() || !haveRedisServer())('publish into NATS JetStream (CLI): the stream rebuilds the source', () => {
  beforeAll(() => {
    if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) throw new Error('dist/cli/main.js is missing: run `npm run build --silent` first');
  });

  it('(a) a snapshot with values and writes before, during and after it: the rebuilt keyspace is the source\'s, every write in order, each id once', async () => {
    const [src, n] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), nats()]);
    const source = await client(src);
    const db2 = await db2Client(src.port);
    const oracle = replicaReader(src.port);
    await waitFor('redis-cli --replica synced', () => oracle.synced());
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    for (let r = 0; r < 30; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    const p = cliPublish(src.port, n.url, join(scratchDir(), 'publish.pos'));
    let round = 30;
    while (!streaming(p)) {
      alive(p);
      await Promise.all([writeRound(source, round), binaryRound(db2, round)]);
      round++;
    }
    const during = round - 30;
    for (const end = round + 150; round < end; round++) await Promise.all([writeRound(source, round), binaryRound(db2, round)]);
    await markerInStream(source, n, p);
    const published = await rebuildAndCompare(src.port, n);

    expect(during).toBeGreaterThan(0);
    expect(new Set(published.map((e) => e.event))).toEqual(new Set(['full-sync-start', 'snapshot', 'full-sync-end', 'write']));
    const writes = published.filter((e) => e.event === 'write');
    expect(new Set(writes.map((e) => e.class))).toEqual(new Set(['string', 'list', 'set', 'zset', 'hash', 'stream', 'generic']));
    expect(writes.some((e) => e.tx && e.tx.count === 2 && e.command === 'incrby')).toBe(true); // the Lua script's block
    expect(writes.some((e) => e.db === 2 && typeof (e.keys as unknown[])[0] === 'object')).toBe(true);
    expect(published.some((e) => e.event === 'snapshot' && e.db === 2 && typeof e.key === 'object')).toBe(true);

    // Every write after the snapshot, in the source's order: the tail of what Redis's own replica reader saw.
    const end = published.findIndex((e) => e.event === 'full-sync-end');
    const after = published.slice(end + 1).map(showWrite);
    expect(after.length).toBeGreaterThan(150 * 20);
    // Up to the marker: keys of the workload's short TTLs may expire after it, their DELs replicated later.
    await waitFor('the marker at redis-cli --replica', () => oracle.writes.includes(after.at(-1)!));
    const upTo = oracle.writes.lastIndexOf(after.at(-1)!) + 1;
    expect(after).toEqual(oracle.writes.slice(upTo - after.length, upTo));

    p.child.kill('SIGTERM');
    expect(await exited(p)).toBe(0);
    expect(warnings(p).filter((w) => !w.startsWith('created the JetStream stream'))).toEqual([]);
  }, 90_000);
});

describe.skipIf(!haveNats() || !haveRedisServer())('publish into NATS JetStream (CLI): faults', () => {
  it('(b) publish SIGKILLed and restarted, the replica link killed: the stream still rebuilds the source, each id once', async () => {
    const [src, n] = await Promise.all([
      // A backlog that keeps what the replica link misses while it is down (PSYNC continues).
      server(['--repl-diskless-sync-delay', '0', '--repl-backlog-size', '64mb']),
      nats(),
    ]);
    const source = await client(src);
    const db2 = await db2Client(src.port);
    const checkpoint = join(scratchDir(), 'publish.pos');
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    for (let r = 0; r < 20; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    let stop = false;
    const writer = writeUntil(source, db2, () => stop, 20);
    try {
      // Killed four times: the first inside its snapshot, the others streaming; the third while nats-server
      // is frozen (SIGSTOP) for a while, so that many events read from the source are not confirmed yet.
      // Inside the snapshot by construction, not by timing: its 20,000 extra keys do not fit the first
      // run's window of unconfirmed events (50 KiB), so it cannot end before thousands are confirmed.
      await source.ok('EVAL', "for i = 1, 20000 do redis.call('SET', 'bulk:' .. i, string.rep('x', 64)) end", 0);
      let p = cliPublish(src.port, n.url, checkpoint, ['--max-in-flight', String(50 / 1024)]);
      for (const [i, more] of [30, 300, 300, 300].entries()) {
        if (i > 0) {
          await waitFor('streaming', () => { alive(p); return streaming(p); });
          // A restart from a position saved while streaming continues from it (PSYNC): no new snapshot.
          if (i > 1) expect(p.lines.filter((l) => l.includes('full sync'))).toEqual([]);
          await savedPastSnapshot(p);
        }
        await grows(n, more, p);
        if (i === 0) expect(streaming(p)).toBe(false);
        const frozen = i === 2 ? n.pid : null;
        try {
          if (frozen !== null) {
            process.kill(frozen, 'SIGSTOP');
            const lines = p.lines.length;
            await waitFor('publish to read on while the sink does not confirm', () => parsed({ ...p, lines: p.lines.slice(lines) })
              .filter((e) => e.type === 'status' && Number((e.lag as { bytes: number }).bytes) > 0).length >= 2, 10_000);
          }
          p.child.kill('SIGKILL');
          expect(await p.exit).toBeNull();
        } finally {
          if (frozen !== null) process.kill(frozen, 'SIGCONT');
        }
        p = cliPublish(src.port, n.url, checkpoint);
      }
      await waitFor('streaming', () => { alive(p); return streaming(p); });
      expect(p.lines.filter((l) => l.includes('full sync'))).toEqual([]);
      await grows(n, 300, p);

      // The source drops its replicas: publish reconnects and continues (PSYNC), no new snapshot.
      const before = p.lines.length;
      await source.ok('CLIENT', 'KILL', 'TYPE', 'replica');
      await waitFor('publish to continue from where the link dropped', () => { alive(p); return p.lines.slice(before).some((l) => l.includes('resumed from the source')); });
      expect(p.lines.slice(before).filter((l) => l.includes('full sync'))).toEqual([]);
      await grows(n, 300, p);

      stop = true;
      expect(await writer).toBeGreaterThan(0);
      await markerInStream(source, n, p);
      p.child.kill('SIGTERM');
      expect(await exited(p)).toBe(0);
    } finally {
      stop = true;
      await writer.catch(() => undefined);
    }
    const events = await rebuildAndCompare(src.port, n);
    // The snapshot cut short by the first kill, then the one of its restart (its checkpoint was inside a snapshot).
    expect(events.filter((e) => e.event === 'full-sync-start').length).toBe(2);
  }, 180_000);
});

// ------------------------------------------------------------------ a 30 s outage of nats-server

describe.skipIf(!haveNats() || !haveRedisServer())('publish into NATS JetStream (CLI): nats-server down for 30 s', () => {
  it('(b) while writes continue: publish spools the source\'s stream, the source never drops it, then the stream rebuilds the source, each id once', async () => {
    const [src, n] = await Promise.all([
      // A small replica output buffer: a publisher that stopped reading during the outage would be dropped (and logged).
      server(['--repl-diskless-sync-delay', '0', '--repl-backlog-size', '64mb', '--client-output-buffer-limit', 'replica 1mb 512kb 5', '--logfile', 'redis.log']),
      nats(),
    ]);
    const source = await client(src);
    const db2 = await db2Client(src.port);
    for (let r = 0; r < 20; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    let stop = false;
    const writer = writeUntil(source, db2, () => stop, 20);
    // At most 2 MiB in flight: the events read while the sink is down queue in memory (64 MiB), then spool.
    const p = cliPublish(src.port, n.url, join(scratchDir(), 'publish.pos'), ['--max-in-flight', '2']);
    let bigWrites = 0;
    try {
      await waitFor('streaming', () => { alive(p); return streaming(p); });
      await grows(n, 300, p);
      const before = p.lines.length;
      await n.restart(30_000, async () => {
        await waitFor('publish to see the sink down', () => { alive(p); return p.lines.slice(before).some((l) => l.includes('"sink":"down"')); }, 20_000);
        // 120 MiB of writes, paced (~40 MiB/s): more than the memory queue takes, so publish spools them.
        const big = 'x'.repeat(256 << 10);
        for (; bigWrites < 480; bigWrites++) {
          await source.ok('SET', `w:big:${bigWrites % 8}`, big);
          if (bigWrites % 8 === 7) await new Promise((r) => setTimeout(r, 40));
        }
        await waitFor('the spool in use', () => { alive(p); return parsed(p).some((e) => e.type === 'status' && Number(e.spoolBytes) > 0); }, 20_000);
      });
      await grows(n, 1000, p, 60_000);
      stop = true;
      expect(await writer).toBeGreaterThan(0);
      await markerInStream(source, n, p);
      p.child.kill('SIGTERM');
      expect(await exited(p)).toBe(0);
    } finally {
      stop = true;
      await writer.catch(() => undefined);
    }
    const statuses = parsed(p).filter((e) => e.type === 'status');
    expect(Math.max(...statuses.map((e) => Number(e.spoolBytes)))).toBeGreaterThan(0);
    expect(statuses.at(-1)!.sourceReconnects).toBe(0);
    expect(Number(statuses.at(-1)!.sinkReconnects)).toBeGreaterThan(0);
    // The source kept the link all along: one full sync (publish's first), never a drop for its output buffer.
    expect(await source.info('stats', 'sync_full')).toBe('1');
    expect(await source.info('stats', 'sync_partial_ok')).toBe('0');
    const log = readFileSync(join(src.dir, 'redis.log'), 'utf8');
    expect(log).toMatch(/Synchronization with replica .* succeeded/);
    expect(log).not.toContain('overcoming of output buffer limits');
    const events = await rebuildAndCompare(src.port, n);
    expect(events.filter((e) => e.event === 'write' && e.command === 'set' && keyText(e.keys && (e.keys as unknown[])[0]).startsWith('w:big:')).length).toBe(480);
  }, 150_000);
});

// ------------------------------------------------------------------ a full stream (max_bytes, discard new)

const PADS = 10;
const PAD_SUBJECT = 'redistap.pad';

describe.skipIf(!haveNats() || !haveRedisServer())('publish into NATS JetStream (CLI): a full stream', () => {
  it('(b) at its max_bytes with discard new: publish retries, and once the limit is raised everything arrives in order, each id once', async () => {
    const [src, n] = await Promise.all([server(['--repl-diskless-sync-delay', '0', '--repl-backlog-size', '64mb']), nats()]);
    const limit = 256 << 10;
    const nc = await natsConnect(n);
    later({ stop: () => nc.close() });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: STREAM, subjects: ['redistap.>'], storage: StorageType.File, max_bytes: limit, discard: DiscardPolicy.New });
    // nats-server before 2.10.5 (Debian's 2.9.10 is what CI installs) checks discard new's max_bytes against
    // a message's headers and body, then counts its stored record (subject and ~30 bytes more): the stream can
    // go a few bytes past max_bytes, and the server then deletes its OLDEST messages to get back under it
    // (nats-io/nats-server#4772, #4775). Sacrificial messages of our own at the stream's start take those
    // deletions; the checks below see only publish's messages, which must all be there.
    const js = jetstream(nc);
    for (let i = 0; i < PADS; i++) await js.publish(PAD_SUBJECT, JSON.stringify({ pad: 'p'.repeat(2000) }));
    const source = await client(src);
    const db2 = await db2Client(src.port);
    for (let r = 0; r < 20; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    let stop = false;
    const writer = writeUntil(source, db2, () => stop, 20);
    const p = cliPublish(src.port, n.url, join(scratchDir(), 'publish.pos'));
    try {
      const full = () => warnings(p).filter((w) => /maximum bytes/i.test(w));
      await waitFor('publish to retry against the full stream', () => { alive(p); return full().length >= 3; });
      const blocked = (await streamState(n))!;
      expect(blocked.bytes).toBeLessThanOrEqual(limit);
      expect(blocked.messages).toBeGreaterThan(0);
      // Writes go on; the stream stays where it is, publish keeps trying.
      const tried = full().length;
      await new Promise((r) => setTimeout(r, 2000));
      expect((await streamState(n))!.messages).toBe(blocked.messages);
      expect(full().length).toBeGreaterThan(tried);
      alive(p);

      await jsm.streams.update(STREAM, { max_bytes: -1 });
      await grows(n, 2000, p);
      stop = true;
      expect(await writer).toBeGreaterThan(0);
      await markerInStream(source, n, p);
      p.child.kill('SIGTERM');
      expect(await exited(p)).toBe(0);
    } finally {
      stop = true;
      await writer.catch(() => undefined);
    }
    const all = await readStream(n);
    const pads = all.filter((s) => s.subject === PAD_SUBJECT).length;
    // More deletions than pads would have taken publish's own messages: the rebuild below would tell.
    if (pads < PADS) console.log(`nats-server deleted ${PADS - pads} of the stream's oldest messages at its max_bytes despite discard new (nats-io/nats-server#4775)`);
    expect(all.slice(0, pads).every((s) => s.subject === PAD_SUBJECT)).toBe(true);
    const events = await rebuildAndCompare(src.port, n, STREAM, (s) => s.subject !== PAD_SUBJECT);
    expect(events.filter((e) => e.event === 'full-sync-start').length).toBe(1);
  }, 90_000);
});

// ------------------------------------------------------------------ a message larger than max_payload

describe.skipIf(!haveNats() || !haveRedisServer())('publish into NATS JetStream (CLI): a message over max_payload', () => {
  const tooLarge = /message (\S+) is (\d+) bytes \(headers and JSON body\), more than the 4096 bytes NATS nats:\/\/127\.0\.0\.1:\d+ stream (\S+) takes \(the server's max_payload\): it can never be published/;

  it('(c) a big SET while streaming stops publish (exit 2, naming the size and the limit), its position saved: a restart stops the same way, nothing published past it', async () => {
    const [src, n] = await Promise.all([server(['--repl-diskless-sync-delay', '0', '--repl-backlog-size', '64mb']), nats({ maxPayload: 4096 })]);
    const source = await client(src);
    for (let i = 0; i < 50; i++) await source.ok('SET', `k:${i}`, `v${i}`);
    const checkpoint = join(scratchDir(), 'publish.pos');
    const first = cliPublish(src.port, n.url, checkpoint);
    await waitFor('streaming', () => { alive(first); return streaming(first); });
    for (let i = 0; i < 20; i++) await source.ok('RPUSH', 'before', i);
    await waitFor('the writes before', async () => (await readStream(n)).some((s) => s.event.command === 'rpush' && s.event.args?.[1] === '19'));
    await savedPastSnapshot(first);
    await source.ok('SET', 'big', 'x'.repeat(5000));
    await source.ok('SET', 'after', '1');
    expect(await exited(first)).toBe(2);
    const m = tooLarge.exec(first.err());
    expect(m, first.err()).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThan(4096);
    expect(m![3]).toBe(STREAM);
    const [replid, offset] = m![1]!.split('-');
    const stored = await readStream(n);
    const last = stored.at(-1)!.event;
    expect(last.command === 'rpush' && last.args?.[1] === '19').toBe(true);
    expect(stored.filter((s) => s.event.offset >= Number(offset))).toEqual([]);
    // The position saved is before the big SET.
    const position = JSON.parse(readFileSync(checkpoint, 'utf8')) as { replid: string; offset: number };
    expect(position.replid).toBe(replid);
    expect(position.offset).toBeLessThan(Number(offset));
    expect(position.offset).toBeGreaterThanOrEqual(last.offset);

    await source.ok('SET', 'after', '2');
    const again = cliPublish(src.port, n.url, checkpoint);
    expect(await exited(again)).toBe(2);
    expect(tooLarge.exec(again.err())?.[1]).toBe(m![1]);
    expect(again.lines.filter((l) => l.includes('full sync'))).toEqual([]);
    expect((await readStream(n)).map((s) => s.msgId)).toEqual(stored.map((s) => s.msgId));
  }, 60_000);

  it('(c) a big value in the snapshot (--snapshot values) stops publish the same way, before the snapshot ends', async () => {
    const [src, n] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), nats({ maxPayload: 4096 })]);
    const source = await client(src);
    for (let i = 0; i < 50; i++) await source.ok('SET', `k:${i}`, `v${i}`);
    await source.ok('HSET', 'big', 'f', 'y'.repeat(6000));
    const checkpoint = join(scratchDir(), 'publish.pos');
    for (const run of [1, 2]) {
      const p = cliPublish(src.port, n.url, checkpoint);
      expect(await exited(p), `run ${run}`).toBe(2);
      const m = tooLarge.exec(p.err());
      expect(m, p.err()).not.toBeNull();
      expect(Number(m![2])).toBeGreaterThan(6000);
      const events = (await readStream(n)).map((s) => s.event);
      // The snapshot's first batch holds the big key (no message of a batch is sent when one is too large).
      expect(events.filter((e) => e.event === 'full-sync-end' || e.event === 'write' || (e.event === 'snapshot' && e.key === 'big'))).toEqual([]);
    }
  }, 60_000);
});
