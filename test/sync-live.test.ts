// `sync` against real servers: a source and a target redis-server started here. Each case ends, once
// writes have stopped and a marker written last has reached the target, with the target's keyspace
// (the shared canonical dumper's lines, the sync's state key aside) equal to the source's and to that of
// a real replica of the source.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { populateMixed } from './helpers/mixed-data.js';
import { haveRedisServer, sharedTool } from './helpers/redis-server.js';
import { syncedKeyspace, caughtUp, client, libraries, realReplica, server, startSync, stopAll, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { writeRound, writeThroughCopy } from './helpers/sync-workload.js';

const live = haveRedisServer();

afterEach(stopAll);

describe.skipIf(!live)('sync into a live target', () => {
  it('copies a snapshot with writes during and after the copy; the keyspaces end identical', async () => {
    const [src, dst] = await Promise.all([server(), server()]);
    const source = await client(src);
    const target = await client(dst);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    await source.ok('SELECT', 4);
    await populateMixed(source, 11, 3);
    await source.ok('SELECT', 0);
    // The writes below touch only w:* keys: every key there before the sync is still there at the end.
    const before = syncedKeyspace(src.port);
    expect(before.length).toBeGreaterThan(0);
    const replica = await realReplica(src);
    const { sync: s, events } = startSync(src, dst);
    await writeThroughCopy(source, s, events, 200);
    await caughtUp(source, [target, await client(replica)]);
    const copy = syncedKeyspace(dst.port);
    expect(copy).toEqual(expect.arrayContaining(before.filter((line) => !line.includes('"key":"w:'))));
    expect(withoutEntriesRead(copy)).toEqual(withoutEntriesRead(syncedKeyspace(replica.port)));
    expect(withoutEntriesRead(copy)).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
    expect(s.status.applied.commands).toBeGreaterThan(1000);
    // The populate tool's function libraries came with the snapshot (FUNCTION LOAD written by the core).
    expect((await libraries(source))!.length).toBeGreaterThan(0);
    expect(await libraries(target)).toEqual(await libraries(source));
  }, 120_000);
});

/**
 * Other server builds, by hand: REDISTAP_SYNC_SERVERS=path,... runs a source and a target of each build;
 * an entry `source-path>target-path` syncs from one build into another (an older target gets values
 * re-encoded). Hash field TTLs are written when both have them (Redis ≥ 7.4, Valkey ≥ 9.0).
 * REDISTAP_SYNC_COPY=replication copies through the target's replication link instead of RESTORE.
 */
const COPY = process.env.REDISTAP_SYNC_COPY === 'replication' ? 'replication' : 'restore';
const OTHER_SERVERS = (process.env.REDISTAP_SYNC_SERVERS ?? '').split(',').filter(Boolean).map((entry) => {
  const [from, to = from] = entry.split('>') as [string, string?];
  return { from, to };
});

function hasFieldTtls(info: string): boolean {
  return /valkey_version:(9|\d\d)\./.test(info) || (!/valkey_version/.test(info) && /redis_version:(7\.[4-9]|[89]\.|\d\d)/.test(info));
}

/** Lines of two server versions made comparable: every expire time a mark (compared within 2 s apart), no field TTLs unless kept. */
function acrossVersions(lines: string[], fieldTtls: boolean): string[] {
  return lines.map((l) => {
    const line = l.replace(/"expire_ms":\d+(,"expire_approx":true)?/, '"expire_ms":"~"');
    return fieldTtls ? line : line.replace(/,"field_expire_ms":\[\[.*?\]\]/, '');
  });
}

describe.skipIf(!live || OTHER_SERVERS.length === 0).each(OTHER_SERVERS)('sync from $from into $to', ({ from, to }) => {
  it('writes of every type during and after the copy, hash field TTLs included where both have them', async () => {
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync-delay', '0'], from), server([], to)]);
    const source = await client(src);
    const target = await client(dst);
    const [sourceInfo, targetInfo] = [String(await source.ok('INFO', 'server')), String(await target.ok('INFO', 'server'))];
    const fieldTtls = hasFieldTtls(targetInfo);
    // The dumper shows a stream's RDB 10 members only where both servers have them.
    const legacy = [sourceInfo, targetInfo].some((info) => /redis_version:[1-6]\./.test(info) && !/valkey_version/.test(info));
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    const replica = await realReplica(src, from);
    const { sync: s, events } = startSync(src, dst, { copy: COPY });
    // Field TTL writes go to a target without them too (HSETEX as HSET, TTL-only commands left out).
    const fieldTtlWrites = hasFieldTtls(sourceInfo);
    await writeThroughCopy(source, s, events, 100, fieldTtlWrites);
    await caughtUp(source, [target, await client(replica)]);
    const copy = withoutEntriesRead(syncedKeyspace(dst.port, legacy));
    const origin = withoutEntriesRead(syncedKeyspace(src.port, legacy));
    expect(acrossVersions(copy, fieldTtls)).toEqual(acrossVersions(withoutEntriesRead(syncedKeyspace(replica.port, legacy)), fieldTtls));
    expect(acrossVersions(copy, fieldTtls)).toEqual(acrossVersions(origin, fieldTtls));
    // Before 7.0 a relative TTL is replicated as it was given (SET ... PX), so every replica's expire
    // time starts when the write reaches it; and the dumper computes times from PTTL. Within 2 s, then.
    copy.forEach((line, i) => {
      const expireOf = (l: string) => Number(/"expire_ms":(\d+)/.exec(l)?.[1] ?? 0);
      expect(Math.abs(expireOf(line) - expireOf(origin[i]!))).toBeLessThan(2000);
    });
    const sourceHasFieldTtls = origin.some((l) => l.includes('"field_expire_ms"'));
    if (fieldTtls) expect(copy.some((l) => l.includes('"field_expire_ms"'))).toBe(sourceHasFieldTtls);
    const warnings = events.filter((e) => e.type === 'warning').map((e) => e.message);
    const [sourceLibraries, targetLibraries] = [await libraries(source), await libraries(target)];
    const librariesLost = targetLibraries === null && (sourceLibraries?.length ?? 0) > 0;
    expect(warnings).toEqual([
      ...(sourceHasFieldTtls && !fieldTtls ? [expect.stringMatching(/hash\(es\) copied without their field TTLs/)] : []),
      ...(librariesLost ? [expect.stringMatching(/^\d+ function librar(y|ies) of the snapshot not copied: the target has no functions/)] : []),
      ...(fieldTtlWrites && !fieldTtls ? [expect.stringMatching(/^HPEXPIREAT at offset \d+: the target has no hash field TTLs, so such writes go without them/)] : []),
    ]);
    if (targetLibraries !== null) expect(targetLibraries).toEqual(sourceLibraries ?? []);
  }, 120_000);
});

describe.skipIf(!live)('sync: what it refuses, and --resync', () => {
  it('refuses a target that already holds keys where it would write; --resync deletes them, keys outside stay', async () => {
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server()]);
    const source = await client(src);
    const target = await client(dst);
    await source.ok('SET', 'app:1', 'from the source');
    await target.ok('SET', 'app:stale', 'left over');
    await target.ok('SET', 'other:keep', 'not ours');
    const refused = startSync(src, dst, { prefixes: ['app:'] }).sync;
    await expect(refused.done).rejects.toThrow(/already holds keys where this sync would write \(db 0, e\.g\. "app:stale"\).*--resync/);
    const { sync: s } = startSync(src, dst, { prefixes: ['app:'], resync: true });
    await waitFor('streaming', () => s.status.phase === 'streaming');
    expect(await target.call('GET', 'app:stale')).toBeNull();
    expect(String(await target.call('GET', 'other:keep'))).toBe('not ours');
    expect(String(await target.call('GET', 'app:1'))).toBe('from the source');
  }, 60_000);

  it.each([
    ['as stored, written by the core', {}],
    ['re-encoded (a rename)', { rename: { pattern: /^/, replacement: 'r:' } }],
  ] as const)('a RESTORE the target refuses stops the copy and names the key (%s)', async (_how, options) => {
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server(['--rename-command', 'RESTORE', 'RESTORE_OFF'])]);
    const source = await client(src);
    await source.ok('RPUSH', 'only:key', 'a', 'b');
    const { sync: s } = startSync(src, dst, options);
    await expect(s.done).rejects.toThrow(/^the target refused to copy "(r:)?only:key": ERR unknown command 'RESTORE'/);
  }, 60_000);

  it.each([
    ['as stored, written by the core', {}, /^a value of the snapshot \(at byte offset \d+\) takes \d{7} bytes in one command/],
    ['re-encoded (a rename)', { rename: { pattern: /^/, replacement: 'r:' } }, /^key "r:big" \(db 0\) takes \d{7} bytes in one command/],
  ] as const)('a value longer than the target reads in one command stops the copy, saying so (%s)', async (_how, options, message) => {
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server(['--proto-max-bulk-len', '1mb'])]);
    const source = await client(src);
    await source.ok('SET', 'small', 'fits');
    await source.ok('SET', 'big', randomBytes(1_500_000).toString('base64')); // 2 MB that LZF cannot shrink
    const { sync: s } = startSync(src, dst, options);
    await expect(s.done).rejects.toThrow(message);
    await expect(s.done).rejects.toThrow(/more than the target accepts \(proto-max-bulk-len 1048576\): raise proto-max-bulk-len on the target, or use --copy replication$/);
    expect(s.status.restarts).toBe(0);
  }, 60_000);

  it('a write longer than the target reads in one command stops the sync, saying so', async () => {
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server(['--proto-max-bulk-len', '1mb'])]);
    const source = await client(src);
    const target = await client(dst);
    await source.ok('SET', 'before', 'fits');
    const { sync: s } = startSync(src, dst);
    await waitFor('streaming', () => s.status.phase === 'streaming');
    await source.ok('SET', 'small', 'applied');
    await waitFor('the small write', async () => String(await target.call('GET', 'small')) === 'applied');
    await source.ok('SET', 'big', 'x'.repeat(2_000_000));
    await expect(s.done).rejects.toThrow(/^SET at offset \d+ has an argument of 2000000 bytes, more than the target accepts \(proto-max-bulk-len 1048576\)/);
    expect(s.status.restarts).toBe(0);
    expect(await target.call('EXISTS', 'big')).toBe(0);
  }, 30_000);

  it.each([
    ['as stored, written by the core', {}, ''],
    ['re-encoded (a rename)', { rename: { pattern: /^/, replacement: 'r:' } }, 'r:'],
  ] as const)('each key\'s LFU counter reaches the target, as a replica keeps it (%s)', async (_how, options, prefix) => {
    // Counters that move by one per access and never decay: the source's are the oracle.
    const lfu = ['--maxmemory-policy', 'allkeys-lfu', '--lfu-log-factor', '0', '--lfu-decay-time', '0'];
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync-delay', '0', ...lfu]), server(lfu)]);
    const source = await client(src);
    const target = await client(dst);
    const keys = ['str', 'list', 'hash', 'set'];
    await source.ok('SET', 'str', 'v');
    await source.ok('RPUSH', 'list', 'a', 'b');
    await source.ok('HSET', 'hash', 'f', 'v');
    await source.ok('SADD', 'set', 'm');
    const access = ['GET', 'LLEN', 'HLEN', 'SCARD'];
    for (const [i, key] of keys.entries()) {
      for (let n = 0; n < 3 * i + 2; n++) await source.ok(access[i]!, key);
    }
    const { sync: s } = startSync(src, dst, options);
    await waitFor('streaming', () => s.status.phase === 'streaming');
    const counters = async (c: typeof source, at: string) => Promise.all(keys.map(async (k) => Number(await c.ok('OBJECT', 'FREQ', at + k))));
    const want = await counters(source, '');
    expect(new Set(want).size).toBe(keys.length);
    expect(await counters(target, prefix)).toEqual(want);
  }, 30_000);

  it('a source that restarted without its data cannot continue: the sync says so; --resync copies again', async () => {
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server()]);
    let source = await client(src);
    const target = await client(dst);
    for (let r = 0; r < 20; r++) await writeRound(source, r);
    const first = startSync(src, dst).sync;
    await waitFor('streaming', () => first.status.phase === 'streaming');
    await caughtUp(source, [target]);
    first.stop();
    await first.done;
    // Restarted without persistence: a new replication ID, an empty keyspace, then new writes.
    const restarted = await src.restart();
    source = await client(restarted);
    for (let r = 0; r < 10; r++) await writeRound(source, r);
    const refused = startSync(restarted, dst).sync;
    await expect(refused.done).rejects.toThrow(/the source cannot continue from the target's position.*--resync/);
    const { sync: again } = startSync(restarted, dst, { resync: true });
    await waitFor('streaming', () => again.status.phase === 'streaming');
    await caughtUp(source, [target]);
    expect(withoutEntriesRead(syncedKeyspace(dst.port))).toEqual(withoutEntriesRead(syncedKeyspace(restarted.port)));
  }, 60_000);
});

