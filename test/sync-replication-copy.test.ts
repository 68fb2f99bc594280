// `sync` with `copy: 'replication'` against real servers: the target is made a replica of the sync for
// the copy, loads the source's snapshot with its own replica code, and is promoted back before the writes
// follow. Each case ends with the target's keyspace equal to the source's and a real replica's, and the
// target a master again; and what this way of copying refuses is refused before anything is lost.
import { afterEach, describe, expect, it } from 'vitest';
import { populateMixed } from './helpers/mixed-data.js';
import { haveRedisServer, sharedTool, type RedisClient } from './helpers/redis-server.js';
import { caughtUp, client, realReplica, server, startSync, stopAll, syncedKeyspace, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { writeThroughCopy } from './helpers/sync-workload.js';

const live = haveRedisServer();
const SOURCE = ['--repl-diskless-sync-delay', '0'];
const LIBRARY = "#!lua name=copied\nredis.register_function('one', function() return 1 end)";

afterEach(stopAll);

async function role(target: RedisClient): Promise<string> {
  return String(await target.info('replication', 'role'));
}

describe.skipIf(!live)('sync --copy replication', () => {
  it('the target loads the snapshot as a replica, is promoted, then applies the writes; keyspaces identical', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const target = await client(dst);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    await source.ok('SELECT', 4);
    await populateMixed(source, 12, 3);
    await source.ok('SELECT', 0);
    await source.ok('FUNCTION', 'LOAD', LIBRARY);
    const replica = await realReplica(src);
    const { sync: s, events } = startSync(src, dst, { copy: 'replication' });
    await writeThroughCopy(source, s, events, 200);
    await caughtUp(source, [target, await client(replica)]);
    const copy = withoutEntriesRead(syncedKeyspace(dst.port));
    expect(copy.length).toBeGreaterThan(7_000);
    expect(copy).toEqual(withoutEntriesRead(syncedKeyspace(replica.port)));
    expect(copy).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
    expect(events.some((e) => e.type === 'phase' && /through the target's replication link/.test(e.detail))).toBe(true);
    expect(await role(target)).toBe('master');
    // The snapshot went as the source wrote it: function libraries too (RESTORE copies keys only).
    expect(String(await target.ok('FCALL', 'one', 0))).toBe('1');
  }, 120_000);

  it('stopped during the copy: the target is a master again; the next sync copies again', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const target = await client(dst);
    await populateMixed(source, 13, 2);
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 200); // a snapshot that lasts
    const first = startSync(src, dst, { copy: 'replication' }).sync;
    await waitFor('the target to load from us', async () => first.status.copy.rdbBytes > 0 && (await role(target)) === 'slave');
    first.stop();
    await first.done;
    expect(await role(target)).toBe('master');
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 0);
    const { sync: again, events } = startSync(src, dst, { copy: 'replication' });
    await writeThroughCopy(source, again, events, 50);
    await caughtUp(source, [target]);
    expect(withoutEntriesRead(syncedKeyspace(dst.port))).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
    expect(await role(target)).toBe('master');
  }, 120_000);

  it('the target restarted while it loads from us: the sync starts over and copies again', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server(['--appendonly', 'yes'])]);
    const source = await client(src);
    await populateMixed(source, 15, 2);
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 200); // a snapshot that lasts
    const { sync: s, events } = startSync(src, dst, { copy: 'replication', reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    await waitFor('the target to load from us', () => s.status.copy.rdbBytes > 0);
    const restarted = await dst.restart();
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 0);
    await waitFor('streaming', () => s.status.phase === 'streaming' || s.status.phase === 'failed', 60_000);
    expect(s.status.phase).toBe('streaming');
    expect(s.status.restarts).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'phase' && e.phase === 'copying').length).toBeGreaterThanOrEqual(2);
    const target = await client(restarted);
    await caughtUp(source, [target]);
    expect(withoutEntriesRead(syncedKeyspace(restarted.port))).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
    expect(await role(target)).toBe('master');
  }, 90_000);

  it('status says when the snapshot is sent and the target is loading it', async () => {
    // A target that takes 2 ms a key to load: 1,000 keys last 2 s.
    const [src, dst] = await Promise.all([server(SOURCE), server(['--key-load-delay', '2000'])]);
    const source = await client(src);
    await source.ok('MSET', ...Array.from({ length: 1000 }, (_, i) => [`k${i}`, `v${i}`]).flat());
    const { sync: s } = startSync(src, dst, { copy: 'replication' });
    await waitFor('the target loading', () => s.status.copy.targetLoading || (s.status.phase !== 'connecting' && s.status.phase !== 'copying'));
    expect(s.status).toMatchObject({ phase: 'copying', copy: { targetLoading: true, keys: 0 } });
    expect(s.status.copy.rdbBytes).toBeGreaterThan(10_000);
    await waitFor('streaming', () => s.status.phase === 'streaming', 30_000);
    expect(s.status.copy).toMatchObject({ targetLoading: false, keys: 1000 });
  }, 60_000);

  it('a source slow to begin its snapshot: newlines keep the target (repl-timeout 2) waiting, as a master does', async () => {
    // A source that saves the snapshot to disk before it sends a byte, and takes 4 s to save it.
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync', 'no']), server(['--repl-timeout', '2'])]);
    const source = await client(src);
    const target = await client(dst);
    await source.ok('MSET', ...Array.from({ length: 400 }, (_, i) => [`k${i}`, `v${i}`]).flat());
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 10_000);
    // A short lease: the sync leaves it unrenewed while the target, a read-only replica of ours, waits.
    const { sync: s, events } = startSync(src, dst, { copy: 'replication', leaseMs: 600 });
    await waitFor('streaming', () => s.status.phase === 'streaming' || s.status.phase === 'failed', 30_000);
    expect(events.filter((e) => e.type !== 'phase' || e.phase === 'failed')).toEqual([]);
    await caughtUp(source, [target]);
    expect(withoutEntriesRead(syncedKeyspace(dst.port))).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
  }, 60_000);

  it('refuses filters and renames, a target holding keys it does not own, and a target without REPLICAOF', async () => {
    const [src, dst, locked] = await Promise.all([server(SOURCE), server(), server(['--rename-command', 'REPLICAOF', 'REPLICAOF_OFF'])]);
    const source = await client(src);
    const target = await client(dst);
    await source.ok('SET', 'k', 'v');
    expect(() => startSync(src, dst, { copy: 'replication', prefixes: ['k'] })).toThrow(/--copy replication copies the whole dataset as it is: it cannot be combined with/);
    await target.ok('SET', 'redistap:checkpoint:another-source', 'not this sync\'s');
    const crowded = startSync(src, dst, { copy: 'replication' }).sync;
    await expect(crowded.done).rejects.toThrow(/replaces the target's whole dataset, and it holds 1 key\(s\) this sync does not own/);
    expect(String(await target.call('GET', 'redistap:checkpoint:another-source'))).toBe('not this sync\'s');
    expect(await role(target)).toBe('master');
    const refused = startSync(src, locked, { copy: 'replication' }).sync;
    await expect(refused.done).rejects.toThrow(/the target refused REPLICAOF, which --copy replication needs \(ERR unknown command 'REPLICAOF'.*use --copy restore/);
    // A writable replica of another server is not taken over.
    const other = await server();
    const follower = await server(['--replicaof', '127.0.0.1', String(other.port), '--replica-read-only', 'no']);
    const taken = startSync(src, follower, { copy: 'replication' }).sync;
    await expect(taken.done).rejects.toThrow(`the target is a replica of 127.0.0.1:${other.port}`);
    expect(String(await (await client(follower)).info('replication', 'master_port'))).toBe(String(other.port));
  }, 60_000);
});
