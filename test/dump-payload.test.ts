// RDB entries → DUMP payloads (src/rdb-write). Listpack bytes derived by hand; a string's payload against
// the one the live server's DUMP produces; then the acceptance test: every fixture with an oracle, parsed,
// each key RESTOREd from our payload into a live server, read back by the shared canonical dumper, must
// give the fixture's keyspace, including files newer than the server (re-encoded for it).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RdbEntry } from '../src/rdb/entry.js';
import { DumpPayloadEncoder, UnrestorableEntry } from '../src/rdb-write/dump-payload.js';
import { ListpackBuilder } from '../src/rdb-write/listpack-builder.js';
import { RdbBytes } from '../src/rdb-write/rdb-bytes.js';
import { loadsAsIs, serverFormatFromInfo, type ServerFormat } from '../src/rdb-write/server-format.js';
import { bytesOf, fixtures, type Fixture } from './helpers/fixtures.js';
import { canonicalDump, CHECKSUM_BROKEN, parseAll, pipeInto, rdbVersionOf, restoreCommands, unexpired } from './helpers/keyspace.js';
import { populateMixed } from './helpers/mixed-data.js';
import { haveRedisServer, RedisClient, sharedTool, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const text = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('RDB primitives and listpacks (hand-derived bytes)', () => {
  it('lengths: 6-bit, 14-bit big-endian, 32-bit and 64-bit after a marker', () => {
    const out = new RdbBytes();
    for (const n of [0, 63, 64, 16383, 16384, 2 ** 32 - 1, 2 ** 32, 0xffffffffffffffffn]) out.len(n);
    expect(hex(out.bytes())).toBe('00' + '3f' + '4040' + '7fff' + '8000004000' + '80ffffffff' + '810000000100000000' + '81ffffffffffffffff');
  });

  it('listpack integers in the smallest encoding, strings by length, back-lengths as listpack.c sizes them', () => {
    const lp = new ListpackBuilder();
    lp.integer(5n); // 7-bit: 05, back-length 01
    lp.integer(-1n); // 13-bit: 1fff → df ff, 02
    lp.integer(4096n); // 16-bit: f1 00 10, 03
    lp.integer(-8388608n); // 24-bit: f2 00 00 80, 04
    lp.integer(2n ** 40n); // 64-bit: f4 + 8 bytes, 09
    lp.string(text('ab')); // 6-bit string: 82 61 62, 03
    const bytes = lp.finish();
    const body = '0501' + 'dfff02' + 'f1001003' + 'f200008004' + 'f40000000000010000' + '09' + '82616203';
    const total = 6 + body.length / 2 + 1;
    expect(hex(bytes)).toBe(total.toString(16).padStart(2, '0') + '000000' + '0600' + body + 'ff');
  });

  it('a back-length of 16383 takes three bytes, as listpack.c encodes it (readers skip by its size)', () => {
    const lp = new ListpackBuilder();
    lp.string(new Uint8Array(16378)); // body: f0 + 4-byte length + 16378 = 16383
    const bytes = lp.finish();
    expect(hex(bytes.subarray(6, 11))).toBe('f0fa3f0000');
    expect(hex(bytes.subarray(6 + 16383, 6 + 16383 + 4))).toBe('00ffff' + 'ff');
  });
});

describe('the server version decides the payload version and layouts', () => {
  it.each([
    ['redis_version:7.0.15', 'redis', 10], ['redis_version:6.2.16', 'redis', 9], ['redis_version:7.2.6', 'redis', 11],
    ['redis_version:8.2.2', 'redis', 12], ['redis_version:8.6.0', 'redis', 13], ['redis_version:5.0.14', 'redis', 9],
    ['redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.1.2', 'valkey', 11],
    ['redis_version:7.2.4\r\nvalkey_version:9.0.4', 'valkey', 80],
  ])('%s', (info, flavor, rdbVersion) => {
    expect(serverFormatFromInfo(`# Server\r\n${info}\r\n`)).toMatchObject({ flavor, rdbVersion });
  });

  it('values load as they are into the same or a later version, across families only up to RDB 11', () => {
    const redis = (rdbVersion: number) => ({ flavor: 'redis' as const, version: '', rdbVersion });
    const valkey = (rdbVersion: number) => ({ flavor: 'valkey' as const, version: '', rdbVersion });
    expect(loadsAsIs(redis(10), redis(10))).toBe(true);
    expect(loadsAsIs(redis(9), redis(12))).toBe(true);
    expect(loadsAsIs(redis(12), redis(10))).toBe(false);
    expect(loadsAsIs(redis(11), valkey(80))).toBe(true);
    expect(loadsAsIs(redis(12), valkey(80))).toBe(false); // Valkey reads Redis 12+ as foreign
    expect(loadsAsIs(valkey(11), redis(12))).toBe(true);
    expect(loadsAsIs(valkey(80), redis(13))).toBe(false);
  });

  it('modules have no payload, and streams none for a server before 5.0', () => {
    const encoder = new DumpPayloadEncoder({ flavor: 'redis', version: '4.0.14', rdbVersion: 8 });
    const common = { db: 0, key: text('k'), expireMs: null, encoding: 'x', rdbType: 0 };
    expect(() => encoder.encode({ ...common, type: 'module', moduleName: 'MBbloom--', moduleVersion: 1, moduleId: 1n, sizeBytes: 1 }))
      .toThrow(UnrestorableEntry);
    expect(() => encoder.encode({ ...common, type: 'stream', value: { length: 0, lastId: '0-0', entries: [], groups: [] } }))
      .toThrow(/has no streams/);
  });
});

const live = haveRedisServer();

/** RESTOREs every entry from our payloads with `redis-cli --pipe`; each must be answered without error. */
function restoreAll(port: number, target: ServerFormat, entries: RdbEntry[]): void {
  const encoder = new DumpPayloadEncoder(target);
  const commands = restoreCommands(entries, (e) => encoder.encode(e));
  const { errors, replies, output } = pipeInto(port, Buffer.concat(commands));
  expect(errors, output.slice(0, 2000)).toBe(0);
  expect(replies).toBe(commands.length);
}

/** The stream members only RDB ≥ 10 holds (FORMAT.md: "v2 only"). */
const LEGACY_STREAM_FIELDS = /,"(first_id|max_deleted_id)":"\d+-\d+"|,"entries_added":\d+|,"entries_read":(\d+|null)/g;

/**
 * What the target holds of a fixture's keyspace: keys whose TTL has passed are gone (RESTORE with a past
 * absolute TTL creates nothing; the oracle was read with a faked clock), field TTLs are dropped by a
 * server without hash field expiration, and a server before 7.0 keeps only a stream's legacy members.
 */
function expectedOn(f: Fixture, target: ServerFormat): string[] {
  const hfe = target.flavor === 'redis' ? target.rdbVersion >= 12 : target.rdbVersion >= 80;
  return unexpired(f.expected!)
    .map((line) => (hfe ? line : line.replace(/,"field_expire_ms":\[.*\]\}$/, '}')))
    .map((line) => (target.rdbVersion >= 10 || !line.includes('"type":"stream"') ? line : line.replace(LEGACY_STREAM_FIELDS, '')));
}

