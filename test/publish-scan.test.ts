// `publish` in scan mode into NATS JetStream, through the built CLI, from a redis-server started here as a
// managed service is (SYNC, PSYNC and REPLCONF renamed away): auto mode picks scan; a workload of every
// type runs during the snapshot and after it, with deletions and a FLUSHDB, the notification connection
// is killed and publish is SIGKILLed and restarted; once a marker written last is in the stream, the
// stream's events (snapshot keys, upserts, deletes, each Nats-Msg-Id once) rebuild the source's keyspace
// in a fresh server (helpers/event-consumer.ts), as the shared canonical dumper reads both.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { haveNats, startNats, type Nats } from './helpers/brokers.js';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { readEventStream, rebuild, type ChangeEventJson } from './helpers/event-consumer.js';
import { canonicalDump, unexpired } from './helpers/keyspace.js';
import { readNatsStream } from './helpers/nats-stream.js';
import { haveRedisServer, sharedTool } from './helpers/redis-server.js';
import { client, later, server, stopAll, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { binaryRound, writeRound, writeUntil } from './helpers/sync-workload.js';

afterEach(stopAll);

const MANAGED = ['--rename-command', 'SYNC', '', '--rename-command', 'PSYNC', '', '--rename-command', 'REPLCONF', ''];
const STREAM = 'REDISTAP';

function publish(port: number, n: Nats, checkpoint: string): CliProcess {
  const p = cli(['publish', `redis://127.0.0.1:${port}`, n.url, '--snapshot', 'values', '--checkpoint', checkpoint, '--json']);
  later({ stop: async () => { if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exit; } } });
  return p;
}

const parsed = (p: CliProcess) => p.lines.flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
const streaming = (p: CliProcess) => p.lines.some((l) => l.includes('"phase":"streaming"'));

function alive(p: CliProcess): void {
  if (p.child.exitCode !== null) throw new Error(`publish exited (${p.child.exitCode}): ${p.err()}`);
}

async function events(n: Nats): Promise<Array<{ msgId: string; event: ChangeEventJson }>> {
  return (await readNatsStream(n.url, STREAM).catch(() => [])).map((m) => ({ msgId: m.header('Nats-Msg-Id'), event: JSON.parse(m.body) as ChangeEventJson }));
}

function comparable(port: number): string[] {
  return withoutEntriesRead(unexpired(canonicalDump(port)));
}

/** The events, applied in order to a fresh server by the shared consumer (no repeat, nothing stale), make the source's keyspace. */
async function rebuildsSource(published: ChangeEventJson[], sourcePort: number): Promise<void> {
  const rebuilt = await server();
  const stats = await rebuild(await client(rebuilt), published);
  expect(stats.repeats).toBe(0);
  expect(stats.stale).toBe(0);
  const expected = comparable(sourcePort);
  expect(expected.length).toBeGreaterThan(20);
  expect(comparable(rebuilt.port)).toEqual(expected);
}

beforeAll(() => {
  if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) throw new Error('dist/cli/main.js is missing: run `npm run build --silent` first');
});

