// docs/event-schema.json against the change events: hand-written examples of every kind (taken from
// docs/event-schema.md, not made by our code) validate and broken ones do not; then every event a live
// publish writes into a Redis stream (a snapshot of every type, writes, a MULTI/EXEC and an EVAL block)
// validates, with ids, tx places and snapshot seqs as the test's own writes say they must be; and so
// does every event of one with --partitions 3 and --format json+resp (partitions by the keys' hash
// slots, copies of keyless events, a block numbered per partition, resp decoding to each write).
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, describe, expect, it } from 'vitest';
import { hashSlot } from '../src/cluster/hash-slot.js';
import { publish, type PublishOptions, type Publisher } from '../src/pipeline/publisher.js';
import { redisStreamSink } from '../src/pipeline/sinks/redis-stream-sink.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer, type Reply } from './helpers/redis-server.js';

const schema = JSON.parse(readFileSync(new URL('../docs/event-schema.json', import.meta.url), 'utf8'));
const ajv = new Ajv2020({ strict: true, allErrors: true });
ajv.addSchema(schema, 'event-schema.json');
const validate = ajv.getSchema('event-schema.json')!;

/** The complaints of one kind's branch of the schema: `path keyword` of each. */
function branchProblems(kind: string, event: unknown): string[] {
  const branch = ajv.getSchema(`event-schema.json#/$defs/${kind}`)!;
  return branch(event) ? [] : (branch.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.keyword}`);
}

/** The schema's complaints about `event` (empty when it validates). */
function problems(event: unknown): string[] {
  return validate(event) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} (${e.schemaPath})`);
}

type Json = Record<string, unknown>;

const R = '8371b4fb1155b71f4a04d3e1bc3e18c4a990aeeb';
const R2 = 'c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0';
/** The tag of the snapshot publication in the examples (~<tag> after the ids of its start, keys and end). */
const TAG = '5be0a1c2';
const SNAPSHOT_KINDS = ['full-sync-start', 'snapshot', 'full-sync-end'];
/** Two shards of a cluster (their masters' node IDs). */
const SHARD_A = '9f2b31c0a4d5e6f708192a3b4c5d6e7f80912a3b';
const SHARD_B = '4a7c0e5d2b9f8a6c1e3d5b7f9a2c4e6d8b0f1a3c';
const head = (event: string, offset: number, seq: number, replid = R): Json =>
  ({ v: 1, id: `${replid}-${offset}-${seq}${SNAPSHOT_KINDS.includes(event) ? `~${TAG}` : ''}`, event, source: '10.0.0.5:6379', replid, offset, seq });

/** `event` as --partitions N publishes it in `partition`: the field after seq, and `/<partition>` after the id of a copy. */
function inPartition(event: Json, partition: number, copy: boolean): Json {
  const out: Json = {};
  for (const [field, value] of Object.entries(event)) {
    out[field] = field === 'id' && copy ? `${value as string}/${partition}` : value;
    if (field === 'seq') out.partition = partition;
  }
  return out;
}

/**
 * The id an event must have, from its own fields: <replid>-<offset>-<seq>, and /<partition> on a copy (with
 * --partitions, an event naming no key: a lifecycle event, or a write whose keys are []).
 */
function expectedId(e: Json): string {
  const copy = e.partition !== undefined && (e.event === 'write' ? (e.keys as unknown[]).length === 0 : !['snapshot', 'moved'].includes(e.event as string));
  // A snapshot's events carry its publication's tag (random: taken from the id, and required there).
  const tag = SNAPSHOT_KINDS.includes(e.event as string) ? `~${/~([0-9a-f]{8})/.exec(e.id as string)?.[1] ?? 'missing'}` : '';
  return `${e.replid}-${e.offset}-${e.seq}${tag}${copy ? `/${e.partition}` : ''}`;
}

/** publish with --snapshot values from `src` into the stream redistap:events of `dst`, once its snapshot is published. */
async function publishValues(src: RedisServer, dst: RedisServer, extra: Partial<PublishOptions> = {}): Promise<{ p: Publisher; phases: string[]; warnings: string[] }> {
  const phases: string[] = [];
  const warnings: string[] = [];
  const p = publish({
    source: `redis://127.0.0.1:${src.port}`, sink: redisStreamSink(`redis://127.0.0.1:${dst.port}`), snapshot: 'values', ...extra,
    onEvent: (e) => {
      if (e.type === 'phase') phases.push(e.phase);
      else if (e.type === 'warning') warnings.push(e.message);
    },
  });
  await waitFor('the snapshot published', () => phases.includes('streaming') || phases.includes('failed'));
  return { p, phases, warnings };
}

/** Writes a marker on the source, stops publish once it is confirmed (no warning said), and returns the stream's events, validated. */
async function stopAfterMarker(source: RedisClient, { p, phases, warnings }: Awaited<ReturnType<typeof publishValues>>, target: RedisClient): Promise<Json[]> {
  await source.ok('SET', 'marker', 'last');
  const end = Number(await source.info('replication', 'master_repl_offset'));
  await waitFor('the marker confirmed', () => p.status.confirmed.offset >= end || phases.includes('failed'));
  p.stop();
  await p.done;
  expect(warnings).toEqual([]);
  return validEvents(target);
}

