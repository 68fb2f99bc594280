// Value spans (valueSpans / OPT_VALUE_SPANS): where each key's value lies in the file, so that a copy can
// hand a server the value exactly as the file holds it. Checked on every fixture, whole and cut into
// pieces: type byte + span + version + CRC64 is a DUMP payload of the same value; and, against a live
// server, RESTORE of those payloads gives the fixture's keyspace (the oracle the server wrote).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as abi from '../src/core/abi.js';
import { Crc64 } from '../src/core/crc64.js';
import type { EventBatch } from '../src/core/event-batch.js';
import { RdbEventParser } from '../src/core/rdb-event-parser.js';
import type { RdbEntry } from '../src/rdb/entry.js';
import { parseDump } from '../src/rdb/parse.js';
import { bytesOf, EXPECTED_ERRORS, fixtures, type Fixture } from './helpers/fixtures.js';
import { canonicalDump, CHECKSUM_BROKEN, parseAll, pipeInto, rdbVersionOf, restoreCommands, unexpired } from './helpers/keyspace.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';

interface Span {
  type: number;
  start: number;
  end: number;
}

/** Every key's type code and value span, feeding the file in pieces of `piece` bytes (0: whole). */
async function spansOf(data: Uint8Array, piece = 0, verifyChecksum = true): Promise<Span[]> {
  const parser = await RdbEventParser.create({ valueSpans: true, verifyChecksum });
  const spans: Span[] = [];
  let open: Span | null = null;
  const sink = (b: EventBatch) => {
    for (let i = 0; i < b.count; i++) {
      const kind = b.kind(i);
      if (kind === abi.E_KEY) open = { type: b.aux(i), start: -1, end: -1 };
      else if (kind === abi.E_VALUE_SPAN) open!.start = b.n1(i);
      else if (kind === abi.E_KEY_END) {
        open!.end = b.n2(i);
        spans.push(open!);
        open = null;
      }
    }
  };
  if (piece === 0) parser.write(data, sink);
  else for (let at = 0; at < data.length; at += piece) parser.write(data.subarray(at, at + piece), sink);
  parser.end(sink);
  return spans;
}

const crc = new Crc64();

/** The DUMP payload of a value as the file holds it. */
function rawPayload(file: Uint8Array, span: Span, version: number): Uint8Array {
  const body = new Uint8Array(1 + (span.end - span.start) + 2);
  body[0] = span.type & 0xff; // Valkey's own codes are reported + 256
  body.set(file.subarray(span.start, span.end), 1);
  body[body.length - 2] = version & 0xff;
  body[body.length - 1] = version >> 8;
  const out = new Uint8Array(body.length + 8);
  out.set(body);
  new DataView(out.buffer).setBigUint64(body.length, crc.update(0n, body), true);
  return out;
}

const readable = fixtures().filter((f) => !(f.name in EXPECTED_ERRORS) || CHECKSUM_BROKEN.has(f.name));

function entriesOf(f: Fixture): Promise<RdbEntry[]> {
  return parseAll(bytesOf(f), !CHECKSUM_BROKEN.has(f.name));
}

describe('value spans', () => {
  it.each(readable.map((f) => [f.name, f] as const))('%s: one span per key; each is a DUMP payload of the same value, however the file is cut', async (_name, f) => {
    const file = bytesOf(f);
    const verify = !CHECKSUM_BROKEN.has(f.name);
    const spans = await spansOf(file, 0, verify);
    const entries = await entriesOf(f);
    expect(spans).toHaveLength(entries.length);
    expect(await spansOf(file, 7, verify)).toEqual(spans);
    if (file.length < 200_000) expect(await spansOf(file, 1, verify)).toEqual(spans);
    const version = rdbVersionOf(file);
    for (let i = 0; i < spans.length; i++) {
      const entry = entries[i]!;
      if (entry.type === 'module') continue; // the core skips module values; a payload of one is opaque too
      const again = await parseDump(rawPayload(file, spans[i]!, version), entry.key);
      expect({ ...again, db: entry.db, expireMs: entry.expireMs, idleSeconds: entry.idleSeconds, lfuFreq: entry.lfuFreq }).toEqual(entry);
    }
  });
});

const live = haveRedisServer();

describe.skipIf(!live)('value spans: RESTORE of the file\'s own value bytes into a live server', () => {
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
    const file = bytesOf(f);
    const verify = !CHECKSUM_BROKEN.has(f.name);
    const spans = await spansOf(file, 0, verify);
    const entries = await entriesOf(f);
    const commands = restoreCommands(entries, (_e, i) => rawPayload(file, spans[i]!, serverRdb));
    const { errors, replies } = pipeInto(server.port, Buffer.concat(commands));
    expect({ errors, replies }).toEqual({ errors: 0, replies: commands.length });
    expect(canonicalDump(server.port, rdbVersionOf(file) < 10)).toEqual(unexpired(f.expected!));
  });
});
