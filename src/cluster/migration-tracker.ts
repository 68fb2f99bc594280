// A key moved by slot migration (redis-cli --cluster reshard: CLUSTER SETSLOT IMPORTING/MIGRATING, then
// MIGRATE) is no change of the cluster's data, though it reaches the shards' streams as writes: the
// importing shard B writes `RESTORE-ASKING k …` before it answers MIGRATE, and only then does the source
// shard A delete k and replicate `DEL k …` (MIGRATE is rewritten to DEL for replication). This module
// tells those two halves from a client's restore and delete, and makes `moved` events of them
// (docs/dev/cluster-replication-notes.md §4(d)), without depending on which of the two streams is read first:
//
// - every RESTORE-ASKING is a move into its shard (a client practically never sends one), kept in a
//   bounded map of recent imports;
// - a DEL from A whose keys are recent imports of another shard is the migration's other half;
// - a DEL of a key not (yet) seen imported, in a slot A is migrating or no longer serves, waits on a causal
//   barrier: B's import came before A's DEL, so it lies below B's master_repl_offset read now; A's stream
//   (only A's) is held until B's has been handed over up to there, and then the key is an import or not.
//
// Whether A serves a slot stably is read from A's master (CLUSTER NODES) together with its offset: a
// read made after a DEL says how things stood at the DEL (a slot migrating then is migrating or gone now),
// so one read covers every DEL of A up to that offset, and reads of one shard are at least
// STATE_READ_INTERVAL_MS apart: DELs in stable slots do not cost a query each, even one at a time.
import { sleep } from '../node/abortable-sleep.js';
import { withBackoff } from '../node/backoff.js';
import type { MovedEvent, SourceEvent, KeyMove } from '../pipeline/source.js';
import { commandOfArgs, type ReplicaCommand } from '../replica/events.js';
import { replyText } from '../resp/replies.js';
import type { RedisConnection } from '../sync/connection.js';
import { HASH_SLOTS, hashSlot } from './hash-slot.js';
import { parseClusterNodes, parseMigratingSlots, type ClusterTopology } from './topology.js';

/** Recent imports kept at most: the oldest is forgotten first (its DEL, if it still comes, waits on the barrier and is taken for a client's). */
const MAX_RECENT_IMPORTS = 200_000;
/** The least time between two reads of one shard's slot states: DELs that arrive meanwhile share the next. */
const STATE_READ_INTERVAL_MS = 50;

/** How a shard stood towards the slots when its master was asked: by shard (the IDs events name shards by). */
export interface ShardSlots {
  /** Slot → the shard serving it, as the shard's master saw the cluster. */
  owners: Array<string | undefined>;
  /** Slot → the shard it was migrating to. */
  migrating: Map<number, string>;
}

/** What became of one key of a DEL from shard `from`. */
export type Verdict =
  | { kind: 'moved'; to: string }
  | { kind: 'deleted' }
  /** Not decided yet: an import of it may still be unread in these shards' streams. */
  | { kind: 'wait'; on: string[] };

/**
 * How the shard that deleted a key stood towards its slot: its slot states read after the DEL; 'unread'
 * (none read yet that cover it); 'settled' once the barrier passed (every import made before the DEL has
 * been read: none means that a client deleted the key).
 */
export type Standing = ShardSlots | 'unread' | 'settled';

/**
 * The fate of a key of `slot` deleted by shard `from`: `importedInto` is the shard whose stream showed its
 * import last (undefined: none recent).
 */
export function judgeDeletedKey(from: string, slot: number, importedInto: string | undefined, standing: Standing): Verdict {
  if (importedInto !== undefined && importedInto !== from) return { kind: 'moved', to: importedInto };
  if (standing === 'settled') return { kind: 'deleted' };
  if (standing === 'unread') return { kind: 'wait', on: [] };
  const migratingTo = standing.migrating.get(slot);
  const owner = standing.owners[slot];
  if (owner === from && migratingTo === undefined) return { kind: 'deleted' };
  // Migrating away, or no longer ours: whoever it goes to, or serves it now, may have imported the key.
  const on = [...new Set([migratingTo, owner])].filter((s): s is string => s !== undefined && s !== from);
  return on.length === 0 ? { kind: 'deleted' } : { kind: 'wait', on };
}

/** What the tracker asks of the cluster source. */
export interface ClusterAccess {
  /** The followed shard a node belongs to (its ID as events name it); a node no followed shard has: its own ID. */
  shardOfNode(nodeId: string): string;
  /** A connection to the shard's master now (null: it has none known). */
  connectToMaster(shard: string): Promise<RedisConnection | null>;
  /** Resolves once the shard's stream has been handed over up to `offset` (at once for a shard not followed). */
  handedOver(shard: string, offset: number): Promise<void>;
  readonly signal: AbortSignal;
}