/**
 * Debian's redis-server, plus any server binaries listed in REDISTAP_RESTORE_SERVERS (comma-separated
 * paths: e.g. Redis 8.2 and Valkey 9.0 builds, whose hash field TTLs Debian's 7.0 lacks).
 */
const SERVERS = ['redis-server', ...(process.env.REDISTAP_RESTORE_SERVERS ?? '').split(',').filter(Boolean)];

/**
 * A server before 7.0 has no PEXPIRETIME: the dumper computes expire times from TIME and PTTL (marked
 * expire_approx), a millisecond or two off. Times are compared to the second there.
 */
function withoutApproximateTimes(lines: string[]): string[] {
  return lines.map((line) => line.replace(/"expire_ms":(\d+)(,"expire_approx":true)?/, (_, ms: string) => `"expire_s":${Math.round(Number(ms) / 1000)}`));
}

describe.skipIf(!live).each(SERVERS)('RESTORE of our payloads into a live %s: every fixture with an oracle', (binary) => {
  let server: RedisServer;
  let client: RedisClient;
  let target: ServerFormat;
  const withOracle = fixtures().filter((f) => f.expected !== null);

  beforeAll(async () => {
    server = await startRedisServer([], { binary });
    client = await RedisClient.connect(server.port);
    target = serverFormatFromInfo(String(await client.ok('INFO', 'server')));
  }, 30_000);

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it('a string payload is byte for byte what the server DUMPs', async () => {
    await client.ok('SET', 'k', 'some text that stays a raw string');
    const dumped = await client.ok('DUMP', 'k') as Buffer;
    const ours = new DumpPayloadEncoder(target).encode({ db: 0, key: text('k'), expireMs: null, encoding: 'raw', rdbType: 0,
      type: 'string', value: text('some text that stays a raw string') });
    expect(hex(ours)).toBe(dumped.toString('hex'));
  });

  it('covers fixtures of every RDB version, newer than the server included', () => {
    expect(withOracle.length).toBeGreaterThan(80);
    if (target.rdbVersion < 12) expect(withOracle.some((f) => rdbVersionOf(bytesOf(f)) > target.rdbVersion)).toBe(true);
  });

  it.each(withOracle.map((f) => [f.name, f] as const))('%s', async (_name, f) => {
    await client.ok('FLUSHALL');
    const entries = await parseAll(bytesOf(f), !CHECKSUM_BROKEN.has(f.name));
    restoreAll(server.port, target, entries);
    // A stream from a file before RDB 10 carries only the legacy fields, and so does our payload of it.
    const legacy = rdbVersionOf(bytesOf(f)) < 10 || target.rdbVersion < 10;
    const actual = canonicalDump(server.port, legacy);
    if (target.rdbVersion >= 10) expect(actual).toEqual(expectedOn(f, target));
    else expect(withoutApproximateTimes(actual)).toEqual(withoutApproximateTimes(expectedOn(f, target)));
  });
});