describe.skipIf(!haveNats() || !haveRedisServer())('publish --source-mode (scan) into NATS JetStream', () => {
  it('auto picks scan; writes during and after the snapshot, deletions, a FLUSHDB, the subscription killed, publish SIGKILLed and restarted: the stream rebuilds the source, each id once', async () => {
    const [src, n] = await Promise.all([server(MANAGED), startNats()]);
    later({ stop: () => n.stop() });
    const dir = mkdtempSync(join(tmpdir(), 'redistap-publish-scan-'));
    later({ stop: () => rmSync(dir, { recursive: true, force: true }) });
    const source = await client(src);
    const db2 = await client(src);
    await db2.ok('SELECT', 2);
    const db5 = await client(src);
    await db5.ok('SELECT', 5);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    for (let r = 0; r < 20; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    const checkpoint = join(dir, 'publish.pos');
    let stop = false;
    const writer = writeUntil(source, db2, () => stop, 20);
    try {
      let p = publish(src.port, n, checkpoint);
      await waitFor('streaming', () => { alive(p); return streaming(p); }, 60_000);
      expect(parsed(p).some((e) => e.type === 'phase' && String(e.detail).startsWith('source mode: scan (it refuses REPLCONF'))).toBe(true);
      for (let i = 0; i < 50; i++) await db5.ok('SET', `d:${i}`, i);
      await db5.ok('UNLINK', 'd:1');
      await waitFor('db 5 published', async () => (await events(n)).some((e) => e.event.event === 'upsert' && e.event.key === 'd:49'));
      const rescans = () => p.lines.filter((l) => l.includes('scan mode reads everything again')).length;
      const streamingPhases = () => parsed(p).filter((e) => e.type === 'phase' && e.phase === 'streaming').length;
      // The flush's rescan done before the subscription is killed: else the two may make one rescan.
      await db5.ok('FLUSHDB');
      await waitFor('the flush\'s rescan', () => { alive(p); return rescans() === 1 && streamingPhases() >= 2; }, 60_000);
      await source.ok('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await waitFor('the killed subscription\'s rescan', () => { alive(p); return rescans() === 2 && streamingPhases() >= 3; }, 60_000);
      await new Promise((r) => setTimeout(r, 1500)); // a position saved
      p.child.kill('SIGKILL');
      expect(await p.exit).toBeNull();
      p = publish(src.port, n, checkpoint);
      await waitFor('streaming', () => { alive(p); return streaming(p); }, 60_000);
      stop = true;
      expect(await writer).toBeGreaterThan(0);
      const token = `marker-${Date.now()}`;
      await source.ok('SET', 'w:marker', token);
      await waitFor('the marker in the stream', async () => (await events(n)).some((e) => e.event.event === 'upsert' && (e.event.value as unknown) === token), 60_000);
      await new Promise((r) => setTimeout(r, 300)); // the workload's short TTLs have run out
      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
    } finally {
      stop = true;
      await writer.catch(() => undefined);
    }
    const stored = await events(n);
    const counts = new Map<string, number>();
    for (const s of stored) counts.set(s.msgId, (counts.get(s.msgId) ?? 0) + 1);
    expect([...counts].filter(([, c]) => c > 1)).toEqual([]);
    expect(stored.filter((s) => s.msgId !== s.event.id)).toEqual([]);
    const published = stored.map((s) => s.event);
    expect(published.filter((e) => e.event === 'full-sync-start').map((e) => (e as { reason?: string }).reason)).toEqual(['no-checkpoint', 'rescan', 'rescan', 'resync']);
    expect(published.some((e) => e.event === 'delete')).toBe(true);
    await rebuildsSource(published, src.port);
  }, 180_000);
});

describe.skipIf(!haveRedisServer())('publish --source-mode scan into a Redis stream', () => {
  it('the workload, UNLINK, EXPIRE, FLUSHDB, MOVE, a key set 10,000 times in a row and a 50 MB hash changed 1,000 times (read a few times): the stream rebuilds the source, each id once', async () => {
    const [src, sinkServer] = await Promise.all([server(MANAGED), server()]);
    const source = await client(src);
    const db2 = await client(src);
    await db2.ok('SELECT', 2);
    const other = await client(src);
    const sink = await client(sinkServer);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    const p = cli(['publish', `redis://127.0.0.1:${src.port}`, `redis://127.0.0.1:${sinkServer.port}?stream=cdc`, '--snapshot', 'values', '--source-mode', 'scan', '--json']);
    later({ stop: async () => { if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exit; } } });
    let stop = false;
    const writer = writeUntil(source, db2, () => stop);
    try {
      await waitFor('streaming', () => { alive(p); return streaming(p); }, 60_000);
      // db 5: keys, an UNLINK, an EXPIRE, then a FLUSHDB (a rescan) and a key moved to db 6.
      await other.ok('SELECT', 5);
      for (let i = 0; i < 50; i++) await other.ok('SET', `d:${i}`, i);
      await other.ok('UNLINK', 'd:1');
      await other.ok('EXPIRE', 'd:2', 1);
      await other.ok('FLUSHDB');
      await other.ok('SET', 'd:after-flush', 'x');
      await other.ok('MOVE', 'd:after-flush', 6);
      await other.ok('SELECT', 0);
      await Promise.all(Array.from({ length: 10_000 }, (_, i) => other.ok('SET', 'w:hot', i)));
      await other.ok('HSET', 'w:big', ...Array.from({ length: 500 }, (_, i) => [`f${i}`, 'h'.repeat(100 << 10)]).flat());
      await other.ok('MULTI');
      await Promise.all(Array.from({ length: 1000 }, () => other.ok('HINCRBY', 'w:big', 'changes', 1)));
      await other.ok('EXEC');
      stop = true;
      expect(await writer).toBeGreaterThan(0);
      const token = `marker-${Date.now()}`;
      await source.ok('SET', 'w:marker', token);
      // Written last, so among the stream's last entries (reading it whole each time would read the big hash's).
      await waitFor('the marker in the stream', async () => {
        alive(p);
        const last = await sink.call('XREVRANGE', 'cdc', '+', '-', 'COUNT', 20) as unknown as Array<[Buffer, Buffer[]]>;
        return last.some(([, fields]) => fields.some((f) => f.includes(token)));
      }, 60_000);
      await new Promise((r) => setTimeout(r, 300)); // the workload's short TTLs have run out
      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
    } finally {
      stop = true;
      await writer.catch(() => undefined);
    }
    const { events: published, ids } = await readEventStream(sink, 'cdc');
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    const upserts = (key: string) => published.filter((e) => e.event === 'upsert' && e.key === key).length;
    // A small key is read as fast as it can be (how often depends on the machine: printed only); the
    // big one's 1,000 changes came in one MULTI/EXEC, their notifications together: read a few times.
    console.log(`w:hot set 10,000 times: ${upserts('w:hot')} upserts; w:big (50 MB) written 1,001 times: ${upserts('w:big')} upserts`);
    expect(upserts('w:big')).toBeGreaterThan(0);
    expect(upserts('w:big')).toBeLessThan(10);
    await rebuildsSource(published, src.port);
  }, 180_000);
});