/**
 * Every entry of the stream redistap:events on `target` (fields id and event, the id the event's own), each
 * valid against the schema, with one snapshot tag.
 */
async function validEvents(target: RedisClient): Promise<Json[]> {
  const entries = (await target.ok('XRANGE', 'redistap:events', '-', '+')) as Array<[Buffer, Buffer[]]>;
  expect(entries.length).toBeGreaterThan(0);
  const events: Json[] = entries.map(([, fields]) => {
    const map = new Map<string, string>();
    for (let i = 0; i < fields.length; i += 2) map.set(fields[i]!.toString(), fields[i + 1]!.toString('utf8'));
    expect([...map.keys()].sort()).toEqual(['event', 'id']);
    const event = JSON.parse(map.get('event')!) as Json;
    expect(event.id).toBe(map.get('id'));
    return event;
  });
  const invalid = events.map((e) => ({ event: e, problems: problems(e) })).filter((x) => x.problems.length > 0);
  expect(invalid).toEqual([]);
  expectOneSnapshotTag(events);
  return events;
}

/** Every event of the snapshot kinds has one tag (one snapshot published). */
function expectOneSnapshotTag(events: Json[]): void {
  const tags = new Set(events.filter((e) => SNAPSHOT_KINDS.includes(e.event as string)).map((e) => /~([0-9a-f]{8})/.exec(e.id as string)?.[1]));
  expect([...tags]).toHaveLength(1);
  expect([...tags][0]).toMatch(/^[0-9a-f]{8}$/);
}