/** A shard's slot states and the master offset they cover (events up to it are judged by them). */
interface StatesRead {
  slots: ShardSlots;
  offset: number;
  startedMs: number;
}

interface DeletedKey {
  key: Uint8Array;
  slot: number;
  verdict: Verdict;
}

export class MigrationTracker {
  /** `db \0 key` (latin1: one character per byte) → the shard that imported it last. */
  private readonly imports = new Map<string, string>();
  /** Slot → the shard serving it, and the one before (as topology reads saw them change). */
  private readonly owners: Array<string | undefined> = new Array(HASH_SLOTS);
  private readonly previousOwners: Array<string | undefined> = new Array(HASH_SLOTS);
  private readonly states = new Map<string, StatesRead>();
  /** Shard → the shards whose streams a barrier of it waits on (no wait that closes a cycle is begun). */
  private readonly waitingOn = new Map<string, string[]>();

  constructor(private readonly cluster: ClusterAccess) {}

  /** A topology read: who serves each slot now (a slot changing hands keeps its previous shard: a late import's origin). */
  noteOwners(topology: ClusterTopology): void {
    for (const shard of topology.shards) {
      if (shard.master.failing) continue;
      const id = this.cluster.shardOfNode(shard.master.id);
      for (const [start, end] of shard.slots) {
        for (let slot = start; slot <= end; slot++) {
          if (this.owners[slot] === id) continue;
          this.previousOwners[slot] = this.owners[slot];
          this.owners[slot] = id;
        }
      }
    }
  }

  /**
   * The event to hand over for a command of `shard`'s stream: a moved event for a migration's half (a
   * promise when a DEL waits on the barrier), else the command as it came.
   */
  see(command: ReplicaCommand, replid: string, shard: string): SourceEvent | Promise<SourceEvent> {
    if (command.name === 'restore-asking' && command.argCount >= 4) return this.imported(command, replid, shard);
    if (command.name !== 'del') return { type: 'command', replid, command };
    const keys = deletedKeys(command, (key, slot) => judgeDeletedKey(shard, slot, this.importedInto(command.db, key), this.statesCovering(shard, command.offset)));
    if (!keys.some((k) => k.verdict.kind === 'wait')) return this.decided(command, replid, shard, keys);
    return this.settle(command, replid, shard, keys);
  }

  /** RESTORE-ASKING: a key migrated into `shard`, from the shard that served its slot before. */
  private imported(command: ReplicaCommand, replid: string, shard: string): MovedEvent {
    const key = command.arg(1);
    const slot = hashSlot(key);
    const name = importName(command.db, key);
    this.imports.delete(name); // moved to the end: the newest
    this.imports.set(name, shard);
    if (this.imports.size > MAX_RECENT_IMPORTS) this.imports.delete(this.imports.keys().next().value!);
    const owner = this.owners[slot];
    const from = owner !== undefined && owner !== shard ? owner : this.previousOwners[slot] ?? null;
    // Propagated with an absolute time (ABSTTL) when the key has one, else 0.
    const expireMs = Number(command.argText(2)) || null;
    return { type: 'moved', replid, command, moves: [{ key, slot, from, to: shard, value: { payload: command.arg(3), expireMs } }], rest: null };
  }

  private importedInto(db: number, key: Uint8Array): string | undefined {
    return this.imports.get(importName(db, key));
  }

  /** The DEL's keys that wait: their shard's slot states read (when those known do not cover it), then the barrier. */
  private async settle(command: ReplicaCommand, replid: string, shard: string, keys: DeletedKey[]): Promise<SourceEvent> {
    const slots = await this.readStates(shard, command.offset) ?? 'settled';
    for (const k of keys) if (k.verdict.kind === 'wait') k.verdict = judgeDeletedKey(shard, k.slot, this.importedInto(command.db, k.key), slots);
    const waitOn = new Set(keys.flatMap((k) => (k.verdict.kind === 'wait' ? k.verdict.on : [])));
    if (waitOn.size > 0) await this.barrier(shard, [...waitOn]);
    for (const k of keys) if (k.verdict.kind === 'wait') k.verdict = judgeDeletedKey(shard, k.slot, this.importedInto(command.db, k.key), 'settled');
    return this.decided(command, replid, shard, keys);
  }

  /** The event of a DEL whose keys are all decided: moved keys as a moved event, with a DEL of the others. */
  private decided(command: ReplicaCommand, replid: string, shard: string, keys: DeletedKey[]): SourceEvent {
    const moves: KeyMove[] = [];
    const deleted: Uint8Array[] = [];
    for (const { key, slot, verdict } of keys) {
      if (verdict.kind === 'moved') {
        moves.push({ key, slot, from: shard, to: verdict.to, value: null });
        this.imports.delete(importName(command.db, key));
      } else {
        deleted.push(key);
      }
    }
    if (moves.length === 0) return { type: 'command', replid, command };
    const rest = deleted.length === 0 ? null : commandOfArgs(command.db, [command.arg(0), ...deleted], command.firstOffset, command.offset);
    return { type: 'moved', replid, command, moves, rest };
  }

