// What becomes of a key a cluster shard's DEL names (src/cluster/migration-tracker.ts): moved by a slot
// migration (its import was read in another shard's stream), deleted by a client, or not decided until
// the barrier has read the streams that may still hold its import. Hand-derived cases over the import
// the tracker saw and how the deleting shard stood towards the key's slot; the open slots of a CLUSTER
// NODES reply, which is where those states come from; and the tracker against a real cluster (three
// redis-server --cluster-enabled yes, a slot set migrating by CLUSTER SETSLOT), the streams' commands
// handed to it by the test in the order that needs the barrier: a DEL before its key's import.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeDeletedKey, MigrationTracker, type ShardSlots } from '../src/cluster/migration-tracker.js';
import { HASH_SLOTS, hashSlot } from '../src/cluster/hash-slot.js';
import { parseMigratingSlots, readTopology, TopologyError } from '../src/cluster/topology.js';
import type { SourceEvent } from '../src/pipeline/source.js';
import { commandOfArgs } from '../src/replica/events.js';
import { parseRedisUrl } from '../src/replica/redis-url.js';
import { RedisConnection } from '../src/sync/connection.js';
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js';
import { haveRedisServer } from './helpers/redis-server.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

/** A's standing: slots 0-99 its own, 100-199 B's, 200-299 C's; `migrating`: slot → shard. */
function standing(migrating: Array<[number, string]> = []): ShardSlots {
  const owners: Array<string | undefined> = new Array(HASH_SLOTS);
  owners.fill(A, 0, 100).fill(B, 100, 200).fill(C, 200, 300);
  return { owners, migrating: new Map(migrating) };
}

describe('judgeDeletedKey: a DEL from shard A', () => {
  it('a key another shard imported is moved there, whatever A\'s states say or whether they were read', () => {
    expect(judgeDeletedKey(A, 5, B, 'unread')).toEqual({ kind: 'moved', to: B });
    expect(judgeDeletedKey(A, 5, B, standing())).toEqual({ kind: 'moved', to: B });
    expect(judgeDeletedKey(A, 150, C, standing([[150, B]]))).toEqual({ kind: 'moved', to: C });
    expect(judgeDeletedKey(A, 5, B, 'settled')).toEqual({ kind: 'moved', to: B });
  });

  it('a key A serves stably is a client\'s delete, once A\'s states are known', () => {
    expect(judgeDeletedKey(A, 5, undefined, standing())).toEqual({ kind: 'deleted' });
    // A's own import of it earlier (it came to A, and a client deletes it there) is no move away from A.
    expect(judgeDeletedKey(A, 5, A, standing())).toEqual({ kind: 'deleted' });
    // Another slot of A's migrating does not matter.
    expect(judgeDeletedKey(A, 5, undefined, standing([[6, B]]))).toEqual({ kind: 'deleted' });
  });

  it('without A\'s states read after the DEL, a key not imported waits (for them)', () => {
    expect(judgeDeletedKey(A, 5, undefined, 'unread')).toEqual({ kind: 'wait', on: [] });
    expect(judgeDeletedKey(A, 5, A, 'unread')).toEqual({ kind: 'wait', on: [] });
  });

  it('a key in a slot A is migrating waits on the shard it goes to', () => {
    expect(judgeDeletedKey(A, 5, undefined, standing([[5, B]]))).toEqual({ kind: 'wait', on: [B] });
  });

  it('a key in a slot A no longer serves waits on the shard serving it, and on one it was migrating to', () => {
    expect(judgeDeletedKey(A, 150, undefined, standing())).toEqual({ kind: 'wait', on: [B] });
    expect(judgeDeletedKey(A, 250, undefined, standing([[250, B]]))).toEqual({ kind: 'wait', on: [B, C] });
    expect(judgeDeletedKey(A, 150, undefined, standing([[150, B]]))).toEqual({ kind: 'wait', on: [B] });
  });

  it('a key of a slot no shard serves, and none imports, is a client\'s delete', () => {
    expect(judgeDeletedKey(A, 9000, undefined, standing())).toEqual({ kind: 'deleted' });
  });

  it('once the barrier passed, a key no import was read of is a client\'s delete', () => {
    expect(judgeDeletedKey(A, 5, undefined, 'settled')).toEqual({ kind: 'deleted' });
    expect(judgeDeletedKey(A, 150, A, 'settled')).toEqual({ kind: 'deleted' });
  });
});

describe('parseMigratingSlots', () => {
  it('reads the slots the myself line migrates away, not those it imports, nor other lines\' markers', () => {
    const text = [
      `${B} 127.0.0.1:30002@40002 master - 0 1700000000000 2 connected 5461-10922 [7-<-${C}]`,
      `${A} 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [5->-${B}] [6->-${C}] [9000-<-${C}]`,
      '',
    ].join('\n');
    const open = parseMigratingSlots(text);
    expect(open.self).toBe(A);
    expect([...open.migrating]).toEqual([[5, B], [6, C]]);
  });

  it('a node moving nothing has none; a reply without a myself line is refused', () => {
    expect(parseMigratingSlots(`${A} 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-16383\n`).migrating.size).toBe(0);
    expect(() => parseMigratingSlots(`${A} 127.0.0.1:30001@40001 master - 0 0 1 connected 0-16383\n`)).toThrow(TopologyError);
  });
});

