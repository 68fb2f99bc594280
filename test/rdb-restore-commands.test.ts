// The core's RESTORE commands writer (restoreCommands): each key as `RESTORE key expire payload REPLACE
// ABSTTL`, the payload its value exactly as the file stores it, SELECT as the db changes. Checked on every
// fixture, fed whole, in pieces and through a small input buffer (values then outlive what the buffer
// holds): byte for byte what the test builds itself from the value spans; with a route (db map, filter);
// a value over the memory limit is a typed error. Against a live server: the commands rebuild the
// fixture's keyspace (the oracle the server that wrote the file gave).
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RdbError } from '../src/core/errors.js';
import { RdbEventParser, type RestoreCommandsOptions } from '../src/core/rdb-event-parser.js';
import type { RdbEntry } from '../src/rdb/entry.js';
import { bytesOf, EXPECTED_ERRORS, fixture, fixtures, type Fixture } from './helpers/fixtures.js';
import { canonicalDump, CHECKSUM_BROKEN, parseAll, pipeInto, rawPayload, rdbVersionOf, restoreCommands, spansOf, unexpired } from './helpers/keyspace.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { encodeCommand } from '../src/resp/encode.js';
import { RespReplyReader } from '../src/resp/replies.js';

interface Written {
  bytes: Buffer;
  commands: number;
  keys: number;
  librariesLeftOut?: number;
}

interface Feeding {
  /** Bytes per write (0: the whole file at once). */
  piece?: number;
  inputBufferSize?: number;
  /** Take the output after every write (else once at the end). */
  takeEach?: boolean;
}

/** The core's commands for a file, fed as `feeding` says. */
async function written(f: Fixture, options: RestoreCommandsOptions = {}, feeding: Feeding = {}, maxScratchBytes?: number): Promise<Written> {
  const file = bytesOf(f);
  const parser = await RdbEventParser.create({
    restoreCommands: options, verifyChecksum: !CHECKSUM_BROKEN.has(f.name), inputBufferSize: feeding.inputBufferSize, maxScratchBytes,
  });
  const out: Written = { bytes: Buffer.alloc(0), commands: 0, keys: 0 };
  const take = () => {
    const o = parser.restoreOutput();
    out.bytes = Buffer.concat([out.bytes, o.bytes]);
    out.commands += o.commands;
    out.keys += o.keys;
    if (o.librariesLeftOut > 0) out.librariesLeftOut = (out.librariesLeftOut ?? 0) + o.librariesLeftOut;
    parser.restoreOutputTaken();
  };
  const piece = feeding.piece || file.length;
  for (let at = 0; at < file.length; at += piece) {
    parser.write(file.subarray(at, at + piece), () => undefined);
    if (feeding.takeEach) take();
  }
  parser.end(() => undefined);
  take();
  return out;
}

/** The commands the test builds itself: RESTORE with the span's bytes as payload (restoreCommands of keyspace.ts). */
async function expected(f: Fixture, keep: (e: RdbEntry) => number = (e) => e.db): Promise<Written> {
  const file = bytesOf(f);
  const verify = !CHECKSUM_BROKEN.has(f.name);
  const entries = await parseAll(file, verify);
  const spans = await spansOf(file, 0, verify);
  const version = rdbVersionOf(file);
  const routed: RdbEntry[] = [];
  const payloads: Uint8Array[] = [];
  entries.forEach((e, i) => {
    const db = keep(e);
    if (db < 0) return;
    routed.push({ ...e, db });
    payloads.push(rawPayload(file, spans[i]!, version));
  });
  const commands = restoreCommands(routed, (_e, i) => payloads[i]!);
  const keys = commands.filter((c) => Buffer.from(c).includes('RESTORE')).length;
  const libraries = librariesOf(f).length;
  return { bytes: Buffer.concat(commands), commands: commands.length, keys, ...(libraries > 0 ? { librariesLeftOut: libraries } : {}) };
}

interface FixtureMeta {
  functions?: Array<{ library_code: string }> | null;
  /** OBJECT FREQ / OBJECT IDLETIME of each key (by db) right after the writing server reloaded the file. */
  lfu_freq_after_reload?: Record<string, Record<string, number>>;
  lru_idle_seconds_after_reload?: Record<string, Record<string, number>>;
}