// The examples of docs/event-schema.md, one history: a snapshot of 8 keys at offset 1000 (seq 2: its
// start; 3..10: its keys; 11: its end), then writes (seq 0).
const EXAMPLES: Record<string, Json> = {
  'full-sync-start': { ...head('full-sync-start', 1000, 2), reason: 'no-checkpoint', snapshot: 'values' },
  'snapshot string': { ...head('snapshot', 1000, 3), db: 0, key: 'user:1:name', type: 'string', expire_ms: null, value: 'Ada' },
  'upsert (scan mode), a hash': { ...head('upsert', 12, 0), db: 0, key: 'user:1', type: 'hash', expire_ms: null, value: [['name', 'Ada']] },
  'delete (scan mode)': { ...head('delete', 13, 0), db: 3, key: { b64: 'AP+Aaw==' } },
  'snapshot binary string': { ...head('snapshot', 1000, 4), db: 0, key: { b64: 'AP+Aaw==' }, type: 'string', expire_ms: 4102444800000, value: { b64: 'wyj/' } },
  'snapshot list': { ...head('snapshot', 1000, 5), db: 0, key: 'queue', type: 'list', expire_ms: null, value: ['a', '', { b64: '/w==' }] },
  'snapshot set': { ...head('snapshot', 1000, 6), db: 1, key: 'tags', type: 'set', expire_ms: null, value: ['blue', 'red'] },
  'snapshot zset': { ...head('snapshot', 1000, 7), db: 0, key: 'scores', type: 'zset', expire_ms: null, value: [['low', '-inf'], ['ada', 1.5], ['bob', 1e+300], ['top', 'inf']] },
  'snapshot hash': {
    ...head('snapshot', 1000, 8), db: 0, key: 'user:1', type: 'hash', expire_ms: null,
    value: [['name', 'Ada'], ['session', 'x9']], field_expire_ms: [['session', 4102444800000]],
  },
  'snapshot stream': {
    ...head('snapshot', 1000, 9), db: 0, key: 'orders', type: 'stream', expire_ms: null,
    value: {
      length: 2, last_id: '1700000000000-1', first_id: '1700000000000-0',
      entries: [['1700000000000-0', ['item', 'book']], ['1700000000000-1', ['item', { b64: '/w==' }, 'qty', '2']]],
      max_deleted_id: '0-0', entries_added: 2,
      groups: [{
        name: 'billing', last_delivered_id: '1700000000000-1', entries_read: 2,
        pel: [['1700000000000-0', 'worker-1', 1], ['1700000000000-1', 'worker-1', 3]],
        consumers: [{ name: 'worker-1', pel: ['1700000000000-0', '1700000000000-1'] }, { name: 'worker-2', pel: [] }],
      }],
    },
  },
  'snapshot stream of Redis 5-6 (no v2 members)': {
    ...head('snapshot', 1000, 10), db: 0, key: 'old', type: 'stream', expire_ms: null,
    value: { length: 0, last_id: '5-0', entries: [], groups: [{ name: 'g', last_delivered_id: '0-0', pel: [], consumers: [] }] },
  },
  'full-sync-end': { ...head('full-sync-end', 1000, 11), count: 8 },
  'snapshot without value (--snapshot keys)': { ...head('snapshot', 1000, 3), db: 0, key: 'user:1', type: 'hash', expire_ms: null },
  'write': {
    ...head('write', 1042, 0), db: 0, command: 'set', class: 'string', keys: ['user:1:name'], args: ['user:1:name', 'Grace'], tx: null,
  },
  'write, binary': {
    ...head('write', 1080, 0), db: 0, command: 'rpush', class: 'list', keys: [{ b64: 'AP+Aaw==' }], args: [{ b64: 'AP+Aaw==' }, { b64: 'wyj/' }], tx: null,
  },
  'write, no keys, no class': {
    ...head('write', 1190, 0), db: 0, command: 'function', class: null, keys: [], args: ['LOAD', '#!lua name=lib\nredis.register_function(...)'], tx: null,
  },
  'write, first of a block': {
    ...head('write', 1131, 0), db: 2, command: 'hset', class: 'hash', keys: ['user:2'], args: ['user:2', 'name', 'Bob'], tx: { id: `${R}-1160`, index: 0, count: 2 },
  },
  'write, second of a block': {
    ...head('write', 1153, 0), db: 2, command: 'pexpireat', class: 'generic', keys: ['user:2'], args: ['user:2', '1893456000000'], tx: { id: `${R}-1160`, index: 1, count: 2 },
  },
  'replid-changed': { ...head('replid-changed', 2000, 1, R2), from: R },
  'full-sync-start, resync, no snapshot': { ...head('full-sync-start', 0, 2), reason: 'resync', snapshot: 'none' },
  'full-sync-end of an empty snapshot': { ...head('full-sync-end', 0, 3), count: 0 },
  'write with resp (--format json+resp)': {
    ...head('write', 1200, 0), db: 0, command: 'set', class: 'string', keys: ['k'], args: ['k', 'v'], tx: null,
    resp: Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n').toString('base64'),
  },
  // From a cluster: a key resharding moved, in the stream of the shard it entered (with its value) and of the one it left.
  'moved, into its shard': {
    ...head('moved', 880, 0, R2), shard: SHARD_B, slot: 7629, db: 0, key: 'k', from: SHARD_A, to: SHARD_B,
    expire_ms: 4102444800000, payload: { b64: 'AAF2CgCRCM6yGTiKzg==' },
  },
  'moved, out of its shard, second key of its DEL': { ...head('moved', 3101, 1), shard: SHARD_A, slot: 7629, db: 0, key: 'k2', from: SHARD_A, to: SHARD_B },
  'moved from a shard not told': { ...head('moved', 880, 0, R2), shard: SHARD_B, slot: 7629, db: 0, key: 'k', from: null, to: SHARD_B, expire_ms: null, payload: { b64: 'AAF2CgCRCM6yGTiKzg==' } },
  'moved in its key\'s partition': inPartition({ ...head('moved', 3101, 0), shard: SHARD_A, slot: 7629, db: 0, key: 'k', from: SHARD_A, to: SHARD_B }, 1, false),
  'write from an IPv6 source': { ...head('write', 1042, 0), source: '[::1]:6380', db: 0, command: 'del', class: 'generic', keys: ['a'], args: ['a'], tx: null },
  // --partitions 3: an event naming a key in its key's partition; one naming none copied to each (/<partition>).
  'full-sync-start, the copy for partition 1': inPartition({ ...head('full-sync-start', 1000, 2), reason: 'no-checkpoint', snapshot: 'none' }, 1, true),
  'full-sync-end, the copy for partition 0': inPartition({ ...head('full-sync-end', 1000, 3), count: 0 }, 0, true),
  'replid-changed, the copy for partition 2': inPartition({ ...head('replid-changed', 2000, 1, R2), from: R }, 2, true),
  'snapshot in its key\'s partition': inPartition({ ...head('snapshot', 1000, 3), db: 0, key: 'user:1', type: 'hash', expire_ms: null }, 2, false),
  'write in its key\'s partition': inPartition({
    ...head('write', 1042, 0), db: 0, command: 'set', class: 'string', keys: ['user:1:name'], args: ['user:1:name', 'Grace'], tx: null,
  }, 2, false),
  'write naming no key, the copy for partition 1': inPartition({
    ...head('write', 1061, 0), db: 0, command: 'flushdb', class: 'generic', keys: [], args: [], tx: null,
  }, 1, true),
  'write of a block, numbered in its partition, with resp': inPartition({
    ...head('write', 1131, 0), db: 2, command: 'hset', class: 'hash', keys: ['user:2'], args: ['user:2', 'name', 'Bob'], tx: { id: `${R}-1160`, index: 0, count: 1 },
    resp: Buffer.from('*4\r\n$4\r\nHSET\r\n$6\r\nuser:2\r\n$4\r\nname\r\n$3\r\nBob\r\n').toString('base64'),
  }, 0, false),
};

/** The arguments of `resp` (base64 of a RESP array of bulk strings), the command name first; throws unless it is exactly one such array. */
function respArgs(resp: string): Buffer[] {
  const bytes = Buffer.from(resp, 'base64');
  expect(bytes.toString('base64')).toBe(resp);
  let at = 0;
  const line = (prefix: string): number => {
    const eol = bytes.indexOf('\r\n', at);
    const text = bytes.toString('latin1', at, eol);
    if (eol < 0 || !text.startsWith(prefix) || !/^\d+$/.test(text.slice(1))) throw new Error(`not RESP at ${at}: ${JSON.stringify(text)}`);
    at = eol + 2;
    return Number(text.slice(1));
  };
  const args: Buffer[] = [];
  for (let n = line('*'); n > 0; n--) {
    const length = line('$');
    args.push(bytes.subarray(at, at + length));
    if (bytes.toString('latin1', at + length, at + length + 2) !== '\r\n') throw new Error(`a bulk string without its CRLF at ${at + length}`);
    at += length + 2;
  }
  if (at !== bytes.length) throw new Error(`${bytes.length - at} bytes after the command`);
  return args;
}

