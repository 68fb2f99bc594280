// What a sync may write on its target, against real servers: one sync per target (a lease, and a fencing
// token that stops the blocks of a sync that lost it), only the databases and keys its route can write,
// and no silent change of route between runs. Every case ends with the target compared with the source
// through the shared canonical dumper, unrelated keys untouched.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalDump } from './helpers/keyspace.js';
import { haveRedisServer, type RedisClient, type RedisServer } from './helpers/redis-server.js';
import { caughtUp, client, later, server, startSync, stopAll, syncedKeyspace, url, waitFor } from './helpers/sync-harness.js';

const live = haveRedisServer();
const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;
const SOURCE = ['--repl-diskless-sync-delay', '0'];

afterEach(stopAll);

interface CliSync {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  phases(): string[];
}

/** `redistap sync` as a process of its own, its JSON lines kept. */
function cliSync(src: RedisServer, dst: RedisServer, extra: string[] = []): CliSync {
  const child = spawn(process.execPath, [MAIN, 'sync', url(src), url(dst), '--json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    if (stderr) lines.push(JSON.stringify({ type: 'stderr', message: stderr }));
    resolve(code);
  }));
  later({ stop: () => { if (child.exitCode === null) child.kill('SIGKILL'); } });
  const events = () => lines.map((l) => JSON.parse(l) as { type: string; phase?: string });
  return { child, lines, exited, phases: () => events().filter((e) => e.type === 'phase').map((e) => e.phase!) };
}

async function incr(source: RedisClient, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await source.ok('INCR', 'w:count');
}