/** What the fixture's `<name>.meta.json` says (from the server that wrote it), or nothing. */
function metaOf(f: Fixture): FixtureMeta {
  const meta = f.path.replace(/\.rdb$/, '.meta.json');
  return existsSync(meta) ? JSON.parse(readFileSync(meta, 'utf8')) as FixtureMeta : {};
}

/** The function libraries' code, as the server that wrote the file listed them. */
function librariesOf(f: Fixture): string[] {
  return (metaOf(f).functions ?? []).map((l) => l.library_code);
}

/** The commands of RESP bytes, as text arguments. */
function commandsIn(bytes: Uint8Array): string[][] {
  return (new RespReplyReader().write(bytes) as Uint8Array[][]).map((c) => c.map((a) => Buffer.from(a).toString('utf8')));
}

const readable = fixtures().filter((f) => !(f.name in EXPECTED_ERRORS) || CHECKSUM_BROKEN.has(f.name));

describe('RESTORE commands written by the core', () => {
  it.each(readable.map((f) => [f.name, f] as const))('%s: as the test builds them from the value spans, however the file is fed', async (_name, f) => {
    const want = await expected(f);
    expect(await written(f)).toEqual(want);
    expect(await written(f, {}, { piece: 7, takeEach: true })).toEqual(want);
    expect(await written(f, {}, { piece: 1000, inputBufferSize: 4096, takeEach: true })).toEqual(want);
    if (bytesOf(f).length < 100_000) expect(await written(f, {}, { piece: 1, takeEach: true })).toEqual(want);
  });

  it('routes keys: another db, or left out; module values are asked about and left out', async () => {
    const f = fixture('redis-7.0.15-full');
    const asked: string[] = [];
    const route = (db: number, key: string) => (key.length % 2 === 0 ? -1 : db + 3);
    const got = await written(f, {
      routeEveryKey: true,
      routeKey: (db, _type, key) => {
        asked.push(Buffer.from(key).toString('latin1'));
        return route(db, Buffer.from(key).toString('latin1'));
      },
    });
    const entries = await parseAll(bytesOf(f));
    expect(asked).toEqual(entries.map((e) => Buffer.from(e.key).toString('latin1')));
    const want = await expected(f, (e) => route(e.db, Buffer.from(e.key).toString('latin1')));
    expect(want.keys).toBeGreaterThan(0);
    expect(want.keys).toBeLessThan(entries.length);
    expect(got).toEqual(want);
  });

  it('asks about module values only, without routeEveryKey', async () => {
    const f = fixtures().find((x) => x.name.includes('module') && !(x.name in EXPECTED_ERRORS))!;
    const asked: number[] = [];
    const got = await written(f, { routeKey: (_db, type) => { asked.push(type); return -1; } });
    const entries = await parseAll(bytesOf(f));
    expect(asked).toEqual(entries.filter((e) => e.type === 'module').map(() => 7));
    expect(asked.length).toBeGreaterThan(0);
    expect(got).toEqual(await expected(f));
  });

  const withLibraries = readable.filter((f) => librariesOf(f).length > 0);

  it.each(withLibraries.map((f) => [f.name, f] as const))('%s: with functions, FUNCTION LOAD REPLACE of each library the server listed, first', async (_name, f) => {
    const got = await written(f, { functions: true }, { piece: 7, takeEach: true });
    const commands = commandsIn(got.bytes);
    const loads = commands.filter((c) => c[0] === 'FUNCTION');
    expect(loads.map((c) => c.slice(0, 3))).toEqual(loads.map(() => ['FUNCTION', 'LOAD', 'REPLACE']));
    expect(loads.map((c) => c[3]).sort()).toEqual(librariesOf(f).sort());
    // They come first; everything after them is as without them.
    const prefix = Buffer.concat(loads.map((c) => encodeCommand(c)));
    expect(got.bytes.subarray(0, prefix.length)).toEqual(prefix);
    const want = await expected(f);
    expect(got.bytes.subarray(prefix.length)).toEqual(want.bytes);
    expect(got.commands).toBe(want.commands + loads.length);
    expect(got.librariesLeftOut).toBeUndefined();
  });

  it('a value larger than maxScratchBytes is a typed error inside it, not a giant allocation', async () => {
    const f = fixture('redis-7.0.15-full');
    const spans = await spansOf(bytesOf(f));
    const limit = 4096;
    expect(spans.some((s) => s.end - s.start > limit)).toBe(true);
    const err = await written(f, {}, { piece: 4096, takeEach: true }, limit).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RdbError);
    const { kind, offset, detail } = err as RdbError;
    expect(kind).toBe('too-large');
    expect(detail).toBeGreaterThan(limit);
    expect(spans.some((s) => offset >= s.start && offset < s.end)).toBe(true);
  });
});