/** The bytes a byte string of the events stands for: a string's UTF-8, or {"b64"}'s. */
function bytesOf(value: unknown): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from((value as { b64: string }).b64, 'base64');
}

function without(event: Json, field: string): Json {
  const copy = { ...event };
  delete copy[field];
  return copy;
}

/** Broken events, each with the kind it is of and the complaint its branch must make (`path keyword`). */
const BROKEN: Record<string, [Json, string, string]> = {
  'missing id': [without(EXAMPLES.write!, 'id'), 'write', '/ required'],
  'v 2': [{ ...EXAMPLES.write!, v: 2 }, 'write', '/v const'],
  'v as a string': [{ ...EXAMPLES.write!, v: '1' }, 'write', '/v const'],
  'an unknown field': [{ ...EXAMPLES.write!, ttl: 5 }, 'write', '/ additionalProperties'],
  'an unknown field on a lifecycle event': [{ ...EXAMPLES['full-sync-end']!, db: 0 }, 'full-sync-end', '/ additionalProperties'],
  'b64 not base64': [{ ...EXAMPLES['write, binary']!, keys: [{ b64: 'not base64!' }] }, 'write', '/keys/0/b64 pattern'],
  'b64 without its padding': [{ ...EXAMPLES['snapshot binary string']!, key: { b64: 'AP+Aaw' } }, 'snapshot', '/key/b64 pattern'],
  'b64 with another member': [{ ...EXAMPLES['snapshot binary string']!, key: { b64: 'AP+Aaw==', text: 'x' } }, 'snapshot', '/key additionalProperties'],
  'an unknown kind': [{ ...EXAMPLES.write!, event: 'erase' }, 'write', '/event const'],
  'an upsert without its value': [without(EXAMPLES['upsert (scan mode), a hash']!, 'value'), 'upsert', '/ required'],
  'a hash upsert with a string value': [{ ...EXAMPLES['upsert (scan mode), a hash']!, value: 'Ada' }, 'upsert', '/value type'],
  'a delete with a type': [{ ...EXAMPLES['delete (scan mode)']!, type: 'string' }, 'delete', '/ additionalProperties'],
  'a write without tx': [without(EXAMPLES.write!, 'tx'), 'write', '/ required'],
  'a class that is a letter': [{ ...EXAMPLES.write!, class: '$' }, 'write', '/class enum'],
  'a tx without count': [{ ...EXAMPLES['write, first of a block']!, tx: { id: `${R}-1160`, index: 0 } }, 'write', '/tx required'],
  'a replid that is not one': [{ ...EXAMPLES.write!, replid: 'primary' }, 'write', '/replid pattern'],
  'an empty replid (a SYNC-style transfer stops publish)': [
    { ...EXAMPLES['full-sync-start, resync, no snapshot']!, id: '-0-2', replid: '' }, 'full-sync-start', '/replid pattern',
  ],
  'an id without its replid': [{ ...EXAMPLES.write!, id: '-1042-0' }, 'write', '/id pattern'],
  'a tx id without its replid': [{ ...EXAMPLES['write, first of a block']!, tx: { id: '-1160', index: 0, count: 2 } }, 'write', '/tx/id pattern'],
  'a previous replid that is empty': [{ ...EXAMPLES['replid-changed']!, from: '' }, 'replid-changed', '/from pattern'],
  'a full-sync-end with keys (now count)': [{ ...without(EXAMPLES['full-sync-end']!, 'count'), keys: 8 }, 'full-sync-end', '/ required'],
  'a full-sync-start seq 0 (a write\'s)': [{ ...EXAMPLES['full-sync-start']!, seq: 0 }, 'full-sync-start', '/seq const'],
  'a write seq 2': [{ ...EXAMPLES.write!, seq: 2 }, 'write', '/seq const'],
  'a snapshot seq 1 (before its start\'s)': [{ ...EXAMPLES['snapshot string']!, seq: 1 }, 'snapshot', '/seq minimum'],
  'a full-sync-end seq 2': [{ ...EXAMPLES['full-sync-end of an empty snapshot']!, seq: 2 }, 'full-sync-end', '/seq minimum'],
  'an IPv6 source without brackets': [{ ...EXAMPLES['write from an IPv6 source']!, source: '::1:6380' }, 'write', '/source pattern'],
  'a source without its port': [{ ...EXAMPLES.write!, source: '10.0.0.5' }, 'write', '/source pattern'],
  'resp that is not base64': [{ ...EXAMPLES['write with resp (--format json+resp)']!, resp: 'SET k v' }, 'write', '/resp pattern'],
  'resp on a lifecycle event': [{ ...EXAMPLES['full-sync-start']!, resp: 'KjE=' }, 'full-sync-start', '/ additionalProperties'],
  'a negative partition': [{ ...EXAMPLES['write in its key\'s partition']!, partition: -1 }, 'write', '/partition minimum'],
  'a lifecycle copy without /<partition>': [
    { ...EXAMPLES['full-sync-start, the copy for partition 1']!, id: `${R}-1000-2` }, 'full-sync-start', '/id pattern',
  ],
  'a keyless write\'s copy without /<partition>': [
    { ...EXAMPLES['write naming no key, the copy for partition 1']!, id: `${R}-1061-0` }, 'write', '/id pattern',
  ],
  'a write naming a key with /<partition>': [{ ...EXAMPLES['write in its key\'s partition']!, id: `${R}-1042-0/2` }, 'write', '/id pattern'],
  'a snapshot with /<partition>': [{ ...EXAMPLES['snapshot in its key\'s partition']!, id: `${R}-1000-3/2` }, 'snapshot', '/id pattern'],
  'a /<partition> without a partition': [{ ...EXAMPLES['full-sync-end']!, id: `${R}-1000-11/0` }, 'full-sync-end', '/id pattern'],
  'field_expire_ms on a string': [{ ...EXAMPLES['snapshot string']!, field_expire_ms: [['a', 1]] }, 'snapshot', '/field_expire_ms false schema'],
  'field_expire_ms without value': [without(EXAMPLES['snapshot hash']!, 'value'), 'snapshot', '/ dependentRequired'],
  'a zset member without its score': [{ ...EXAMPLES['snapshot zset']!, value: [['ada']] }, 'snapshot', '/value/0 minItems'],
  'a hash value as an object': [{ ...without(EXAMPLES['snapshot hash']!, 'field_expire_ms'), value: { name: 'Ada' } }, 'snapshot', '/value type'],
  'an empty list': [{ ...EXAMPLES['snapshot list']!, value: [] }, 'snapshot', '/value minItems'],
  'a stream with part of the v2 members': [
    { ...EXAMPLES['snapshot stream']!, value: without(EXAMPLES['snapshot stream']!.value as Json, 'entries_added') }, 'snapshot', '/value dependentRequired',
  ],
  'a snapshot mode that is not one': [{ ...EXAMPLES['full-sync-start']!, snapshot: 'all' }, 'full-sync-start', '/snapshot enum'],
  'a moved without the shard it went to': [without(EXAMPLES['moved, out of its shard, second key of its DEL']!, 'to'), 'moved', '/ required'],
  'a moved payload without its expire time': [without(EXAMPLES['moved, into its shard']!, 'expire_ms'), 'moved', '/ dependentRequired'],
  'a moved without its slot': [{ ...EXAMPLES['moved, into its shard']!, slot: null }, 'moved', '/slot type'],
  'a moved copied to a partition': [{ ...EXAMPLES['moved in its key\'s partition']!, id: `${R}-3101-0/1` }, 'moved', '/id pattern'],
  'a replid-changed seq that is not 1': [{ ...EXAMPLES['replid-changed']!, seq: 0 }, 'replid-changed', '/seq const'],
};