describe.skipIf(!live)('sync: choosing and moving keys', () => {
  it('--prefix, --rename and --db-map: the target holds the source\'s keys under the prefix, renamed, in the mapped db', async () => {
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server()]);
    const source = await client(src);
    const target = await client(dst);
    for (let r = 0; r < 30; r++) await writeRound(source, r);
    await source.ok('FUNCTION', 'LOAD', "#!lua name=moved\nredis.register_function('two', function() return 2 end)");
    await source.ok('SELECT', 1);
    await source.ok('SET', 'w:db1', 'db 1 is not synced');
    await source.ok('SELECT', 0);
    const { sync: s, events } = startSync(src, dst, {
      dbs: [0], dbMap: new Map([[0, 3]]), prefixes: ['w:'], rename: { pattern: /^w:/, replacement: 'moved:' },
    });
    await waitFor('streaming', () => s.status.phase === 'streaming');
    for (let r = 30; r < 80; r++) await writeRound(source, r);
    // Outside the prefix: not synced. Across the selection's edge, or into another database: reported, not applied.
    await source.ok('SET', 'elsewhere', 'x');
    await source.ok('RENAME', 'w:plain:79', 'elsewhere:79');
    await source.ok('MOVE', 'w:plain:5', 1);
    const marker = `m${Date.now()}`;
    await source.ok('SET', 'w:marker', marker);
    await target.ok('SELECT', 3);
    await waitFor('the marker', async () => String(await target.call('GET', 'moved:marker')) === marker);
    await new Promise((r) => setTimeout(r, 300));
    // The oracle: the source's own lines for db 0 under w:, renamed and moved by hand (not by our code).
    // The RENAME and the MOVE were not applied, so the target still has those keys where they were.
    const expected = syncedKeyspace(src.port)
      .filter((l) => l.startsWith('{"db":0,"key":"w:'))
      .map((l) => l.replace('{"db":0,"key":"w:', '{"db":3,"key":"moved:'))
      .concat('{"db":3,"key":"moved:plain:79","type":"string","expire_ms":null,"value":"value-79"}',
        '{"db":3,"key":"moved:plain:5","type":"string","expire_ms":null,"value":"value-5"}');
    expect(withoutEntriesRead(syncedKeyspace(dst.port)).sort()).toEqual(withoutEntriesRead(expected).sort());
    expect(events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message))
      .toEqual([expect.stringMatching(/^RENAME at offset \d+ not applied: it touches keys both inside and outside/),
        expect.stringMatching(/^MOVE at offset \d+ not applied: it names a database/)]);
    // Libraries are not keys: they come along (FUNCTION LOAD after the re-encoded keys).
    expect(await libraries(target)).toEqual(await libraries(source));
    expect(String(await target.ok('FCALL', 'two', 0))).toBe('2');
  }, 60_000);
});