describe.skipIf(!live)('RESTORE of our payloads: a dump saved by the local server, rebuilt in a second one', () => {
  let source: RedisServer;
  let target: RedisServer;

  beforeAll(async () => {
    [source, target] = await Promise.all([startRedisServer(), startRedisServer()]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('every type the server writes, large values and long streams included, comes back identical', async () => {
    const client = await RedisClient.connect(source.port);
    try {
      sharedTool('rdb-fixture-populate', ['--port', String(source.port), '--profile', 'full']);
      await client.ok('SELECT', 2);
      await populateMixed(client, 7);
      await client.ok('SELECT', 3);
      for (let i = 0; i < 1000; i++) await client.ok('XADD', 'long', '*', 'n', i, ...(i % 3 ? ['extra', 'x'.repeat(i)] : []));
      await client.ok('XGROUP', 'CREATE', 'long', 'g', '0');
      await client.ok('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 300, 'STREAMS', 'long', '>');
      await client.ok('XDEL', 'long', String((await client.ok('XRANGE', 'long', '-', '+', 'COUNT', 5) as Buffer[][])[4]![0]));
      await client.ok('SAVE');
    } finally {
      client.close();
    }
    const probe = await RedisClient.connect(target.port);
    const format = serverFormatFromInfo(String(await probe.ok('INFO', 'server')));
    probe.close();
    const entries = await parseAll(bytesOf({ name: 'dump', path: join(source.dir, 'dump.rdb'), size: 0, expected: null }), true);
    restoreAll(target.port, format, entries);
    const expected = canonicalDump(source.port);
    expect(expected.length).toBeGreaterThan(5000);
    expect(canonicalDump(target.port)).toEqual(expected);
  }, 300_000);
});