describe('docs/event-schema.json', () => {
  it.each(Object.entries(EXAMPLES))('accepts the example: %s', (_, event) => {
    expect(problems(event)).toEqual([]);
    expect(event.id).toBe(expectedId(event));
  });

  it('accepts every example line of docs/event-schema.md', () => {
    const doc = readFileSync(new URL('../docs/event-schema.md', import.meta.url), 'utf8');
    const lines = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n').filter(Boolean));
    expect(lines.length).toBeGreaterThanOrEqual(18);
    for (const line of lines) {
      const event = JSON.parse(line) as Json;
      expect(problems(event), line).toEqual([]);
      expect(event.id).toBe(expectedId(event));
    }
    // The example of --format json+resp: its resp is its command.
    const withResp = lines.map((l) => JSON.parse(l) as Json).filter((e) => 'resp' in e);
    expect(withResp).toHaveLength(1);
    expect(respArgs(withResp[0]!.resp as string)).toEqual(['SET', ...(withResp[0]!.args as string[])].map((a) => Buffer.from(a)));
  });

  it.each(Object.entries(BROKEN))('refuses an event with %s', (_, [event, kind, complaint]) => {
    expect(problems(event)).not.toEqual([]);
    expect(branchProblems(kind, event)).toContain(complaint);
  });
});

// ---------------------------------------------------------------------------------------------- live

const servers: RedisServer[] = [];
const clients: RedisClient[] = [];

afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const BINARY_KEY = Buffer.from([0x00, 0xff, 0x80, 0x6b]); // {"b64":"AP+Aaw=="}
const BINARY_VALUE = Buffer.from([0xc3, 0x28, 0xff]); // {"b64":"wyj/"}
const BINARY_KEY_2 = Buffer.from([0xfe, 0x01]); // {"b64":"/gE="}

interface Write extends Json {
  offset: number;
  command: string;
  keys: unknown[];
  args: unknown[];
  tx: { id: string; index: number; count: number } | null;
}