/** Canonical lines of one db, as if they were in db `as`. */
function dbLines(lines: string[], db: number, as = db): string[] {
  return lines.filter((l) => l.startsWith(`{"db":${db},`)).map((l) => l.replace(/^\{"db":\d+,/, `{"db":${as},`));
}

describe.skipIf(!live)('sync: one writer per target', () => {
  it('a second sync refuses a target held by a running one, naming it', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const first = startSync(src, dst).sync;
    await waitFor('streaming', () => first.status.phase === 'streaming');
    const second = startSync(src, dst).sync;
    await expect(second.done).rejects.toThrow(new RegExp(`another sync holds this target \\(pid ${process.pid} on .+, since \\d{4}-\\d\\d-\\d\\dT`));
    // The first is untouched by the refusal; stopped, it hands the target over at once.
    expect(first.status.phase).toBe('streaming');
    first.stop();
    await first.done;
    const third = startSync(src, dst).sync;
    await waitFor('streaming', () => third.status.phase === 'streaming');
  }, 60_000);

  it('a target that is a read-only replica is refused, before anything is written to it', async () => {
    const [src, upstream] = await Promise.all([server(SOURCE), server()]);
    const dst = await server(['--replicaof', '127.0.0.1', String(upstream.port)]);
    const s = startSync(src, dst).sync;
    await expect(s.done).rejects.toThrow(/the target is a read-only replica \(it refused the sync's lease: READONLY\): sync into a master/);
  }, 60_000);

  it('a sync frozen past its lease is fenced: the one that took over applies every write once, the woken one none', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const target = await client(dst);
    const a = cliSync(src, dst, ['--lease', '1']);
    await waitFor('A streaming', () => a.phases().includes('streaming'));
    await incr(source, 100);
    await caughtUp(source, [target]);
    a.child.kill('SIGSTOP');
    // Written while A is frozen: A's source link holds them, unread.
    await incr(source, 100);
    await waitFor('A\'s lease to end', async () => (await target.call('EXISTS', `redistap:checkpoint:127.0.0.1:${src.port}:lease`)) === 0, 10_000);
    const b = cliSync(src, dst, ['--lease', '1']);
    await waitFor('B streaming', () => b.phases().includes('streaming'));
    await incr(source, 100);
    await caughtUp(source, [target]);
    a.child.kill('SIGCONT');
    // A reads what it missed and sends it: the target refuses every block, A finds B holding the target and stops.
    await waitFor('the woken sync to stop', () => a.child.exitCode !== null, 30_000);
    expect(a.child.exitCode).toBe(2);
    await a.exited;
    expect(a.lines.join('\n')).toMatch(new RegExp(`another sync holds this target \\(pid ${b.child.pid} on `));
    await incr(source, 100);
    await caughtUp(source, [target]);
    expect(String(await target.call('GET', 'w:count'))).toBe('400');
    expect(syncedKeyspace(dst.port)).toEqual(syncedKeyspace(src.port));
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 120_000);
});

describe.skipIf(!live)('sync: what it owns on the target', () => {
  it('the source\'s SWAPDB, FLUSHDB and FLUSHALL pass through; the sync keeps its keys in db 0 and goes on without a restart', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const target = await client(dst);
    const { sync: s, events } = startSync(src, dst);
    await waitFor('streaming', () => s.status.phase === 'streaming');
    const fill = async (round: number) => {
      for (const db of [0, 1, 2]) {
        await source.ok('SELECT', db);
        for (let i = 0; i < 10; i++) await source.ok('SET', `k:${db}:${i}`, `round ${round}`);
      }
      await source.ok('SELECT', 0);
    };
    await fill(1);
    await source.ok('SWAPDB', 0, 1);
    await fill(2);
    await source.ok('SELECT', 2);
    await source.ok('FLUSHDB');
    await source.ok('SELECT', 0);
    await caughtUp(source, [target]);
    expect(syncedKeyspace(dst.port)).toEqual(syncedKeyspace(src.port));
    await source.ok('FLUSHALL');
    await fill(3);
    await caughtUp(source, [target]);
    expect(syncedKeyspace(dst.port)).toEqual(syncedKeyspace(src.port));
    // The sync's own keys (state, owner, lease) are in db 0 only, and nothing made it start over.
    const own = canonicalDump(dst.port).filter((l) => l.includes('"key":"redistap:')).map((l) => (JSON.parse(l) as { db: number; key: string }));
    expect(own.map((k) => `${k.db} ${k.key}`).sort()).toEqual(['', ':lease', ':owner'].map((end) => `0 redistap:checkpoint:127.0.0.1:${src.port}${end}`));
    expect(s.status.restarts).toBe(0);
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  }, 60_000);

  it('--db-map 0:5 alone owns target db 5 only: --resync deletes there and nowhere else', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const target = await client(dst);
    for (let i = 0; i < 50; i++) await source.ok('SET', `k:${i}`, `v${i}`);
    await source.ok('SELECT', 7);
    await source.ok('SET', 'source-db7', 'not synced');
    await target.ok('SET', 'mine-db0', 'untouched');
    await target.ok('SELECT', 7);
    await target.ok('SET', 'mine-db7', 'untouched');
    await target.ok('SELECT', 5);
    await target.ok('SET', 'stale', 'deleted by --resync');
    await target.ok('SELECT', 0);
    const unrelated = [...dbLines(syncedKeyspace(dst.port), 0), ...dbLines(syncedKeyspace(dst.port), 7)];
    const refused = startSync(src, dst, { dbMap: new Map([[0, 5]]) }).sync;
    await expect(refused.done).rejects.toThrow(/already holds keys where this sync would write \(db 5, e\.g\. "stale"\)/);
    const { sync: s } = startSync(src, dst, { dbMap: new Map([[0, 5]]), resync: true });
    await waitFor('streaming', () => s.status.phase === 'streaming');
    await source.ok('SET', 'w:written-in-db7', 'not synced');
    await source.ok('SELECT', 0);
    await caughtUp(source, [await client({ port: dst.port }).then(async (c) => { await c.ok('SELECT', 5); return c; })]);
    const copy = syncedKeyspace(dst.port);
    expect(dbLines(copy, 5)).toEqual(dbLines(syncedKeyspace(src.port), 0, 5));
    expect([...dbLines(copy, 0), ...dbLines(copy, 7)]).toEqual(unrelated);
  }, 60_000);

  it('XGROUP (a container command: its key is in its subcommand\'s entry) follows --prefix and --rename', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const target = await client(dst);
    await source.ok('XADD', 'a:s', '1-1', 'f', 'v');
    await source.ok('XADD', 'c:s', '1-1', 'f', 'v');
    const renamed = { prefixes: ['a:'], rename: { pattern: /^a:/, replacement: 'b:' } };
    const { sync: s, events } = startSync(src, dst, renamed);
    await waitFor('streaming', () => s.status.phase === 'streaming');
    await source.ok('XGROUP', 'CREATE', 'a:s', 'g', '0');
    await source.ok('XGROUP', 'CREATE', 'c:s', 'other', '0');
    await source.ok('XGROUP', 'CREATE', 'c:new', 'other', '$', 'MKSTREAM');
    await source.ok('SET', 'a:marker', '1');
    await waitFor('the marker', async () => (await target.call('EXISTS', 'b:marker')) === 1);
    const want = syncedKeyspace(src.port).filter((l) => l.includes('"key":"a:')).map((l) => l.replace('"key":"a:', '"key":"b:'));
    expect(want.some((l) => l.includes('"name":"g"'))).toBe(true);
    expect(syncedKeyspace(dst.port)).toEqual(want);
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  }, 60_000);

  it('a run with another selection refuses, saying what changed; --resync deletes what each wrote and copies again', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const target = await client(dst);
    for (let i = 0; i < 40; i++) await source.ok('SET', `a:${i}`, `v${i}`);
    for (let i = 0; i < 10; i++) await source.ok('SET', `c:${i}`, `v${i}`);
    await target.ok('SET', 'other:keep', 'not ours');
    const first = startSync(src, dst, { prefixes: ['a:'] }).sync;
    await waitFor('streaming', () => first.status.phase === 'streaming');
    first.stop();
    await first.done;
    const afterFirst = syncedKeyspace(dst.port);
    const renamed = { prefixes: ['a:'], rename: { pattern: /^a:/, replacement: 'b:' } };
    const refused = startSync(src, dst, renamed).sync;
    await expect(refused.done).rejects.toThrow(/another selection: --rename was none, now \{"from":"a:","to":"b:"\}.*--resync to delete what the earlier run wrote \(keys starting with "a:" of every database\) and what this one writes \(keys starting with "a:" of every database, "a:" renamed "b:"\)/);
    expect(syncedKeyspace(dst.port)).toEqual(afterFirst);
    const { sync: again } = startSync(src, dst, { ...renamed, resync: true });
    await waitFor('streaming', () => again.status.phase === 'streaming');
    await source.ok('SET', 'a:late', 'written after the copy');
    await waitFor('a:late', async () => (await target.call('EXISTS', 'b:late')) === 1);
    const want = syncedKeyspace(src.port).filter((l) => l.includes('"key":"a:')).map((l) => l.replace('"key":"a:', '"key":"b:'));
    expect(syncedKeyspace(dst.port)).toEqual([...want, '{"db":0,"key":"other:keep","type":"string","expire_ms":null,"value":"not ours"}'].sort());
  }, 60_000);

  it('a run with another transform hook (or none) refuses, naming both; the hook is required to have a name', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    for (let i = 0; i < 20; i++) await source.ok('SET', `k:${i}`, `v${i}`);
    expect(() => startSync(src, dst, { transform: (item) => item })).toThrow(/a transform hook needs a transformName/);
    const first = startSync(src, dst, { transform: (item) => item, transformName: 'keep all v1' }).sync;
    await waitFor('streaming', () => first.status.phase === 'streaming');
    first.stop();
    await first.done;
    const afterFirst = syncedKeyspace(dst.port);
    expect(afterFirst).toEqual(syncedKeyspace(src.port));
    const renamed = startSync(src, dst, { transform: (item) => item, transformName: 'keep all v2' }).sync;
    await expect(renamed.done).rejects.toThrow(/another selection: the transform hook was "keep all v1", now "keep all v2"/);
    const without = startSync(src, dst).sync;
    await expect(without.done).rejects.toThrow(/another selection: the transform hook was "keep all v1", now null/);
    expect(syncedKeyspace(dst.port)).toEqual(afterFirst);
  }, 60_000);
});
