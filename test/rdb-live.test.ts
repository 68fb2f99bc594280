// Against a real redis-server: a dump with every type the server writes plus values far larger than the
// parser's input buffer (streamed and LZF-streamed strings, huge keys and fields) parses to exactly what
// the server holds, as read back by the shared canonical dumper; DUMP payloads parse with the same code.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalLine } from '../src/rdb/canonical-json.js';
import { parseDump } from '../src/rdb/parse.js';
import { canonicalLines, jsonlLines, parseBytes, type Split } from './helpers/feed.js';
import { haveRedisServer, RedisClient, sharedTool, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const live = haveRedisServer();
const text = 'the quick brown fox jumps over the lazy dog; '.repeat(70_000); // ~3 MB, LZF-compressible

describe.skipIf(!live)('a dump written by the local redis-server', () => {
  let server: RedisServer;
  let client: RedisClient;
  let dump: Uint8Array;
  let expected: string[];

  beforeAll(async () => {
    server = await startRedisServer();
    sharedTool('rdb-fixture-populate', ['--port', String(server.port), '--profile', 'full']);
    client = await RedisClient.connect(server.port);
    await client.ok('SET', 'big:lzf', text);
    await client.ok('SET', 'big:raw', randomBytes(1_500_000));
    await client.ok('SET', Buffer.concat([Buffer.from('big:key:'), Buffer.alloc(70_000, 0x6b)]), 'a key longer than 64 KiB');
    await client.ok('HSET', 'big:hash', 'small', 'v', 'huge', text.slice(0, 600_000), randomBytes(40_000), 'binary field');
    await client.ok('ZADD', 'big:zset', '1.5', randomBytes(100_000), '-2.25', 'b', 'inf', 'c');
    await client.ok('SADD', 'big:set', text.slice(0, 200_000), randomBytes(90_000), 'x');
    await client.ok('RPUSH', 'big:list', text.slice(0, 300_000), randomBytes(50_000), 'tail');
    // Members longer than 16 bytes that share their first 16: sorting must look past the prefix.
    const long = (i: number) => `shared-prefix-0123456789:${(i * 7919) % 1000}`;
    await client.ok('SADD', 'long:set', ...Array.from({ length: 300 }, (_, i) => long(i)));
    await client.ok('HSET', 'long:hash', ...Array.from({ length: 300 }, (_, i) => [long(i), String(i)]).flat());
    await client.ok('ZADD', 'long:zset', ...Array.from({ length: 300 }, (_, i) => ['1', long(i)]).flat());
    const fields: string[] = [];
    for (let i = 0; i < 2000; i++) fields.push(`field:${i}`, `value:${i * 7}`);
    await client.ok('HSET', 'wide:hash', ...fields);
    await client.ok('SAVE');
    const [, dir] = (await client.ok('CONFIG', 'GET', 'dir')) as Buffer[];
    dump = new Uint8Array(readFileSync(join(dir!.toString(), 'dump.rdb')));
    expected = sharedTool('redis-canonical-dump', ['--port', String(server.port)]).split('\n').filter(Boolean).sort();
  }, 300_000);

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  const splits: Array<[string, Split, number | undefined]> = [
    ['whole', 'whole', undefined],
    ['random splits, 4 KiB input buffer', { seed: 7, max: 3000 }, 4096],
    ['random splits, 64 KiB input buffer', { seed: 8, max: 70_000 }, 65536],
  ];

  it.each(splits)('parses exactly the server keyspace: %s', (_l, split, inputBufferSize) => {
    const { entries, metadata } = parseBytes(dump, split, { inputBufferSize });
    expect(metadata.checksum).toBe('verified');
    expect(canonicalLines(entries)).toEqual(expected);
  });

  it.each(splits)('the in-core JSON writer gives the same lines: %s', (_l, split, inputBufferSize) => {
    expect(jsonlLines(dump, split, { inputBufferSize })).toEqual(expected);
  });

  it('keeps memory bounded with a small input buffer: big strings are streamed, not buffered', () => {
    const { parser } = parseBytes(dump, { seed: 9, max: 8192 }, { inputBufferSize: 65536 });
    // The dump holds a 3 MB LZF string and a 1.5 MB raw string: they pass through in chunks, so the
    // parser's whole memory stays smaller than the largest of them.
    expect(parser.memoryBytes).toBeLessThan(1_500_000);
  });

  it('parses DUMP payloads of every key of db 0 to the same values', async () => {
    const byKey = new Map(expected.filter((l) => l.startsWith('{"db":0,')).map((l) => [JSON.parse(l).key as unknown, l]));
    let checked = 0;
    let cursor = '0';
    do {
      const [next, keys] = (await client.ok('SCAN', cursor, 'COUNT', 500)) as [Buffer, Buffer[]];
      cursor = next.toString();
      for (const key of keys) {
        const payload = (await client.ok('DUMP', key)) as Buffer;
        const entry = await parseDump(new Uint8Array(payload), new Uint8Array(key));
        const ours = canonicalLine({ ...entry, db: 0 });
        const theirs = [...byKey.values()].find((l) => JSON.stringify(JSON.parse(l).key) === canonicalKey(key));
        if (ours === null) continue; // module values have no canonical line
        expect(ours).toBe(theirs!.replace(/"expire_ms":(null|\d+)/, '"expire_ms":null'));
        checked++;
      }
    } while (cursor !== '0');
    expect(checked).toBeGreaterThan(100);
  });

  function canonicalKey(key: Buffer): string {
    const line = canonicalLine({ db: 0, key: new Uint8Array(key), type: 'string', value: new Uint8Array(0), expireMs: null, encoding: 'string', rdbType: 0 });
    return line!.slice(line!.indexOf('"key":') + 6, line!.indexOf(',"type"'));
  }
});
