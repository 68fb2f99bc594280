// `redistap tail redis+sentinel://...` SIGKILLed, and restarted while the master it followed is dead and
// the sentinels (three real ones, Debian's redis-sentinel) have not failed it over yet: tail waits for
// the master they promote and continues there with PSYNC, each write once in -o FILE, in order.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { readLines } from './helpers/cluster-lines.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { haveRedisSentinel, startSentinels } from './helpers/redis-sentinel.js';
import { waitFor } from './helpers/sync-harness.js';

const live = haveRedisServer() && haveRedisSentinel();
const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (stops.length) await stops.pop()!();
});

describe.skipIf(!live)('tail through Redis Sentinel under faults', () => {
  it('killed, then restarted while its master is dead and not yet failed over: it waits for the promoted one and continues with PSYNC', async () => {
    const started = async (extra: string[]) => {
      const s = await startRedisServer(['--repl-diskless-sync-delay', '0', ...extra]);
      stops.push(() => s.stop());
      return s;
    };
    const a: RedisServer = await started([]);
    const b: RedisServer = await started(['--replicaof', '127.0.0.1', String(a.port)]);
    const ca = await RedisClient.connect(a.port);
    const cb = await RedisClient.connect(b.port);
    await waitFor('the replica\'s link', async () => (await cb.info('replication', 'master_link_status')) === 'up');
    cb.close();
    stops.push(() => ca.close());
    const sentinels = await startSentinels(a.port);
    stops.push(() => sentinels.stop());
    // They fail the master over only when told to (SENTINEL FAILOVER), not once it is down: the restart
    // below finds it dead and still named by them.
    for (const port of sentinels.ports) {
      const s = await RedisClient.connect(port);
      await s.ok('SENTINEL', 'SET', 'mymaster', 'down-after-milliseconds', '600000');
      s.close();
    }
    const dir = mkdtempSync(join(tmpdir(), 'redistap-sentinel-faults-'));
    stops.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'changes.jsonl');
    const checkpoint = join(dir, 'tail.pos');
    const args = ['tail', sentinels.url, '-o', file, '--checkpoint', checkpoint, '--no-rdb'];
    const runs: CliProcess[] = [];
    stops.push(() => { for (const run of runs) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL'); });
    const writes = async (c: RedisClient, tag: string, replicas: number) => {
      for (let i = 0; i < 50; i++) await c.ok('SET', `${tag}:${i}`, `${i}`);
      expect(await c.ok('WAIT', replicas, 10_000)).toBe(replicas);
    };
    const covered = () => { try { return (JSON.parse(readFileSync(checkpoint, 'utf8')) as { output?: { bytes: number } }).output?.bytes; } catch { return -1; } };
    const sets = () => readLines(file).filter((l) => l.cmd?.[0] === 'SET');

    const first = cli(args);
    runs.push(first);
    await waitFor('the full sync', () => first.err().includes('full sync done'));
    await writes(ca, 'a', 2);
    // Killed once its checkpoint covers them.
    await waitFor('the writes in FILE and its checkpoint', () => sets().length === 50 && covered() === statSync(file).size);
    first.child.kill('SIGKILL');
    await first.exit;
    // Written while tail is down, on b too; then the master is killed.
    await writes(ca, 'b', 1);
    a.process.kill('SIGKILL');
    await new Promise((resolve) => a.process.once('exit', resolve));

    const second = cli(args);
    runs.push(second);
    // It tries the master the sentinels name, and waits (before the fix: exit 2, 'cannot connect to' it).
    await waitFor('the dead master tried', () => second.child.exitCode !== null || new RegExp(`link down: .*127\\.0\\.0\\.1:${a.port}`).test(second.err()));
    expect(second.child.exitCode, second.err()).toBeNull();
    const s = await RedisClient.connect(sentinels.ports[0]!);
    await s.ok('SENTINEL', 'FAILOVER', 'mymaster');
    s.close();
    // The promoted server's clients are killed by the sentinels (CLIENT KILL TYPE normal): asked afresh.
    await waitFor('b promoted', () => sentinels.masterPort().then((port) => port === b.port, () => false), 60_000);
    const promoted = await RedisClient.connect(b.port);
    stops.push(() => promoted.close());
    await waitFor('b a master', async () => (await promoted.info('replication', 'role')) === 'master');
    await writes(promoted, 'c', 1);
    await waitFor('every write in FILE', () => sets().length === 150, 60_000);
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);

    const all = readLines(file);
    expect(all.filter((l) => l.event === 'full-sync-start')).toHaveLength(1);
    expect(second.err()).not.toMatch(/full sync/);
    expect(all.filter((l) => l.event === 'replid-changed')).toHaveLength(1);
    expect(sets().map((l) => l.cmd![1])).toEqual(['a', 'b', 'c'].flatMap((tag) => Array.from({ length: 50 }, (_, i) => `${tag}:${i}`)));
    expect(second.err()).toContain(`connected to 127.0.0.1:${b.port}`);
  }, 120_000);
});
