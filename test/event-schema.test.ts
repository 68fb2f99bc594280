// docs/event-schema.json against the change events: hand-written examples of every kind (taken from
// docs/event-schema.md, not made by our code) validate and broken ones do not; then every event a live
// publish writes into a Redis stream (a snapshot of every type, writes, a MULTI/EXEC and an EVAL block)
// validates, with ids, tx places and snapshot seqs as the test's own writes say they must be.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, describe, expect, it } from 'vitest';
import { publish } from '../src/pipeline/publisher.js';
import { redisStreamSink } from '../src/pipeline/sinks/redis-stream-sink.js';
import { haveRedisServer, isError, RedisClient, startRedisServer, type RedisServer, type Reply } from './helpers/redis-server.js';

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
const head = (event: string, offset: number, seq: number, replid = R): Json =>
  ({ v: 1, id: `${replid}-${offset}-${seq}`, event, source: '10.0.0.5:6379', replid, offset, seq });

// The examples of docs/event-schema.md, one history: a snapshot of 8 keys at offset 1000, then writes.
const EXAMPLES: Record<string, Json> = {
  'full-sync-start': { ...head('full-sync-start', 1000, 0), reason: 'no-checkpoint', snapshot: 'values' },
  'snapshot string': { ...head('snapshot', 1000, 1), db: 0, key: 'user:1:name', type: 'string', expire_ms: null, value: 'Ada' },
  'snapshot binary string': { ...head('snapshot', 1000, 2), db: 0, key: { b64: 'AP+Aaw==' }, type: 'string', expire_ms: 4102444800000, value: { b64: 'wyj/' } },
  'snapshot list': { ...head('snapshot', 1000, 3), db: 0, key: 'queue', type: 'list', expire_ms: null, value: ['a', '', { b64: '/w==' }] },
  'snapshot set': { ...head('snapshot', 1000, 4), db: 1, key: 'tags', type: 'set', expire_ms: null, value: ['blue', 'red'] },
  'snapshot zset': { ...head('snapshot', 1000, 5), db: 0, key: 'scores', type: 'zset', expire_ms: null, value: [['low', '-inf'], ['ada', 1.5], ['bob', 1e+300], ['top', 'inf']] },
  'snapshot hash': {
    ...head('snapshot', 1000, 6), db: 0, key: 'user:1', type: 'hash', expire_ms: null,
    value: [['name', 'Ada'], ['session', 'x9']], field_expire_ms: [['session', 4102444800000]],
  },
  'snapshot stream': {
    ...head('snapshot', 1000, 7), db: 0, key: 'orders', type: 'stream', expire_ms: null,
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
    ...head('snapshot', 1000, 8), db: 0, key: 'old', type: 'stream', expire_ms: null,
    value: { length: 0, last_id: '5-0', entries: [], groups: [{ name: 'g', last_delivered_id: '0-0', pel: [], consumers: [] }] },
  },
  'full-sync-end': { ...head('full-sync-end', 1000, 9), keys: 8 },
  'snapshot without value (--snapshot keys)': { ...head('snapshot', 1000, 1), db: 0, key: 'user:1', type: 'hash', expire_ms: null },
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
  'full-sync-start, resync, no replid (SYNC-style transfer)': { ...head('full-sync-start', 0, 0, ''), reason: 'resync', snapshot: 'none' },
};

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
  'an unknown kind': [{ ...EXAMPLES.write!, event: 'delete' }, 'write', '/event const'],
  'a write without tx': [without(EXAMPLES.write!, 'tx'), 'write', '/ required'],
  'a class that is a letter': [{ ...EXAMPLES.write!, class: '$' }, 'write', '/class enum'],
  'a tx without count': [{ ...EXAMPLES['write, first of a block']!, tx: { id: `${R}-1160`, index: 0 } }, 'write', '/tx required'],
  'a replid that is not one': [{ ...EXAMPLES.write!, replid: 'primary' }, 'write', '/replid pattern'],
  'field_expire_ms on a string': [{ ...EXAMPLES['snapshot string']!, field_expire_ms: [['a', 1]] }, 'snapshot', '/field_expire_ms false schema'],
  'field_expire_ms without value': [without(EXAMPLES['snapshot hash']!, 'value'), 'snapshot', '/ dependentRequired'],
  'a zset member without its score': [{ ...EXAMPLES['snapshot zset']!, value: [['ada']] }, 'snapshot', '/value/0 minItems'],
  'a hash value as an object': [{ ...without(EXAMPLES['snapshot hash']!, 'field_expire_ms'), value: { name: 'Ada' } }, 'snapshot', '/value type'],
  'an empty list': [{ ...EXAMPLES['snapshot list']!, value: [] }, 'snapshot', '/value minItems'],
  'a stream with part of the v2 members': [
    { ...EXAMPLES['snapshot stream']!, value: without(EXAMPLES['snapshot stream']!.value as Json, 'entries_added') }, 'snapshot', '/value dependentRequired',
  ],
  'a snapshot mode that is not one': [{ ...EXAMPLES['full-sync-start']!, snapshot: 'all' }, 'full-sync-start', '/snapshot enum'],
  'a replid-changed seq that is not 1': [{ ...EXAMPLES['replid-changed']!, seq: 0 }, 'replid-changed', '/seq const'],
};