describe.skipIf(!haveRedisServer())('every event of a live publish into a Redis stream', () => {
  it('validates against docs/event-schema.json', async () => {
    const [src, dst] = await Promise.all([startRedisServer(['--repl-diskless-sync-delay', '0']), startRedisServer()]);
    servers.push(src, dst);
    const source = await RedisClient.connect(src.port);
    const target = await RedisClient.connect(dst.port);
    clients.push(source, target);
    const fieldTtls = ((await source.ok('COMMAND', 'INFO', 'hpexpire')) as Reply[])[0] !== null;

    // Before: keys of every type (a snapshot), one in another database.
    await source.ok('SET', 'str:plain', 'hello');
    await source.ok('SET', BINARY_KEY, BINARY_VALUE);
    await source.ok('SET', 'str:ttl', 'soon', 'PX', 3_600_000);
    await source.ok('RPUSH', 'list:a', 'a', 'b', 'c');
    await source.ok('SADD', 'set:a', 'x', 'y', 'z');
    await source.ok('ZADD', 'zset:a', '1', 'one', '2.5', 'two', '+inf', 'top');
    await source.ok('HSET', 'hash:a', 'f1', 'v1', 'f2', 'v2');
    if (fieldTtls) await source.ok('HPEXPIRE', 'hash:a', 3_600_000, 'FIELDS', 1, 'f1');
    for (const id of ['1-1', '2-1', '3-1']) await source.ok('XADD', 'stream:a', id, 'f', `v${id}`);
    await source.ok('XGROUP', 'CREATE', 'stream:a', 'g', '0');
    await source.ok('XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', 2, 'STREAMS', 'stream:a', '>');
    await source.ok('SELECT', 3);
    await source.ok('SET', 'db3:k', 'v');
    await source.ok('SELECT', 0);

    const run = await publishValues(src, dst);

    // During: writes of every class, a MULTI/EXEC block (3 writes; GET is not replicated) and an EVAL
    // with two writes (replicated as its effects, in a MULTI/EXEC block).
    await source.ok('SET', 'live:s', '1');
    await source.ok('SET', BINARY_KEY_2, BINARY_VALUE);
    await source.ok('LPUSH', 'list:a', 'z');
    await source.ok('SADD', 'set:a', 'w');
    await source.ok('ZADD', 'zset:a', '3', 'three');
    await source.ok('HSET', 'hash:a', 'f3', 'v3');
    await source.ok('XADD', 'stream:a', '4-1', 'f', 'v4');
    await source.ok('DEL', 'str:plain');
    await source.ok('MULTI');
    await source.ok('SET', 'tx:a', '1');
    await source.ok('GET', 'tx:a');
    await source.ok('HSET', 'tx:h', 'f', 'v');
    await source.ok('INCR', 'tx:n');
    const exec = await source.ok('EXEC');
    expect((exec as Reply[]).length).toBe(4);
    await source.ok('EVAL', "redis.call('SET', KEYS[1], ARGV[1]); redis.call('RPUSH', KEYS[2], ARGV[1]); return 1", 2, 'ev:s', 'ev:l', 'x');
    const events = await stopAfterMarker(source, run, target);
    for (const e of events) {
      expect(e.id).toBe(expectedId(e));
      expect(e.source).toBe(`127.0.0.1:${src.port}`);
      // Without --partitions and --format json+resp: neither field.
      expect(e).not.toHaveProperty('partition');
      expect(e).not.toHaveProperty('resp');
    }
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect([...new Set(events.map((e) => e.event))].sort()).toEqual(['full-sync-end', 'full-sync-start', 'snapshot', 'write']);

    // The snapshot: start (seq 2), the keys (seq 3..n + 2), end (seq 3 + n, count n), all at the start's offset.
    const start = events[0]!;
    expect(start).toMatchObject({ event: 'full-sync-start', seq: 2, reason: 'no-checkpoint', snapshot: 'values' });
    const endAt = events.findIndex((e) => e.event === 'full-sync-end');
    const snapshot = events.slice(1, endAt);
    expect(snapshot.every((e) => e.event === 'snapshot' && e.offset === start.offset && e.replid === start.replid)).toBe(true);
    expect(snapshot.map((e) => e.seq)).toEqual(snapshot.map((_, i) => i + 3));
    expect(events[endAt]).toMatchObject({ offset: start.offset, seq: 3 + snapshot.length, count: snapshot.length });
    expect(events[endAt]).not.toHaveProperty('keys');
    expect(snapshot.map((e) => `${e.db}/${JSON.stringify(e.key)}`).sort()).toEqual([
      '0/"hash:a"', '0/"list:a"', '0/"set:a"', '0/"str:plain"', '0/"str:ttl"', '0/"stream:a"', '0/"zset:a"', '0/{"b64":"AP+Aaw=="}', '3/"db3:k"',
    ]);
    const byKey = new Map(snapshot.map((e) => [JSON.stringify(e.key), e]));
    expect(byKey.get('{"b64":"AP+Aaw=="}')).toMatchObject({ type: 'string', expire_ms: null, value: { b64: 'wyj/' } });
    expect(byKey.get('"str:ttl"')!.expire_ms).toBeGreaterThan(Date.now());
    expect(byKey.get('"list:a"')).toMatchObject({ type: 'list', value: ['a', 'b', 'c'] });
    expect(byKey.get('"set:a"')).toMatchObject({ type: 'set', value: ['x', 'y', 'z'] });
    expect(byKey.get('"zset:a"')).toMatchObject({ type: 'zset', value: [['one', 1], ['two', 2.5], ['top', 'inf']] });
    expect(byKey.get('"hash:a"')).toMatchObject({ type: 'hash', value: [['f1', 'v1'], ['f2', 'v2']] });
    if (fieldTtls) expect((byKey.get('"hash:a"')!.field_expire_ms as Array<[string, number]>).map(([f]) => f)).toEqual(['f1']);
    else expect(byKey.get('"hash:a"')).not.toHaveProperty('field_expire_ms');
    expect(byKey.get('"stream:a"')).toMatchObject({
      type: 'stream',
      value: {
        length: 3, last_id: '3-1', entries: [['1-1', ['f', 'v1-1']], ['2-1', ['f', 'v2-1']], ['3-1', ['f', 'v3-1']]],
        groups: [{ name: 'g', last_delivered_id: '2-1', pel: [['1-1', 'alice', 1], ['2-1', 'alice', 1]], consumers: [{ name: 'alice', pel: ['1-1', '2-1'] }] }],
      },
    });

    // The writes: in the order of their offsets, after the snapshot's.
    const writes = events.slice(endAt + 1) as Write[];
    expect(writes.every((e) => e.event === 'write')).toBe(true);
    expect(writes.map((w) => w.offset)).toEqual([...writes.map((w) => w.offset)].sort((a, b) => a - b));
    expect(writes[0]!.offset).toBeGreaterThan(start.offset as number);
    const find = (command: string, key: unknown) => {
      const found = writes.filter((w) => w.command === command && JSON.stringify(w.keys) === JSON.stringify([key]));
      expect(found, `${command} ${JSON.stringify(key)}`).toHaveLength(1);
      return found[0]!;
    };
    expect(find('set', 'live:s')).toMatchObject({ db: 0, class: 'string', args: ['live:s', '1'], tx: null });
    expect(find('set', { b64: '/gE=' })).toMatchObject({ class: 'string', args: [{ b64: '/gE=' }, { b64: 'wyj/' }], tx: null });
    expect(find('lpush', 'list:a')).toMatchObject({ class: 'list', tx: null });
    expect(find('sadd', 'set:a')).toMatchObject({ class: 'set', tx: null });
    expect(find('zadd', 'zset:a')).toMatchObject({ class: 'zset', tx: null });
    expect(find('hset', 'hash:a')).toMatchObject({ class: 'hash', tx: null });
    expect(find('xadd', 'stream:a')).toMatchObject({ class: 'stream', args: ['stream:a', '4-1', 'f', 'v4'], tx: null });
    expect(find('del', 'str:plain')).toMatchObject({ class: 'generic', tx: null });

    // MULTI/EXEC: SET, HSET, INCR (GET is not replicated) are writes 0, 1, 2 of 3; the EVAL's are 0, 1 of 2.
    const block = [find('set', 'tx:a'), find('hset', 'tx:h'), find('incr', 'tx:n')];
    const script = [find('set', 'ev:s'), find('rpush', 'ev:l')];
    for (const writesOf of [block, script]) {
      const id = writesOf[0]!.tx!.id;
      expect(writesOf.map((w) => w.tx)).toEqual(writesOf.map((_, index) => ({ id, index, count: writesOf.length })));
      expect(writes.filter((w) => w.tx?.id === id)).toEqual(writesOf);
      // The block's id: the replid and the offset of EXEC's last byte, past its writes.
      const [replid, offset] = id.split('-');
      expect(replid).toBe(writesOf[0]!.replid);
      expect(Number(offset)).toBeGreaterThan(writesOf[writesOf.length - 1]!.offset);
    }
    expect(block[0]!.tx!.id).not.toBe(script[0]!.tx!.id);
    expect(find('set', 'marker').tx).toBeNull();
  }, 60_000);

  it('validates with --partitions 3 and --format json+resp: partitions, copies, blocks and resp as the test\'s writes say', async () => {
    const [src, dst] = await Promise.all([startRedisServer(['--repl-diskless-sync-delay', '0']), startRedisServer()]);
    servers.push(src, dst);
    const source = await RedisClient.connect(src.port);
    const target = await RedisClient.connect(dst.port);
    clients.push(source, target);
    const N = 3;
    const partitionOf = (key: unknown) => hashSlot(bytesOf(key)) % N;

    // Before: a snapshot with keys of several types and partitions, one in another database.
    await source.ok('SET', 'str:plain', 'hello');
    await source.ok('SET', BINARY_KEY, BINARY_VALUE);
    await source.ok('RPUSH', 'list:a', 'a', 'b');
    await source.ok('SADD', 'set:a', 'x');
    await source.ok('HSET', 'hash:a', 'f1', 'v1');
    await source.ok('ZADD', 'zset:a', '1', 'one');
    await source.ok('XADD', 'stream:a', '1-1', 'f', 'v');
    await source.ok('SELECT', 3);
    await source.ok('SET', 'db3:k', 'v');
    await source.ok('SELECT', 0);

    const run = await publishValues(src, dst, { partitions: N, format: 'json+resp' });

    // During: writes naming a key, a keyless one (FLUSHDB of an empty database), and a block whose keyed
    // writes are in every partition, with a keyless write (SWAPDB of two empty databases) among them.
    const block: Array<[string, string | null]> = [['set', 'tx:a'], ['incr', 'tx:n'], ['hset', 'tx:h'], ['swapdb', null], ['set', 'tx:b']];
    expect(new Set(block.filter(([, k]) => k !== null).map(([, k]) => partitionOf(k))).size).toBe(N);
    await source.ok('SET', 'live:s', '1');
    await source.ok('SET', BINARY_KEY_2, BINARY_VALUE);
    await source.ok('SELECT', 7);
    await source.ok('FLUSHDB');
    await source.ok('SELECT', 0);
    await source.ok('MULTI');
    await source.ok('SET', 'tx:a', '1');
    await source.ok('INCR', 'tx:n');
    await source.ok('HSET', 'tx:h', 'f', 'v');
    await source.ok('SWAPDB', 5, 6);
    await source.ok('SET', 'tx:b', '2');
    expect(((await source.ok('EXEC')) as Reply[]).length).toBe(5);
    const events = await stopAfterMarker(source, run, target);
    for (const e of events) {
      expect(e.id).toBe(expectedId(e));
      expect(e.source).toBe(`127.0.0.1:${src.port}`);
      expect(Object.keys(e).indexOf('partition')).toBe(Object.keys(e).indexOf('seq') + 1);
      expect([0, 1, 2]).toContain(e.partition);
      expect('resp' in e).toBe(e.event === 'write');
    }
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);

    // The lifecycle events: a copy for each partition, /<partition> after the id; the snapshot's keys
    // between them, seq 3.. over all partitions, each in its key's partition.
    const starts = events.slice(0, N);
    expect(starts.map((e) => [e.event, e.seq, e.partition, e.id])).toEqual(
      [0, 1, 2].map((n) => ['full-sync-start', 2, n, `${starts[0]!.replid}-${starts[0]!.offset}-2~${/~([0-9a-f]{8})/.exec(starts[0]!.id as string)![1]}/${n}`]));
    const endAt = events.findIndex((e) => e.event === 'full-sync-end');
    const snapshot = events.slice(N, endAt);
    expect(snapshot.every((e) => e.event === 'snapshot' && e.offset === starts[0]!.offset)).toBe(true);
    expect(snapshot.map((e) => e.seq)).toEqual(snapshot.map((_, i) => i + 3));
    expect(snapshot.map((e) => e.partition)).toEqual(snapshot.map((e) => partitionOf(e.key)));
    expect(snapshot.map((e) => `${e.db}/${JSON.stringify(e.key)}`).sort()).toEqual([
      '0/"hash:a"', '0/"list:a"', '0/"set:a"', '0/"str:plain"', '0/"stream:a"', '0/"zset:a"', '0/{"b64":"AP+Aaw=="}', '3/"db3:k"',
    ]);
    const ends = events.slice(endAt, endAt + N);
    expect(ends.map((e) => [e.event, e.offset, e.seq, e.count, e.partition])).toEqual(
      [0, 1, 2].map((n) => ['full-sync-end', starts[0]!.offset, 3 + snapshot.length, snapshot.length, n]));

    // The writes: each naming a key in its first key's partition; FLUSHDB and SWAPDB a copy in each; resp
    // is the command with the event's args.
    const writes = events.slice(endAt + N) as Array<Write & { partition: number; resp: string }>;
    expect(writes.every((e) => e.event === 'write')).toBe(true);
    for (const w of writes) {
      const [name, ...args] = respArgs(w.resp);
      expect(name!.toString('latin1').toLowerCase()).toBe(w.command);
      expect(args).toEqual(w.args.map(bytesOf));
      if (w.keys.length > 0) expect(w.partition).toBe(partitionOf(w.keys[0]));
    }
    const placed = writes.map((w) => [w.command, w.keys[0] ?? null, w.partition]);
    const everywhere = (command: string) => [0, 1, 2].map((n) => [command, null, n]);
    expect(placed).toEqual([
      ['set', 'live:s', partitionOf('live:s')],
      ['set', { b64: '/gE=' }, partitionOf({ b64: '/gE=' })],
      ...everywhere('flushdb'),
      ...block.flatMap(([command, key]) => (key === null ? everywhere(command) : [[command, key, partitionOf(key)]])),
      ['set', 'marker', partitionOf('marker')],
    ]);
    expect(writes.find((w) => w.command === 'flushdb')).toMatchObject({ db: 7, class: 'generic', keys: [], args: [], tx: null });

    // The block: one tx id; in each partition, index and count among its writes there (SWAPDB in all).
    const inBlock = writes.filter((w) => w.tx !== null);
    expect(new Set(inBlock.map((w) => w.tx!.id)).size).toBe(1);
    for (const n of [0, 1, 2]) {
      const expected = block.filter(([, key]) => key === null || partitionOf(key) === n);
      expect(inBlock.filter((w) => w.partition === n).map((w) => [w.command, w.keys[0] ?? null, w.tx!.index, w.tx!.count]))
        .toEqual(expected.map(([command, key], index) => [command, key, index, expected.length]));
    }
  }, 60_000);
});
