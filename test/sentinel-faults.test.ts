// `redistap tail redis+sentinel://...` and `publish`, SIGKILLed, and restarted while the master they
// followed is dead and the sentinels (three real ones, Debian's redis-sentinel) have not failed it over
// yet: each waits for the master the sentinels promote and continues there with PSYNC, each write once,
// in order (tail's -o FILE; publish's Redis stream).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { readLines } from './helpers/cluster-lines.js';
import { readEventStream } from './helpers/event-consumer.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { haveRedisSentinel, startSentinels, type Sentinels } from './helpers/redis-sentinel.js';
import { waitFor } from './helpers/sync-harness.js';

const live = haveRedisServer() && haveRedisSentinel();
const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (stops.length) await stops.pop()!();
});

/** The CLI, SIGKILLed after the test if it still runs. */
function start(args: string[]): CliProcess {
  const run = cli(args);
  stops.push(() => { if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL'); });
  return run;
}

/**
 * A master a (with a client), its replica b, and three sentinels that fail a over only when told to
 * (SENTINEL FAILOVER), not once it is down: a restart finds it dead and still named by them.
 */
async function servers(): Promise<{ a: RedisServer; b: RedisServer; ca: RedisClient; sentinels: Sentinels }> {
  const started = async (extra: string[]) => {
    const s = await startRedisServer(['--repl-diskless-sync-delay', '0', ...extra]);
    stops.push(() => s.stop());
    return s;
  };
  const a = await started([]);
  const b = await started(['--replicaof', '127.0.0.1', String(a.port)]);
  const ca = await RedisClient.connect(a.port);
  stops.push(() => ca.close());
  const cb = await RedisClient.connect(b.port);
  await waitFor('the replica\'s link', async () => (await cb.info('replication', 'master_link_status')) === 'up');
  cb.close();
  const sentinels = await startSentinels(a.port);
  stops.push(() => sentinels.stop());
  for (const port of sentinels.ports) {
    const s = await RedisClient.connect(port);
    await s.ok('SENTINEL', 'SET', 'mymaster', 'down-after-milliseconds', '600000');
    s.close();
  }
  return { a, b, ca, sentinels };
}

/** 50 SETs <tag>:i, on `replicas` replicas too (WAIT) before anything is killed. */
async function writes(c: RedisClient, tag: string, replicas: number): Promise<void> {
  for (let i = 0; i < 50; i++) await c.ok('SET', `${tag}:${i}`, `${i}`);
  expect(await c.ok('WAIT', replicas, 10_000)).toBe(replicas);
}

/**
 * a killed; `restarted` started then; it tries the dead master and waits (before the fixes: exit 2,
 * 'cannot connect to' it); the sentinels told to fail over: b promoted. A client of b (the sentinels kill
 * the promoted server's clients, so asked afresh).
 */
async function restartWhileDead(a: RedisServer, b: RedisServer, sentinels: Sentinels, restart: () => CliProcess): Promise<{ run: CliProcess; promoted: RedisClient }> {
  a.process.kill('SIGKILL');
  await new Promise((resolve) => a.process.once('exit', resolve));
  const run = restart();
  await waitFor('the dead master tried', () => run.child.exitCode !== null || new RegExp(`127\\.0\\.0\\.1:${a.port}.*(reconnecting|again) in`).test(run.err() + run.lines.join('\n')));
  expect(run.child.exitCode, run.err()).toBeNull();
  const s = await RedisClient.connect(sentinels.ports[0]!);
  await s.ok('SENTINEL', 'FAILOVER', 'mymaster');
  s.close();
  await waitFor('b promoted', () => sentinels.masterPort().then((port) => port === b.port, () => false), 60_000);
  const promoted = await RedisClient.connect(b.port);
  stops.push(() => promoted.close());
  await waitFor('b a master', async () => (await promoted.info('replication', 'role')) === 'master');
  return { run, promoted };
}

const expectedKeys = (tags: string[]) => tags.flatMap((tag) => Array.from({ length: 50 }, (_, i) => `${tag}:${i}`));

describe.skipIf(!live)('tail and publish through Redis Sentinel under faults', () => {
  // With a filter, tail reads the master's command table before it follows the master.
  it.each([[[]], [['--command', 'set']]])('tail -o FILE %j killed, then restarted while its master is dead and not yet failed over: it waits for the promoted one and continues with PSYNC', async (filter: string[]) => {
    const { a, b, ca, sentinels } = await servers();
    const dir = mkdtempSync(join(tmpdir(), 'redistap-sentinel-faults-'));
    stops.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'changes.jsonl');
    const checkpoint = join(dir, 'tail.pos');
    const args = ['tail', sentinels.url, '-o', file, '--checkpoint', checkpoint, '--no-rdb', ...filter];
    const covered = () => { try { return (JSON.parse(readFileSync(checkpoint, 'utf8')) as { output?: { bytes: number } }).output?.bytes; } catch { return -1; } };
    const sets = () => readLines(file).filter((l) => l.cmd?.[0] === 'SET');

    const first = start(args);
    await waitFor('the full sync', () => first.err().includes('full sync done'));
    await writes(ca, 'a', 2);
    // Killed once its checkpoint covers them.
    await waitFor('the writes in FILE and its checkpoint', () => sets().length === 50 && covered() === statSync(file).size);
    first.child.kill('SIGKILL');
    await first.exit;
    await writes(ca, 'b', 1); // while tail is down, on b too

    const { run: second, promoted } = await restartWhileDead(a, b, sentinels, () => start(args));
    await writes(promoted, 'c', 1);
    await waitFor('every write in FILE', () => sets().length === 150, 60_000);
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);

    const all = readLines(file);
    expect(all.filter((l) => l.event === 'full-sync-start')).toHaveLength(1);
    expect(second.err()).not.toMatch(/full sync/);
    expect(all.filter((l) => l.event === 'replid-changed')).toHaveLength(1);
    expect(sets().map((l) => l.cmd![1])).toEqual(expectedKeys(['a', 'b', 'c']));
    expect(second.err()).toContain(`connected to 127.0.0.1:${b.port}`);
  }, 120_000);

  it('publish into a Redis stream killed, then restarted while its master is dead and not yet failed over: it waits, then continues with PSYNC', async () => {
    const { a, b, ca, sentinels } = await servers();
    const target = await startRedisServer();
    stops.push(() => target.stop());
    const args = ['publish', sentinels.url, `redis://127.0.0.1:${target.port}?stream=ev`, '--json'];
    const reader = await RedisClient.connect(target.port);
    stops.push(() => reader.close());
    const events = async () => (await readEventStream(reader, 'ev')).events;
    const sets = async () => (await events()).filter((e) => e.event === 'write' && e.command === 'set').map((e) => String((e.keys as unknown[])[0]));

    const first = start(args);
    await waitFor('streaming', () => first.lines.some((l) => l.includes('"phase":"streaming"')));
    await writes(ca, 'a', 2);
    await waitFor('the writes in the stream', async () => (await sets()).length === 50);
    first.child.kill('SIGKILL');
    await first.exit;
    await writes(ca, 'b', 1);

    const { run: second, promoted } = await restartWhileDead(a, b, sentinels, () => start(args));
    await writes(promoted, 'c', 1);
    await waitFor('every write in the stream', async () => (await sets()).length === 150, 60_000);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);

    const all = await events();
    expect(all.filter((e) => e.event === 'full-sync-start')).toHaveLength(1);
    expect(all.filter((e) => e.event === 'replid-changed')).toHaveLength(1);
    expect(await sets()).toEqual(expectedKeys(['a', 'b', 'c']));
  }, 120_000);
});