describe('docs/event-schema.json', () => {
  it.each(Object.entries(EXAMPLES))('accepts the example: %s', (_, event) => {
    expect(problems(event)).toEqual([]);
  });

  it('accepts every example line of docs/event-schema.md', () => {
    const doc = readFileSync(new URL('../docs/event-schema.md', import.meta.url), 'utf8');
    const lines = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n').filter(Boolean));
    expect(lines.length).toBeGreaterThanOrEqual(12);
    for (const line of lines) {
      const event = JSON.parse(line) as Json;
      expect(problems(event), line).toEqual([]);
      expect(event.id).toBe(`${event.replid}-${event.offset}-${event.seq}`);
    }
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

    const phases: string[] = [];
    const warnings: string[] = [];
    const p = publish({
      source: `redis://127.0.0.1:${src.port}`, sink: redisStreamSink(`redis://127.0.0.1:${dst.port}`), snapshot: 'values',
      onEvent: (e) => {
        if (e.type === 'phase') phases.push(e.phase);
        else if (e.type === 'warning') warnings.push(e.message);
      },
    });
    await waitFor('the snapshot published', () => phases.includes('streaming') || phases.includes('failed'));

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
    await source.ok('SET', 'marker', 'last');
    const end = Number(await source.info('replication', 'master_repl_offset'));
    await waitFor('the marker confirmed', () => p.status.confirmed.offset >= end || phases.includes('failed'));
    p.stop();
    await p.done;
    expect(warnings).toEqual([]);

    // Every entry of the stream: fields id and event.
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
    for (const e of events) {
      expect(e.id).toBe(`${e.replid}-${e.offset}-${e.seq}`);
      expect(e.source).toBe(`127.0.0.1:${src.port}`);
    }
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect([...new Set(events.map((e) => e.event))].sort()).toEqual(['full-sync-end', 'full-sync-start', 'snapshot', 'write']);

    // The snapshot: start (seq 0), the keys (seq 1..n), end (seq n + 1, keys n), all at the start's offset.
    const start = events[0]!;
    expect(start).toMatchObject({ event: 'full-sync-start', seq: 0, reason: 'no-checkpoint', snapshot: 'values' });
    const endAt = events.findIndex((e) => e.event === 'full-sync-end');
    const snapshot = events.slice(1, endAt);
    expect(snapshot.every((e) => e.event === 'snapshot' && e.offset === start.offset && e.replid === start.replid)).toBe(true);
    expect(snapshot.map((e) => e.seq)).toEqual(snapshot.map((_, i) => i + 1));
    expect(events[endAt]).toMatchObject({ offset: start.offset, seq: snapshot.length + 1, keys: snapshot.length });
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
});
