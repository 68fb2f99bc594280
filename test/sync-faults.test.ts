// `sync` under faults, against real servers started here: the replica link killed during the snapshot and
// during the stream (CLIENT KILL TYPE replica), the source silent for longer than the read timeout (DEBUG
// SLEEP), the target restarted, and the redistap process killed with SIGKILL and started again several
// times. Writes of every type go on throughout; at the end no write may be missing or applied twice: the
// target's keyspace must equal the source's and a real replica's.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { Sync } from '../src/sync/sync.js';
import { populateMixed } from './helpers/mixed-data.js';
import { haveRedisServer, type RedisClient, type RedisServer } from './helpers/redis-server.js';
import { syncedKeyspace, caughtUp, client, later, realReplica, server, startSync, stopAll, url, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { writeRound } from './helpers/sync-workload.js';

const live = haveRedisServer();
const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;
/** Sources start their snapshot at once (Redis 7.0 waits 5 s for more replicas by default). */
const SOURCE = ['--repl-diskless-sync-delay', '0', '--enable-debug-command', 'yes'];

afterEach(stopAll);

/** Keeps writing rounds in the background until stopped; `rounds` counts them. */
function writer(source: RedisClient): { stop(): Promise<void>; rounds(): number } {
  let round = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      await writeRound(source, round++);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return { stop: async () => { running = false; await done; }, rounds: () => round };
}

/** The end of every case: caught up, and the target equal to the source and to a real replica. */
async function expectIdentical(source: RedisClient, src: RedisServer, dst: RedisServer, replica: RedisServer): Promise<void> {
  await caughtUp(source, [await client(dst), await client(replica)]);
  const copy = withoutEntriesRead(syncedKeyspace(dst.port));
  expect(copy.length).toBeGreaterThan(500);
  expect(copy).toEqual(withoutEntriesRead(syncedKeyspace(replica.port)));
  expect(copy).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
}

async function streaming(s: Sync): Promise<void> {
  await waitFor(`the sync to stream (${s.status.phase})`, () => s.status.phase === 'streaming' || s.status.phase === 'failed', 60_000);
  expect(s.status.phase).toBe('streaming');
}

// Both ways of copying: RESTORE commands, and the target loading the snapshot as a replica of the sync.
describe.skipIf(!live).each(['restore', 'replication'] as const)('sync under faults (--copy %s)', (copy) => {
  it('the replica link killed during the snapshot, then during the stream, several times', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    await populateMixed(source, 3, 2);
    const replica = await realReplica(src);
    // A snapshot that takes a while: every key saved 50 µs late.
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 50);
    const writes = writer(source);
    const { sync: s, events } = startSync(src, dst, { copy });
    // RESTOREs sent, or the target loading.
    await waitFor('the copy to be under way', () => (copy === 'restore' ? s.status.copy.keys > 200 : s.status.copy.rdbBytes > 0));
    await source.ok('CLIENT', 'KILL', 'TYPE', 'replica');
    await waitFor('a second copy', () => events.filter((e) => e.type === 'phase' && e.phase === 'copying').length >= 2);
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 0);
    await streaming(s);
    for (let i = 0; i < 3; i++) {
      const before = writes.rounds();
      await waitFor('more writes', () => writes.rounds() > before + 20);
      await source.ok('CLIENT', 'KILL', 'TYPE', 'replica');
    }
    await waitFor('more writes', () => writes.rounds() > 150);
    await writes.stop();
    await expectIdentical(source, src, dst, replica);
    // The stream resumed with PSYNC each time: only the killed snapshot was copied again.
    expect(events.filter((e) => e.type === 'phase' && e.phase === 'copying')).toHaveLength(2);
    expect(s.status.restarts).toBe(0);
  }, 180_000);

  it('a source silent for longer than the read timeout (DEBUG SLEEP), and a target restarted', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server(['--appendonly', 'yes'])]);
    const source = await client(src);
    await populateMixed(source, 4);
    const replica = await realReplica(src);
    const writes = writer(source);
    const { sync: s, events } = startSync(src, dst, { copy, timeoutMs: 1000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
    await streaming(s);
    await waitFor('writes', () => writes.rounds() > 30);
    // The writer's own calls wait out the sleep too.
    await source.ok('DEBUG', 'SLEEP', 2.5);
    await waitFor('writes after the sleep', () => writes.rounds() > 80);
    expect(events.some((e) => e.type === 'warning' && /^link down: /.test(e.message)), JSON.stringify(events)).toBe(true);
    // The target goes away (clean shutdown: its AOF holds every block it acknowledged) and comes back.
    const restarted = await dst.restart();
    await waitFor('the sync to start over', () => s.status.restarts > 0);
    await waitFor('writes after the restart', () => writes.rounds() > 160);
    await writes.stop();
    await streaming(s);
    await expectIdentical(source, src, restarted, replica);
    // Started over from the position the target kept: no second copy.
    expect(events.filter((e) => e.type === 'phase' && e.phase === 'copying')).toHaveLength(1);
  }, 180_000);

  it('redistap killed with SIGKILL and started again, five times, during the copy and during the stream', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    await populateMixed(source, 5, 2);
    const replica = await realReplica(src);
    const writes = writer(source);
    const lines: string[] = [];
    const run = (): ChildProcess => {
      const child = spawn(process.execPath, [MAIN, 'sync', url(src), url(dst), '--copy', copy, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
      later({ stop: () => { if (child.exitCode === null) child.kill('SIGKILL'); } });
      return child;
    };
    const events = () => lines.map((l) => JSON.parse(l) as { type: string; phase?: string; detail?: string; message?: string });
    const phases = () => events().filter((e) => e.type === 'phase');
    // First run: killed during the copy (the snapshot is slowed down so that it lasts).
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 100);
    let child = run();
    await waitFor('the copy to start', () => phases().some((p) => p.phase === 'copying'));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 0);
    // Four more runs, each killed while streaming; the next resumes from the target's position.
    for (let i = 0; i < 4; i++) {
      const streamingSoFar = phases().filter((p) => p.phase === 'streaming').length;
      child = run();
      await waitFor('streaming', () => phases().filter((p) => p.phase === 'streaming').length > streamingSoFar, 60_000);
      const before = writes.rounds();
      await waitFor('writes', () => writes.rounds() > before + 15 + 10 * i);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    child = run();
    await writes.stop();
    await expectIdentical(source, src, dst, replica);
    child.kill('SIGTERM');
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
    // One copy cut short, one complete; every later start resumed with PSYNC.
    expect(phases().filter((p) => p.phase === 'copying')).toHaveLength(2);
    expect(phases().filter((p) => p.phase === 'streaming' && /^resumed/.test(p.detail ?? ''))).toHaveLength(4);
    // Killed while the target loaded from it: the next start found the target a replica, and promoted it.
    const reclaimed = events().filter((e) => e.type === 'warning' && /still a replica of an interrupted --copy replication/.test(e.message ?? ''));
    expect(reclaimed).toHaveLength(copy === 'replication' ? 1 : 0);
  }, 240_000);
});