  /**
   * Holds `shard`'s stream until each of `others` has been handed over up to its master's offset now: any
   * import those shards made before the DEL is then known. A wait on a shard that waits (through others)
   * on this one would never end: it is left out, and what it would have told is taken as not imported.
   */
  private async barrier(shard: string, others: string[]): Promise<void> {
    const on = others.filter((other) => !this.reaches(other, shard));
    this.waitingOn.set(shard, on);
    try {
      await Promise.all(on.map(async (other) => {
        const offset = await this.ask(other, async (c) => Number((await c.info('replication')).get('master_repl_offset')));
        if (offset !== null) await this.cluster.handedOver(other, offset);
      }));
    } finally {
      this.waitingOn.delete(shard);
    }
  }

  /** Whether `from`'s barrier waits, directly or through others, on `to`'s stream. */
  private reaches(from: string, to: string, seen = new Set<string>()): boolean {
    if (from === to) return true;
    if (seen.has(from)) return false;
    seen.add(from);
    return (this.waitingOn.get(from) ?? []).some((next) => this.reaches(next, to, seen));
  }

  /** The slot states last read of `shard`, when they were read after `offset` of its stream. */
  private statesCovering(shard: string, offset: number): Standing {
    const read = this.states.get(shard);
    return read && read.offset >= offset ? read.slots : 'unread';
  }

  /**
   * The slot states of `shard` as its master tells them now (its offset first, then CLUSTER NODES, so
   * that the states are at least as new as the offset), read again until they cover `offset` (a node
   * that was the master before a failover may be behind it), each read no sooner than
   * STATE_READ_INTERVAL_MS after the last. Null when the source stopped first.
   */
  private async readStates(shard: string, offset: number): Promise<ShardSlots | null> {
    for (;;) {
      const last = this.states.get(shard);
      if (last && last.offset >= offset) return last.slots; // covering already: the DEL waits on another shard only
      const wait = (last?.startedMs ?? 0) + STATE_READ_INTERVAL_MS - Date.now();
      if (wait > 0) await sleep(wait, this.cluster.signal);
      const startedMs = Date.now();
      const read = await this.ask(shard, async (c) => {
        const masterOffset = Number((await c.info('replication')).get('master_repl_offset'));
        const nodes = replyText(await c.ok(['CLUSTER', 'NODES']));
        return { slots: this.slotsOf(nodes), offset: masterOffset, startedMs };
      });
      if (read === null) return null;
      this.states.set(shard, read);
    }
  }

  /** A CLUSTER NODES reply as the slots of the shard that answered, by shard; its view of owners noted too. */
  private slotsOf(nodes: string): ShardSlots {
    const topology = parseClusterNodes(nodes);
    this.noteOwners(topology);
    const owners: Array<string | undefined> = new Array(HASH_SLOTS);
    for (const shard of topology.shards) {
      const id = this.cluster.shardOfNode(shard.master.id);
      for (const [start, end] of shard.slots) owners.fill(id, start, end + 1);
    }
    const migrating = new Map<number, string>();
    for (const [slot, node] of parseMigratingSlots(nodes).migrating) migrating.set(slot, this.cluster.shardOfNode(node));
    return { owners, migrating };
  }

  /**
   * `question` asked of the shard's master, again after a failure (the master may be failing over: the
   * shard's stream waits meanwhile, as it would for its link); null once the source stopped.
   */
  private ask<T>(shard: string, question: (c: RedisConnection) => Promise<T>): Promise<T | null> {
    // Each attempt asks the master the shard has then.
    return withBackoff(async () => {
      const connection = await this.cluster.connectToMaster(shard);
      if (!connection) throw new Error(`no master of shard ${shard} answers`);
      try {
        return await question(connection);
      } finally {
        connection.close();
      }
    }, () => true, { signal: this.cluster.signal }).catch(() => null);
  }
}

/** The keys of a DEL with their slots, each judged. */
function deletedKeys(command: ReplicaCommand, judge: (key: Uint8Array, slot: number) => Verdict): DeletedKey[] {
  const keys: DeletedKey[] = [];
  for (let i = 1; i < command.argCount; i++) {
    const key = command.arg(i);
    const slot = hashSlot(key);
    keys.push({ key, slot, verdict: judge(key, slot) });
  }
  return keys;
}

function importName(db: number, key: Uint8Array): string {
  return `${db}\0${Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1')}`;
}