describe.skipIf(!haveRedisServer())('MigrationTracker on a real cluster', () => {
  let cluster: RedisCluster;
  /** The shard a slot is migrated from and the one it goes to; their masters' ports. */
  let from: string;
  let to: string;
  let ports: Map<string, number>;
  const abort = new AbortController();
  /** What the tracker's barriers wait for: a shard's stream handed over up to an offset, released by the test. */
  const waits: Array<{ shard: string; offset: number; release: () => void }> = [];
  let tracker: MigrationTracker;
  const replid = 'f'.repeat(40);
  /**
   * A command of a stream, at offset 0: masters without replicas keep master_repl_offset 0, and a states
   * read covers the DELs at or below its master's offset.
   */
  const command = (...args: string[]) => commandOfArgs(0, args.map((a) => Buffer.from(a)), 0, 0);
  const connect = (shard: string) => RedisConnection.open({ endpoint: parseRedisUrl(`redis://127.0.0.1:${ports.get(shard)}`), role: 'node' });
  const ask = async <T>(shard: string, question: (c: RedisConnection) => Promise<T>): Promise<T> => {
    const c = await connect(shard);
    try {
      return await question(c);
    } finally {
      c.close();
    }
  };
  /** A key (hash-tagged) of a slot `shard` serves. */
  const keyOf = (shard: string, tag: string): string => {
    for (let i = 0; ; i++) if (owners.get(hashSlot(Buffer.from(`{${tag}${i}}`))) === shard) return `{${tag}${i}}`;
  };
  let owners: Map<number, string>;

  beforeAll(async () => {
    cluster = await startRedisCluster({ replicasPerMaster: 0 });
    ({ owners, ports } = await cluster.slotOwners());
    [from, to] = [owners.get(0)!, owners.get(16383)!];
    tracker = new MigrationTracker({
      shardOfNode: (id) => id,
      connectToMaster: connect,
      handedOver: (shard, at) => new Promise((release) => waits.push({ shard, offset: at, release })),
      signal: abort.signal,
    });
    tracker.noteOwners(await readTopology(`redis://127.0.0.1:${ports.get(from)}`));
  }, 60_000);

  afterAll(async () => {
    abort.abort();
    await cluster?.stop();
  });

  it('a DEL of a key in a migrating slot waits for the importing shard\'s stream: moved when its import comes, deleted when none does', async () => {
    const moving = keyOf(from, 'm');
    const slot = hashSlot(Buffer.from(moving));
    await ask(to, (c) => c.ok(['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from]));
    await ask(from, (c) => c.ok(['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to]));

    // The source shard's DEL first: it waits (a promise), on the importing shard, up to its master's offset now.
    let decided: SourceEvent | null = null;
    const del = tracker.see(command('DEL', moving), replid, from);
    expect(del).toBeInstanceOf(Promise);
    void (del as Promise<SourceEvent>).then((e) => { decided = e; });
    const importerOffset = Number((await ask(to, (c) => c.info('replication'))).get('master_repl_offset'));
    await until(() => waits.length === 1);
    expect([waits[0]!.shard, waits[0]!.offset >= importerOffset]).toEqual([to, true]);
    expect(decided).toBeNull();
    // The import, read from the other stream meanwhile: a move into its shard, from the slot's owner.
    const restore = tracker.see(command('RESTORE-ASKING', moving, '0', 'payload'), replid, to) as Extract<SourceEvent, { type: 'moved' }>;
    expect([restore.type, restore.moves.map((m) => [m.slot, m.from, m.to, m.value?.expireMs])]).toEqual(['moved', [[slot, from, to, null]]]);
    waits.shift()!.release();
    const moved = await del as Extract<SourceEvent, { type: 'moved' }>;
    expect([moved.type, moved.rest, moved.moves.map((m) => [String(Buffer.from(m.key)), m.from, m.to, m.value])]).toEqual(['moved', null, [[moving, from, to, null]]]);

    // Another key of that slot deleted, whose import never comes: the client's DEL, once the barrier passed.
    const other = `{${moving.slice(1, -1)}}other`;
    const userDel = tracker.see(command('DEL', other), replid, from);
    await until(() => waits.length === 1);
    waits.shift()!.release();
    const deleted = await userDel;
    expect(deleted.type).toBe('command');
  });

  it('a DEL in a slot served stably is a client\'s, without a query once a read covers it; a DEL of a moved key and another is split', async () => {
    const stable = keyOf(from, 's');
    const first = tracker.see(command('DEL', stable), replid, from);
    expect((await first).type).toBe('command');
    // The states read for it cover this later DEL (its offset is below the master's then): decided at once, no wait.
    const second = tracker.see(command('DEL', stable), replid, from);
    expect(second).not.toBeInstanceOf(Promise);
    expect((second as SourceEvent).type).toBe('command');

    const imported = keyOf(from, 'i');
    tracker.see(command('RESTORE-ASKING', imported, '4102444800000', 'payload', 'ABSTTL'), replid, to);
    const split = tracker.see(command('DEL', imported, stable), replid, from) as Extract<SourceEvent, { type: 'moved' }>;
    expect(split.type).toBe('moved');
    expect(split.moves.map((m) => String(Buffer.from(m.key)))).toEqual([imported]);
    expect([split.rest!.name, split.rest!.argCount, split.rest!.argText(1), split.rest!.offset]).toEqual(['del', 2, stable, split.command.offset]);
    expect(waits).toEqual([]);
  });
});

async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
