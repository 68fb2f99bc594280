// A reshard of a real Redis Cluster (six redis-server --cluster-enabled yes; redis-cli --cluster reshard
// of 1,000 slots, which drives CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE and SETSLOT NODE) while a
// client writes keys of several types across every slot. tail and publish (into a Redis stream) must
// report each key the migration moved as `moved` — one event in the stream of the shard it left, one in
// that of the shard it entered — and never as the RESTORE-ASKING and DEL that carried it; every write of
// the client exactly once; and the keyspace rebuilt from their output must be the cluster's: tail's lines
// applied in order with moved ignored (one keyspace for the whole cluster), publish's events applied per
// shard with moved applied (a shard's keyspace loses and gains the keys that moved). sync, into one server
// meanwhile, applies neither half of a move: its target must equal the cluster, with no shard copied again.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RespCommandWriter } from '../src/convert/resp-commands.js';
import { publish } from '../src/pipeline/publisher.js';
import { sync } from '../src/sync/sync.js';
import { redisStreamSink } from '../src/pipeline/sinks/redis-stream-sink.js';
import { byteTextBytes, type ByteText } from '../src/rdb/canonical-json.js';
import { encodeCommand } from '../src/resp/encode.js';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { clusterSuite } from './helpers/cluster-suite.js';
import { ClusterWriter } from './helpers/cluster-writer.js';
import { caughtUp } from './helpers/cluster-workload.js';
import { entryOf, readEventStream, rebuildPerShard, type ChangeEventJson } from './helpers/event-consumer.js';
import { canonicalDump, pipeInto } from './helpers/keyspace.js';
import { reshard } from './helpers/redis-cluster.js';
import { haveRedisServer, isError, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const live = haveRedisServer();
const validEvent = new Ajv2020({ strict: true }).compile(JSON.parse(readFileSync(new URL('../docs/event-schema.json', import.meta.url), 'utf8')));
const RESHARD_SLOTS = 1000;

/** A line of tail's output, or a change event: the fields both have that the test reads. */
type Line = ChangeEventJson & { cmd?: ByteText[]; slot?: number | null };

async function until(what: string, done: () => boolean | Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const text = (b: ByteText): string => Buffer.from(byteTextBytes(b)).toString('latin1');

/** A write as the tests compare them: its name lower-cased, then its arguments. */
const writeOf = (name: string, args: ByteText[]): string => JSON.stringify([name.toLowerCase(), ...args.map(text)]);

/**
 * Writes of several types as a cluster client sends them, each recorded once the cluster took it (and
 * replicates it: a DEL that deleted nothing is not replicated, so it is not recorded). Every member and
 * field is new, so that each write changes its key (an unchanged one is not replicated either).
 */
class Workload {
  readonly writes: string[] = [];
  constructor(private readonly writer: ClusterWriter, private readonly tag: string) {}

  async write(i: number): Promise<void> {
    const t = this.tag;
    const commands = [
      ['SET', `${t}:s:${i}`, `v${i}`],
      ['HSET', `${t}:h:${i % 97}`, `f${i}`, `${i}`],
      ['RPUSH', `${t}:l:${i % 89}`, `e${i}`],
      ['SADD', `${t}:set:${i % 83}`, `m${i}`],
      ['ZADD', `${t}:z:${i % 79}`, `${i}`, `m${i}`],
      ['INCR', `${t}:n:${i % 71}`],
    ];
    await this.send(commands[i % commands.length]!);
    if (i % 7 === 6) await this.send(['DEL', `${t}:s:${i - 36}`]);
  }

  async send(args: string[]): Promise<void> {
    const reply = await this.writer.call(...args);
    if (isError(reply)) throw new Error(`${args.join(' ')}: ${reply.error}`);
    if (args[0] !== 'DEL' || reply === 1) this.writes.push(writeOf(args[0]!, args.slice(1)));
  }
}

describe.skipIf(!live)('a cluster resharded while tail and publish follow it', () => {
  const suite = clusterSuite();
  let dir: string;
  const servers: RedisServer[] = [];
  const running: CliProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'redistap-reshard-'));
  }, 60_000);

  afterAll(async () => {
    for (const run of running) if (run.child.exitCode === null) run.child.kill('SIGKILL');
    for (const s of servers) await s.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function server(): Promise<RedisServer> {
    const s = await startRedisServer();
    servers.push(s);
    return s;
  }

  /** tail's lines applied in order to a fresh server (snapshot keys and writes; moved lines change nothing there): its keyspace. */
  async function replayTail(lines: Line[]): Promise<string[]> {
    const commands: Uint8Array[] = [];
    const writeKey = new RespCommandWriter((c) => commands.push(c));
    for (const l of lines) {
      if (l.cmd) commands.push(encodeCommand(l.cmd.map((a) => byteTextBytes(a))));
      else if (l.event === undefined && l.key !== undefined) writeKey.write(entryOf(l));
    }
    const into = await server();
    expect(pipeInto(into.port, Buffer.concat(commands)).errors).toBe(0);
    return canonicalDump(into.port).sort();
  }

  it('each key moved is reported as moved by both shards, every client write once, and the output rebuilds the keyspace', async () => {
    // Keys before the reshard, in every slot: those in the slots it moves are what MIGRATE must carry.
    const before = new Workload(suite.writer, 'pre');
    for (let i = 0; i < 12_000; i++) await before.write(i);
    await before.send(['SET', 'pre:ttl', 'x', 'PXAT', String(Date.now() + 3_600_000)]);

    const file = join(dir, 'reshard.jsonl');
    const tail = cli(['tail', `redis://127.0.0.1:${suite.cluster.nodes[0]!.port}`, '-o', file, '--checkpoint', join(dir, 'reshard.pos')]);
    // A filtered tail too: a moved key passes --prefix as a write of that key would.
    const filteredFile = join(dir, 'filtered.jsonl');
    const filtered = cli(['tail', `redis://127.0.0.1:${suite.cluster.nodes[0]!.port}`, '-o', filteredFile, '--checkpoint', join(dir, 'filtered.pos'), '--no-rdb', '--prefix', 'pre:s:']);
    running.push(tail, filtered);
    const target = await server();
    const publisher = publish({ source: `redis://127.0.0.1:${suite.cluster.nodes[0]!.port}`, sink: redisStreamSink(`redis://127.0.0.1:${target.port}?stream=ev`), snapshot: 'values' });
    const synced = await server();
    const syncPhases: string[] = [];
    const syncing = sync({ source: `redis://127.0.0.1:${suite.cluster.nodes[0]!.port}`, target: `redis://127.0.0.1:${synced.port}`,
      onEvent: (e) => { if (e.type === 'phase') syncPhases.push(e.phase); } });
    for (const run of [tail, filtered]) await until('tail\'s three snapshots', () => (run.err().match(/full sync done/g) ?? []).length === 3);
    await until('publish streaming', () => publisher.status.phase === 'streaming' || publisher.status.phase === 'failed');
    expect(publisher.status.phase).toBe('streaming');
    await until('sync streaming', () => syncing.status.phase === 'streaming' || syncing.status.phase === 'failed');
    expect(syncing.status.phase).toBe('streaming');

    // From the shard serving slot 0 (a reshard takes a shard's lowest slots first) to the one serving the last.
    const { owners: ownersBefore, ports } = await suite.cluster.slotOwners();
    const from = ownersBefore.get(0)!;
    const to = ownersBefore.get(16383)!;
    const during = new Workload(new ClusterWriter(suite.cluster.nodes.map((n) => n.port)), 'during');
    let writing = true;
    let count = 0;
    const writes = (async () => {
      for (; writing; count++) await during.write(count);
    })();
    await until('writes under way', () => count > 100);
    await reshard(ports.get(from)!, from, to, RESHARD_SLOTS);
    const afterReshard = count;
    await until('writes after the reshard', () => count > afterReshard + 100);
    writing = false;
    await writes;

    // A client's DEL of a key in a slot that stays where it is: in the shard the reshard took slots from, and in a third.
    const { owners } = await suite.cluster.slotOwners();
    const moved = new Set([...ownersBefore].filter(([slot, id]) => id === from && owners.get(slot) === to).map(([slot]) => slot));
    expect(moved.size).toBe(RESHARD_SLOTS);
    const third = [...ports.keys()].find((id) => id !== from && id !== to)!;
    const stableKey = async (shard: string) => {
      for (let i = 0; ; i += 6) {
        const slot = Number(await suite.writer.call('CLUSTER', 'KEYSLOT', `pre:s:${i}`));
        if (owners.get(slot) === shard && ownersBefore.get(slot) === shard && Number(await suite.writer.call('EXISTS', `pre:s:${i}`)) === 1) return `pre:s:${i}`;
      }
    };
    const stableDeletes = [await stableKey(from), await stableKey(third)];
    for (const key of stableDeletes) await before.send(['DEL', key]);

    // The keys the migration had to carry: those written before it, in the slots it moved (as the cluster lists them now).
    const carried: string[] = [];
    const receiver = (await suite.writer.client(ports.get(to)!))!;
    for (const slot of moved) {
      const keys = await receiver.ok('CLUSTER', 'GETKEYSINSLOT', String(slot), '100000') as Buffer[];
      carried.push(...keys.map(String).filter((k) => k.startsWith('pre:')));
    }
    // Enough of them for the test to mean something (about 1,000 of 16,384 slots of some 2,000 keys).
    expect(carried.length).toBeGreaterThan(50);

    const clientWrites = [...during.writes, ...stableDeletes.map((k) => writeOf('DEL', [k]))].sort();
    const linesOf = (path: string): Line[] => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : []);
    const tailLines = () => linesOf(file);
    const movedKeys = (events: Line[], side: 'from' | 'to') => new Set(events.filter((e) => e.event === 'moved' && e.shard === e[side]).map((e) => text(e.key!)));
    const allCarried = (events: Line[]) => carried.every((k) => movedKeys(events, 'from').has(k) && movedKeys(events, 'to').has(k));
    await until('tail\'s lines of every write and every key carried', () => {
      const lines = tailLines();
      return lines.filter((l) => l.cmd).length >= clientWrites.length && allCarried(lines);
    });
    const reader = await RedisClient.connect(target.port);
    const published = async () => (await readEventStream(reader, 'ev')).events as Line[];
    await until('publish\'s events of every write and every key carried', async () => {
      const events = await published();
      return events.filter((e) => e.event === 'write').length >= clientWrites.length && allCarried(events);
    });
    const keyed = (lines: Line[]) => lines.filter((l) => l.cmd || l.event === 'moved')
      .map((l) => JSON.stringify([l.shard, l.event ?? null, l.cmd ?? l.key])).filter((l) => l.includes('"pre:s:'));
    await until('the filtered tail\'s lines of pre:s: keys', () => keyed(linesOf(filteredFile)).length === keyed(tailLines()).length);
    for (const run of [tail, filtered]) {
      run.child.kill('SIGINT');
      expect(await run.exit).toBe(0);
    }
    // The filtered lines: exactly the moves and writes of pre:s: keys the whole output has (the shards interleave as they came).
    expect(keyed(linesOf(filteredFile)).sort()).toEqual(keyed(tailLines()).sort());
    expect(linesOf(filteredFile).filter((l) => l.cmd || l.event === 'moved').every((l) => text(l.key ?? l.cmd![1]!).startsWith('pre:s:'))).toBe(true);
    expect(keyed(linesOf(filteredFile)).filter((l) => l.includes('"moved"')).length).toBeGreaterThan(0);
    publisher.stop();
    await publisher.done;
    const keyspace = await suite.cluster.keyspace();

    // sync: its target is the cluster (neither the RESTORE-ASKING nor the DEL of a move applied), one copy per shard.
    const syncedReader = await RedisClient.connect(synced.port);
    await caughtUp(suite.writer, suite.cluster, async (key, value) => String(await syncedReader.call('GET', key)) === value);
    syncedReader.close();
    syncing.stop();
    await syncing.done;
    const withMarkers = await suite.cluster.keyspace();
    expect(canonicalDump(synced.port).filter((l) => !l.includes('"key":"redistap:')).sort()).toEqual(withMarkers);
    expect(syncPhases.filter((p) => p === 'copying')).toHaveLength(3);

    for (const [output, events] of [['tail', tailLines()], ['publish', await published()]] as const) {
      // No write of the migration's: every write is the client's, once.
      const written = events.filter((e) => e.cmd || e.event === 'write')
        .map((e) => (e.cmd ? writeOf(text(e.cmd[0]!), e.cmd.slice(1)) : writeOf(e.command!, e.args!)));
      expect(written.sort(), output).toEqual(clientWrites);

      // Each key moved once, by a moved event in each shard's stream, both naming the same move.
      const moves = events.filter((e) => e.event === 'moved');
      for (const side of ['from', 'to'] as const) {
        const keys = moves.filter((e) => e.shard === e[side]).map((e) => text(e.key!));
        expect(new Set(keys).size, `${output}: ${side} side`).toBe(keys.length);
      }
      expect(movedKeys(events, 'from'), output).toEqual(movedKeys(events, 'to'));
      expect(movedKeys(events, 'from').size, output).toBeGreaterThanOrEqual(carried.length);
      for (const e of moves) {
        expect([e.from, e.to, moved.has(e.slot!)], `${output}: ${text(e.key!)}`).toEqual([from, to, true]);
        expect(e.payload !== undefined, `${output}: a payload in the stream of the shard the key entered only`).toBe(e.shard === to);
      }
      for (const key of stableDeletes) expect(movedKeys(events, 'from').has(key), `${output}: ${key}`).toBe(false);
    }

    // tail: one keyspace, every line applied in order, moved lines ignored.
    expect(await replayTail(tailLines())).toEqual(keyspace);
    // publish: each shard's events into a server of its own, moved events applied: together, the suite.cluster.
    const events = await published();
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.filter((e) => !validEvent(e))).toEqual([]);
    const shards = new Set(events.filter((e) => e.event === 'full-sync-start').map((e) => e.shard!));
    expect((await rebuildPerShard(events, shards, server)).keyspace).toEqual(keyspace);
    reader.close();
  }, 300_000);
});