const live = haveRedisServer();

describe.skipIf(!live)('RESTORE commands written by the core, into a live server', () => {
  let server: RedisServer;
  let client: RedisClient;
  let serverRdb = 0;
  beforeAll(async () => {
    server = await startRedisServer();
    client = await RedisClient.connect(server.port);
    serverRdb = /redis_version:7\.0\./.test(String(await client.ok('INFO', 'server'))) ? 10 : 0;
  }, 30_000);
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  // Files the server can load as they are: Redis files up to its own RDB version.
  const loadable = fixtures().filter((f) => f.expected !== null && /^REDIS00(0\d|10)/.test(Buffer.from(bytesOf(f).subarray(0, 9)).toString('latin1')));

  it('covers the files the server could load', () => {
    expect(serverRdb).toBe(10);
    expect(loadable.length).toBeGreaterThan(50);
  });

  it.each(loadable.map((f) => [f.name, f] as const))('%s', async (_name, f) => {
    await client.ok('FLUSHALL');
    await client.ok('FUNCTION', 'FLUSH');
    const { bytes, commands } = await written(f, { functions: true }, { piece: 1000, inputBufferSize: 4096, takeEach: true });
    const { errors, replies } = pipeInto(server.port, bytes);
    expect({ errors, replies }).toEqual({ errors: 0, replies: commands });
    expect(canonicalDump(server.port, rdbVersionOf(bytesOf(f)) < 10)).toEqual(unexpired(f.expected!));
    // The libraries too, as the server that wrote the file listed them.
    const listed = await client.ok('FUNCTION', 'LIST', 'WITHCODE') as unknown as Array<Array<unknown>>;
    const codes = listed.map((lib) => String(lib[lib.findIndex((x) => String(x) === 'library_code') + 1]));
    expect(codes.sort()).toEqual(librariesOf(f).sort());
  });

  const withEvictionData = loadable.filter((f) => metaOf(f).lfu_freq_after_reload || metaOf(f).lru_idle_seconds_after_reload);

  it.each(withEvictionData.map((f) => [f.name, f] as const))('%s: each key\'s LFU counter (FREQ) or LRU idle time (IDLETIME) as the server reloading the file had it', async (_name, f) => {
    const { lfu_freq_after_reload: freq, lru_idle_seconds_after_reload: idle } = metaOf(f);
    await client.ok('CONFIG', 'SET', 'maxmemory-policy', freq ? 'allkeys-lfu' : 'allkeys-lru');
    try {
      await client.ok('FLUSHALL');
      const { bytes, commands } = await written(f);
      expect(pipeInto(server.port, bytes)).toMatchObject({ errors: 0, replies: commands });
      for (const [db, keys] of Object.entries((freq ?? idle)!)) {
        await client.ok('SELECT', db);
        for (const [key, want] of Object.entries(keys)) {
          const got = Number(await client.ok('OBJECT', freq ? 'FREQ' : 'IDLETIME', key));
          if (freq) {
            expect([key, got]).toEqual([key, want]);
          } else {
            // An idle time goes on growing by the second since the commands ran.
            expect(got - want, key).toBeGreaterThanOrEqual(0);
            expect(got - want, key).toBeLessThanOrEqual(3);
          }
        }
      }
    } finally {
      await client.ok('SELECT', 0);
      await client.ok('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    }
  });
});