describe.skipIf(!live)('sync: the transform hook (entries rebuilt, not copied as stored)', () => {
  it('a hook that renames keys and drops some: the target holds the source\'s keys changed as the hook says', async () => {
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server()]);
    const source = await client(src);
    const target = await client(dst);
    await populateMixed(source, 9);
    for (let r = 0; r < 30; r++) await writeRound(source, r);
    const te = new TextEncoder();
    const prefixed = (key: Uint8Array) => Uint8Array.from([...te.encode('t:'), ...key]);
    const dropped = (key: Uint8Array) => new TextDecoder().decode(key).startsWith('list:');
    const { sync: s, events } = startSync(src, dst, {
      transformName: "t-prefix-v1",
      transform: (item) => {
        if (item.kind === 'entry') return dropped(item.entry.key) ? null : { kind: 'entry', entry: { ...item.entry, key: prefixed(item.entry.key) } };
        // Writes: the workload's key is the first argument of every command it sends, and RENAME's second too.
        const args = [...item.args];
        if (args.length > 1) args[1] = prefixed(args[1]!);
        if (new TextDecoder().decode(args[0]).toLowerCase() === 'rename') args[2] = prefixed(args[2]!);
        return { ...item, args };
      },
    });
    await waitFor('streaming', () => s.status.phase === 'streaming');
    for (let r = 30; r < 60; r++) await writeRound(source, r);
    const marker = `m${Date.now()}`;
    await source.ok('SET', 'w:marker', marker);
    await waitFor('the marker', async () => String(await target.call('GET', 't:w:marker')) === marker);
    await new Promise((r) => setTimeout(r, 300));
    // The oracle: the source's own lines, with keys prefixed and list:* left out by hand.
    const expected = syncedKeyspace(src.port)
      .filter((l) => !l.includes('"key":"list:'))
      .map((l) => l.replace(/^\{"db":(\d+),"key":"/, '{"db":$1,"key":"t:'));
    expect(withoutEntriesRead(syncedKeyspace(dst.port)).sort()).toEqual(withoutEntriesRead(expected).sort());
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  }, 60_000);
});
