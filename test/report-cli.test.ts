// `redistap report --json` and `parse --format csv|keys` on a dump written by a live redis-server: every
// figure is compared with what the same server says about the keys it loaded from that dump (INFO
// keyspace, TYPE, OBJECT ENCODING, MEMORY USAGE SAMPLES 0, LLEN/SCARD/..., PEXPIRETIME) or with counts
// derived by hand from the commands that wrote the data. The data avoids skiplist sorted sets, whose
// memory depends on random levels (the one place the model is an expectation, not exact).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RdbReport } from '../src/analysis/report.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer, type Reply } from './helpers/redis-server.js';

const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;

function run(args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

interface LiveKey {
  db: number;
  key: string;
  type: string;
  encoding: string;
  memory: number;
  elements: number;
  largestElement: number;
  expireMs: number | null;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** The data set: what each command writes is counted by hand in the expectations below. */
async function populate(c: RedisClient): Promise<void> {
  await c.ok('SELECT', 0);
  for (let i = 0; i < 40; i++) await c.ok('SET', `user:${i}:name`, `name-${i}`);
  for (let i = 0; i < 40; i++) await c.ok('HSET', `user:${i}:profile`, 'age', i, 'city', 'x'.repeat(i), 'bio', 'b'.repeat(10 * i));
  for (let i = 0; i < 10; i++) await c.ok('SET', `session:${i}`, 's'.repeat(100 + i), 'PX', i < 4 ? 30 * MINUTE : i < 7 ? 2 * 60 * MINUTE : 3 * DAY);
  await c.ok('SET', 'counter', 12345);
  await c.ok('SET', 'blob:big', 'z'.repeat(20_000), 'PX', 30 * DAY);
  await c.ok('RPUSH', 'queue:jobs', ...Array.from({ length: 300 }, (_, i) => `job-${i}`));
  await c.ok('SADD', 'tags:small', 1, 2, 3, 40000);
  await c.ok('SADD', 'tags:words', ...Array.from({ length: 200 }, (_, i) => `word-${i}`));
  await c.ok('ZADD', 'board:daily', ...Array.from({ length: 50 }, (_, i) => [i * 1.5, `player-${i}`]).flat());
  await c.ok('HSET', 'doc:1', 'title', 't', 'body', 'y'.repeat(5000));
  await c.ok('XADD', 'events', '1-1', 'kind', 'signup', 'user', 'ada');
  await c.ok('XADD', 'events', '2-1', 'kind', 'login');
  await c.ok('XGROUP', 'CREATE', 'events', 'mailer', '0');
  await c.ok('XREADGROUP', 'GROUP', 'mailer', 'alice', 'COUNT', 1, 'STREAMS', 'events', '>');
  await c.ok('SELECT', 2);
  for (let i = 0; i < 5; i++) await c.ok('SET', `cfg:${i}`, i * 1000, 'PX', 10 * DAY);
}

/** What the server says about every key it holds. */
async function liveKeys(c: RedisClient): Promise<LiveKey[]> {
  const out: LiveKey[] = [];
  for (const db of [0, 2]) {
    await c.ok('SELECT', db);
    const names = (await c.ok('KEYS', '*') as Buffer[]).map(String);
    for (const key of names) {
      const type = String(await c.ok('TYPE', key));
      const values = await elementsOf(c, type, key);
      const expire = Number(await c.ok('PEXPIRETIME', key));
      out.push({
        db, key, type,
        encoding: String(await c.ok('OBJECT', 'ENCODING', key)),
        memory: Number(await c.ok('MEMORY', 'USAGE', key, 'SAMPLES', 0)),
        elements: type === 'string' ? values[0]!.length : type === 'stream' ? Number(await c.ok('XLEN', key)) : type === 'hash' ? values.length / 2 : values.length,
        largestElement: Math.max(...values.map((v) => v.length)),
        expireMs: expire < 0 ? null : expire,
      });
    }
  }
  return out;
}

/** A key's strings as the server returns them (hash: fields and values; stream: fields and values). */
async function elementsOf(c: RedisClient, type: string, key: string): Promise<Buffer[]> {
  const flat = (r: Reply): Buffer[] => (Array.isArray(r) ? r.flatMap(flat) : Buffer.isBuffer(r) ? [r] : [Buffer.from(String(r))]);
  switch (type) {
    case 'string': return [await c.ok('GET', key) as Buffer];
    case 'list': return flat(await c.ok('LRANGE', key, 0, -1));
    case 'set': return flat(await c.ok('SMEMBERS', key));
    case 'zset': return flat(await c.ok('ZRANGE', key, 0, -1));
    case 'hash': return flat(await c.ok('HGETALL', key));
    case 'stream': return (await c.ok('XRANGE', key, '-', '+') as Reply[]).flatMap((e) => flat((e as Reply[])[1]!));
    default: throw new Error(`unexpected type ${type}`);
  }
}

function sum<T>(items: T[], f: (t: T) => number): number {
  return items.reduce((n, t) => n + f(t), 0);
}

const live = haveRedisServer();

describe.skipIf(!live)('report and CSV against the server that wrote the dump', () => {
  let server: RedisServer;
  let client: RedisClient;
  let dump: string;
  let quantum: string;
  let keys: LiveKey[];
  let report: RdbReport;

  beforeAll(async () => {
    server = await startRedisServer(['--enable-debug-command', 'yes']);
    client = await RedisClient.connect(server.port);
    quantum = /Quantum size: (\d+)/.exec(String(await client.ok('MEMORY', 'MALLOC-STATS')))?.[1] ?? '8';
    await populate(client);
    await client.ok('SAVE');
    // Load the dump as a restart would, so the server's figures describe what the file holds.
    expect(await client.ok('DEBUG', 'RELOAD', 'NOSAVE')).toBe('OK');
    dump = join(server.dir, 'dump.rdb');
    keys = await liveKeys(client);
    const r = run(['report', dump, '--json', '--allocator-quantum', quantum, '--top', '5']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    report = JSON.parse(r.stdout.toString()) as RdbReport;
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it('counts keys per database as INFO keyspace does, and names the writer', async () => {
    const keyspace = String(await client.ok('INFO', 'keyspace'));
    const dbs = [...keyspace.matchAll(/^db(\d+):keys=(\d+),expires=(\d+)/gm)].map((m) => ({ db: Number(m[1]), keys: Number(m[2]), expiringKeys: Number(m[3]) }));
    expect(report.databases.map(({ db, keys: n, expiringKeys }) => ({ db, keys: n, expiringKeys }))).toEqual(dbs);
    // By hand: 40 + 40 + 10 + 1 + 1 + 1 + 2 + 1 + 1 + 1 keys in db 0, 5 in db 2; 10 + 1 + 5 expiring.
    expect(report.totals.keys).toBe(103);
    expect(report.totals.expiringKeys).toBe(16);
    expect(report.dump.serverVersion).toBe(await client.info('server', 'redis_version'));
    expect(report.dump.rdbVersion).toBe(10);
    expect(report.memoryModel).toMatchObject({ name: 'redis-7.0', quantum: Number(quantum) });
  });

  it('sums memory, keys and elements per type and per encoding as the server reports them', () => {
    expect(report.totals.memory).toBe(sum(keys, (k) => k.memory));
    const byType = new Map<string, LiveKey[]>();
    for (const k of keys) byType.set(k.type, [...(byType.get(k.type) ?? []), k]);
    expect(Object.fromEntries(report.types.map((t) => [t.type, [t.keys, t.memory, t.elements]]))).toEqual(
      Object.fromEntries([...byType].map(([type, ks]) => [type, [ks.length, sum(ks, (k) => k.memory), type === 'string' ? 0 : sum(ks, (k) => k.elements)]])));
    const byEncoding = new Map<string, LiveKey[]>();
    for (const k of keys) byEncoding.set(`${k.type}/${k.encoding}`, [...(byEncoding.get(`${k.type}/${k.encoding}`) ?? []), k]);
    expect(Object.fromEntries(report.encodings.map((e) => [`${e.type}/${e.encoding}`, [e.keys, e.memory]]))).toEqual(
      Object.fromEntries([...byEncoding].map(([name, ks]) => [name, [ks.length, sum(ks, (k) => k.memory)]])));
  });

  it('puts keys in TTL buckets as the commands set them, measured from the save time', () => {
    const expected = { expired: 0, 'under-1h': 4, 'under-1d': 3, 'under-7d': 3, longer: 1 + 5, none: 103 - 16 };
    expect(Object.fromEntries(report.ttl.map((b) => [b.bucket, b.keys]))).toEqual(expected);
    const memoryOf = (pred: (k: LiveKey) => boolean) => sum(keys.filter(pred), (k) => k.memory);
    expect(report.ttl.find((b) => b.bucket === 'none')!.memory).toBe(memoryOf((k) => k.expireMs === null));
    expect(report.ttl.find((b) => b.bucket === 'under-1h')!.memory).toBe(memoryOf((k) => /^session:[0-3]$/.test(k.key)));
    expect(report.ttlReference.source).toBe('saved');
  });

  it('lists the largest keys by memory, by elements and by their longest element', () => {
    const top = (f: (k: LiveKey) => number, pred: (k: LiveKey) => boolean = () => true) =>
      keys.filter(pred).map(f).sort((a, b) => b - a).slice(0, 5);
    expect(report.top.byMemory.map((k) => k.memory)).toEqual(top((k) => k.memory));
    for (const row of report.top.byMemory) expect(row.memory).toBe(keys.find((k) => k.key === row.key && k.db === row.db)!.memory);
    // By hand: 300 list items, 200 and 4 set members, 50 zset members, then one of the 3-field hashes.
    const byElements = report.top.byElements.map((k) => [k.key, k.elements]);
    expect(byElements.slice(0, 4)).toEqual([['queue:jobs', 300], ['tags:words', 200], ['board:daily', 50], ['tags:small', 4]]);
    expect(byElements[4]).toEqual([expect.stringMatching(/^user:\d+:profile$/), 3]);
    expect(report.top.byLargestElement.slice(0, 2).map((k) => [k.key, k.largestElement])).toEqual([['blob:big', 20_000], ['doc:1', 5000]]);
  });

  it('counts keys and memory under each prefix', () => {
    const child = (prefix: string) => report.prefixes.root.children.find((c) => c.prefix === prefix)!;
    const under = (prefix: string) => keys.filter((k) => k.key.startsWith(prefix));
    for (const prefix of ['user:', 'session:', 'cfg:', 'tags:']) {
      expect([child(prefix).keys, child(prefix).memory]).toEqual([under(prefix).length, sum(under(prefix), (k) => k.memory)]);
    }
    // user:<i>: under user:, two keys each.
    expect(child('user:').children.find((c) => c.prefix === 'user:7:')).toMatchObject({ keys: 2 });
    expect(report.prefixes.root.keys).toBe(103);
  });

  it('writes one CSV row per key whose columns equal the server\'s figures', () => {
    const r = run(['parse', dump, '--format', 'csv', '--allocator-quantum', quantum]);
    expect(r.code, r.stderr).toBe(0);
    const [header, ...rows] = r.stdout.toString().trimEnd().split('\r\n');
    expect(header).toBe('database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry');
    const expected = keys.map((k) => [k.db, k.type, k.key, k.memory, k.encoding, k.elements, k.largestElement,
      k.expireMs === null ? '' : new Date(k.expireMs).toISOString()].join(','));
    expect(rows.sort()).toEqual(expected.sort());
  });

  it('lists the keys with --format keys, and the filters select what they say', () => {
    const names = (args: string[]) => {
      const r = run(['parse', dump, '--format', 'keys', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.toString().split('\n').filter(Boolean).sort();
    };
    expect(names([])).toEqual(keys.map((k) => k.key).sort());
    expect(names(['--db', '2'])).toEqual(['cfg:0', 'cfg:1', 'cfg:2', 'cfg:3', 'cfg:4']);
    expect(names(['--prefix', 'session:', '--prefix', 'cfg:'])).toEqual(keys.filter((k) => /^(session|cfg):/.test(k.key)).map((k) => k.key).sort());
    expect(names(['--type', 'stream,set'])).toEqual(['events', 'tags:small', 'tags:words']);
    const big = keys.filter((k) => k.memory >= 4096).map((k) => k.key).sort();
    expect(big.length).toBeGreaterThan(2);
    expect(names(['--min-size', '4k', '--allocator-quantum', quantum])).toEqual(big);
    const jsonl = run(['parse', dump, '--min-size', '4k', '--allocator-quantum', quantum]);
    expect(jsonl.stdout.toString().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { key: string }).key).sort()).toEqual(big);
    expect(names(['--no-expired'])).toHaveLength(103);
    expect(names(['--expired'])).toEqual([]);
  });

  it('reports only the selected keys', () => {
    const r = run(['report', dump, '--json', '--allocator-quantum', quantum, '--db', '0', '--type', 'hash']);
    const hashes = keys.filter((k) => k.type === 'hash');
    const selected = JSON.parse(r.stdout.toString()) as RdbReport;
    expect([selected.totals.keys, selected.totals.memory]).toEqual([hashes.length, sum(hashes, (k) => k.memory)]);
  });
});
