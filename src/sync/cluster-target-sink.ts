// sync's target when it is a Redis Cluster (docs/dev/cluster-replication-notes.md §8): the pipeline's
// sink, writing each slot's messages to the master serving it, as fenced blocks of that slot alone (a
// MULTI/EXEC may only touch one slot), each ending with the slot's position (slot-fence.ts). The state key
// proper holds a floor: a position every write before which is applied in every slot, written about once
// a second and at each step. A restart continues from the floor, and skips a write at or before its
// slot's position: of one server, its offset against the position's; of a cluster's shard, against the
// checkpoint of that shard's history in it (a slot's writes may come from two shards while the source
// reshards, and the slot's position holds both).
//
// A block answered MOVED, ASK or TRYAGAIN (the target resharding, or failed over) applied nothing, and
// is sent again where the slot is, in the slot's order (slot-lanes.ts); CLUSTERDOWN, READONLY or LOADING
// (a master failing) make the attempt start over, reading the topology again. Steps (a copy's start and
// end, FLUSHALL) run once everything before them is applied, and before anything after them is sent.
import type { ConnectionOptions } from 'node:tls';
import { HASH_SLOTS, hashSlot, slotRanges } from '../cluster/hash-slot.js';
import { readTopology, urlOfNode } from '../cluster/topology.js';
import { covers, positionFields, positionOf, type Position } from '../pipeline/position.js';
import type { Sink, SinkBatch, StoredPosition } from '../pipeline/sink.js';
import { parseRedisUrl } from '../replica/redis-url.js';
import { CommandBuffer, type BufferedArg } from '../resp/command-buffer.js';
import { RespErrorReply, type RespValue } from '../resp/replies.js';
import { checkBlock, originsOf, type Origin } from './block-replies.js';
import type { BlockOutcome } from './fenced-block.js';
import { ConnectionError, RedisConnection } from './connection.js';
import { fencedBlock, TargetLost } from './fenced-block.js';
import type { KeyRoute } from './key-route.js';
import { SinkOrder } from './sink-order.js';
import { SlotFence } from './slot-fence.js';
import { isRedirect, redirectOf, SlotLanes, type Redirect } from './slot-lanes.js';
import { decodeState, type SyncState } from './sync-state.js';
import { SyncError } from './sync-error.js';
import type { Sync } from './sync.js';
import { claimTarget, continuesFrom, type OwnedKeys } from './target-claim.js';
import { leaseStep, ownedKeys, scanKeys } from './target-keys.js';
import type { TargetLease } from './target-lease.js';
import type { SlotRanges, TargetCommands, TargetMessage, TargetStep } from './target-message.js';

/** Replies of a cluster node that mean the slot is not (or not yet) its: nothing of the block applied. */
const NOT_HERE = new Set(['MOVED', 'ASK', 'TRYAGAIN', 'CLUSTERDOWN', 'READONLY', 'LOADING']);
/** How often the floor is written, at most (a restart re-reads, and skips, the writes since). */
const FLOOR_INTERVAL_MS = 1000;

export class ClusterTargetSink implements Sink<TargetMessage> {
  readonly name = 'the target cluster';
  readonly storesPosition = true;
  private readonly fence: SlotFence;
  /** The master serving each slot, as the topology read at connect says. */
  private readonly slotMaster: RedisConnection[] = new Array<RedisConnection>(HASH_SLOTS);
  private masters: RedisConnection[] = [];
  /** The masters by host:port, and those being connected to (a slot MOVED to a node not seen yet). */
  private readonly byAddress = new Map<string, Promise<RedisConnection>>();
  /** Each slot's blocks in order, sent again where the cluster redirects them. */
  private readonly lanes = new SlotLanes<RedisConnection>((slot) => this.slotMaster[slot]!, (slot, node) => this.moveSlot(slot, node),
    (slot, last) => new ConnectionError(`the target cluster kept refusing slot ${slot} (${last.message}): reading its topology again`, true));
  /** Each slot's position: the pipeline's after the last batch whose writes of it are applied (null: none since the copy). */
  private readonly at = new Array<Position | null>(HASH_SLOTS).fill(null);
  private from: Position | null = null;
  private route: unknown = null;
  /** A position every batch before which is applied (each slot's blocks), and the one the floor last got. */
  private applied: Position | null = null;
  private floorWritten: Position | null = null;
  private renewal: ReturnType<typeof setInterval> | null = null;
  private floorTimer: ReturnType<typeof setInterval> | null = null;
  /** The URL of the master holding the lease (release opens a connection of its own). */
  private homeUrl: string | null = null;
  /** Steps after everything before them (on every master), and a failure failing everything after it. */
  private readonly order = new SinkOrder();
  private onFailure: (error: unknown) => void = () => undefined;

  constructor(private readonly sync: Sync, private readonly lease: TargetLease, private readonly url: string,
    private readonly tls: ConnectionOptions | undefined, private readonly timeoutMs: number | undefined) {
    this.fence = new SlotFence(sync.stateKey, lease);
  }

  /** The master of the slot the state key, the lease and the floor are in. */
  private get home(): RedisConnection {
    return this.slotMaster[this.fence.stateSlot]!;
  }

  async connect(route: unknown, failed: (error: unknown) => void): Promise<void> {
    this.route = route;
    this.onFailure = failed;
    await this.openMasters();
    const sync = this.sync;
    const call = (args: BufferedArg[]) => this.slotCall(this.fence.stateSlot, args);
    await leaseStep(this.lease.refuseIfHeld(call));
    await leaseStep(this.lease.claim(call));
    await this.claimSlots();
    this.renewal = setInterval(() => this.renewLease(), this.lease.leaseMs / 3);
    this.floorTimer = setInterval(() => this.moveFloor(), FLOOR_INTERVAL_MS);
    const owned: OwnedKeys = {
      first: (keysRoute) => this.firstOwnedKey(keysRoute),
      delete: (keysRoute) => this.deleteOwnedKeys(keysRoute),
    };
    let stored = await this.readState();
    if (!(await continuesFrom(sync, stored, route, owned))) stored = null;
    if (!stored) await claimTarget(sync, owned);
    this.from = stored?.state === 'streaming' ? stored.position : null;
    if (this.from) {
      await this.readSlotPositions();
      this.applied = this.floorWritten = this.from;
      sync.applied(this.from, 0, 0);
    } else {
      // Everything is copied again: slots' positions of an earlier run must not be read by a later restart.
      await this.deleteSlotPositions();
    }
  }

  async readPosition(): Promise<StoredPosition | null> {
    return { position: this.from, sequence: 0, route: this.route };
  }

  write(batch: SinkBatch<TargetMessage>): Promise<void> {
    const first = batch.messages[0];
    const position = batch.position;
    if (!first || first.kind === 'commands') {
      let writes = 0;
      // Told once every batch before it is applied too: a slot's blocks sent again may end after later batches'.
      const applied = () => {
        if (!position) return;
        this.applied = position;
        this.sync.applied(position, writes, 1);
      };
      return this.order.run(false, async () => {
        writes = await this.sendCommands(batch);
      }, applied);
    }
    return this.order.run(true, () => this.runStep(first as TargetStep, position), () => {
      if (position) this.applied = position;
    });
  }

  /** Writes the floor where the writes stand (a restart reads fewer again), then closes the connections. */
  async close(): Promise<void> {
    if (this.renewal) clearInterval(this.renewal);
    if (this.floorTimer) clearInterval(this.floorTimer);
    this.renewal = this.floorTimer = null;
    if (!this.order.failure && !this.order.stepRunning) await this.moveFloor();
    for (const master of this.masters) master.close();
    this.masters = [];
  }

  /** Ends the lease, on a connection of its own (the pipeline closed the sink's before). */
  async release(): Promise<void> {
    if (!this.homeUrl) return;
    try {
      const home = await RedisConnection.open({ endpoint: parseRedisUrl(this.homeUrl), tls: this.tls, timeoutMs: this.timeoutMs, role: 'target' });
      await home.call(this.lease.releaseCommand()).finally(() => home.close());
    } catch {
      // Unreachable: the lease ends by itself.
    }
  }

  // ------------------------------------------------------------------ the cluster's masters

  /** A connection to every master serving slots; every slot must be served (else the cluster is down: retried). */
  private async openMasters(): Promise<void> {
    const topology = await readTopology(this.url, this.tls, this.timeoutMs).catch((err: unknown) => {
      throw new ConnectionError(`the target cluster's topology could not be read: ${(err as Error).message}`, true);
    });
    for (const shard of topology.shards) {
      if (shard.slots.length === 0 || shard.master.failing) continue;
      const master = await this.masterAt(shard.master);
      for (const [a, b] of shard.slots) {
        this.slotMaster.fill(master, a, b + 1);
        if (a <= this.fence.stateSlot && this.fence.stateSlot <= b) this.homeUrl = urlOfNode(this.url, shard.master);
      }
    }
    for (let slot = 0; slot < HASH_SLOTS; slot++) {
      if (!this.slotMaster[slot]) throw new ConnectionError(`no master of the target cluster serves slot ${slot} (failing over?)`, true);
    }
  }

  /** The connection to the master at `node`, opened once. */
  private masterAt(node: { host: string; port: number }): Promise<RedisConnection> {
    const address = `${node.host}:${node.port}`;
    let master = this.byAddress.get(address);
    if (!master) {
      master = RedisConnection.open({ endpoint: parseRedisUrl(urlOfNode(this.url, node)), tls: this.tls, timeoutMs: this.timeoutMs, role: 'target' }).then((opened) => {
        opened.onFailure((error) => this.fail(error));
        this.masters.push(opened);
        return opened;
      });
      master.catch(() => this.byAddress.delete(address));
      this.byAddress.set(address, master);
    }
    return master;
  }

  /** The cluster said MOVED: `node` serves the slot now. */
  private async moveSlot(slot: number, node: { host: string; port: number }): Promise<void> {
    this.slotMaster[slot] = await this.masterAt(node);
    if (slot === this.fence.stateSlot) this.homeUrl = urlOfNode(this.url, node);
  }

  /** A command on the master of `slot`, sent again where the cluster redirects it; its reply. */
  private slotCall(slot: number, args: BufferedArg[]): Promise<RespValue> {
    return this.lanes.run(slot, async (master) => {
      const reply = await master.call(args);
      return (reply instanceof RespErrorReply && redirectOf(reply.message)) || reply;
    });
  }

  /**
   * Every master's slots, each with its commands (built by `command`, null: none), pipelined; each reply
   * must be 1. A slot the cluster redirected (resharding) is sent again on its own.
   */
  private async onEverySlot(command: (slot: number) => BufferedArg[] | null): Promise<void> {
    const check = (reply: RespValue) => {
      if (reply !== 1) throw refusal('claim its slots', reply);
    };
    await Promise.all(this.masters.map(async (master) => {
      const buffer = new CommandBuffer(1 << 16);
      const slots: number[] = [];
      for (let slot = 0; slot < HASH_SLOTS; slot++) {
        const args = this.slotMaster[slot] === master ? command(slot) : null;
        if (args) {
          buffer.command(args);
          slots.push(slot);
        }
      }
      if (slots.length === 0) return;
      const replies = await master.send(buffer.take(), slots.length);
      await Promise.all(replies.map(async (reply, i) => {
        const redirected = reply instanceof RespErrorReply && redirectOf(reply.message);
        check(redirected ? await this.slotCall(slots[i]!, command(slots[i]!)!) : reply);
      }));
    }));
  }

  /** The lease ours: every slot's previous owner fenced, our token every slot's owner. */
  private claimSlots(): Promise<void> {
    return this.onEverySlot((slot) => this.fence.claimCommand(slot));
  }

  private async readState(): Promise<SyncState | null> {
    const value = await this.slotCall(this.fence.stateSlot, ['GET', this.sync.stateKey]);
    if (value instanceof RespErrorReply) throw refusal('read its state', value);
    return value instanceof Uint8Array ? decodeState(this.sync.stateKey, value) : null;
  }

  /** Each slot's position key (only slots written since the copy have one). */
  private async readSlotPositions(): Promise<void> {
    this.at.fill(null);
    for (const master of this.masters) {
      const keys: Uint8Array[] = [];
      await scanKeys(master, this.fence.atPattern, () => true, async (found) => {
        keys.push(...found);
        return true;
      });
      for (const key of keys) {
        const slot = hashSlot(key);
        const value = await this.slotCall(slot, ['GET', key]);
        if (value instanceof RespErrorReply) throw refusal('read its positions', value);
        if (value instanceof Uint8Array) this.at[slot] = slotPosition(key, value);
      }
    }
  }

  /** The first key `route` owns on any master (the cluster has db 0 only). */
  private async firstOwnedKey(route: KeyRoute): Promise<{ db: number; key: Uint8Array } | null> {
    for (const master of this.masters) {
      const key = await scanKeys(master, route.scanPattern, (k) => route.owns(k), async () => false);
      if (key) return { db: 0, key };
    }
    return null;
  }

  /**
   * Deletes the keys `route` owns, on every master, each slot's in a fenced block of that slot; with
   * `slots` (a cluster source's shard's), only those whose source key is of one of them.
   */
  private async deleteOwnedKeys(route: KeyRoute, slots?: SlotRanges): Promise<void> {
    await Promise.all(this.masters.map((master) => scanKeys(master, route.scanPattern, ownedKeys(route, slots), async (keys) => {
      await this.deleteBySlot(keys);
      return true;
    })));
  }

  private async deleteBySlot(keys: Uint8Array[]): Promise<void> {
    const bySlot = new Map<number, Uint8Array[]>();
    for (const key of keys) {
      const slot = hashSlot(key);
      bySlot.set(slot, [...bySlot.get(slot) ?? [], key]);
    }
    await Promise.all([...bySlot].map(([slot, ofSlot]) => this.guarded(slot, [['UNLINK', ...ofSlot]])));
  }

  // ------------------------------------------------------------------ blocks

  /**
   * A batch: each slot's messages (those not applied before, by the slot's position) as one fenced block;
   * how many source writes they hold.
   */
  private async sendCommands(batch: SinkBatch<TargetMessage>): Promise<number> {
    if (this.order.failure) throw this.order.failure;
    const bySlot = new Map<number, TargetCommands[]>();
    let writes = 0;
    for (const message of batch.messages as TargetCommands[]) {
      const slot = message.slot!;
      const at = this.at[slot];
      if (at && message.offset !== undefined && covers(at, message.offset, message.history)) continue; // applied before a restart
      writes += message.writes;
      const list = bySlot.get(slot);
      if (list) list.push(message);
      else bySlot.set(slot, [message]);
    }
    const position = batch.position;
    // The batch's position, once for all its slots (a cluster's: every shard's checkpoint, some 70 bytes each).
    const stored = position && JSON.stringify(positionFields(position));
    await Promise.all([...bySlot].map(([slot, messages]) => this.sendSlot(slot, messages, position, stored)));
    return writes;
  }

  /**
   * One slot's messages as a fenced block on its master, with the slot's new position: the batch's, when
   * writes of the source's stream are among them (the copy's have no position).
   */
  private async sendSlot(slot: number, messages: TargetCommands[], position: Position | null, stored: string | null): Promise<void> {
    const origins: Origin[] = [];
    const parts: Uint8Array[] = [];
    for (const message of messages) {
      parts.push(message.bytes);
      originsOf(message, origins);
    }
    const positioned = position !== null && messages.some((m) => m.offset !== undefined);
    if (positioned) {
      const set = new CommandBuffer(128 + stored!.length);
      set.command(['SET', this.fence.atKey(slot), stored!]);
      parts.push(set.take());
      origins.push('set');
    }
    const single = parts.length > 16 ? [Buffer.concat(parts)] : parts;
    const outcome = await this.sendFenced(slot, single, origins.length);
    checkBlock(origins, outcome, (message) => this.sync.warn(message));
    if (positioned) this.at[slot] = position;
  }

  /**
   * A fenced block of slot `slot` (its first command inside MULTI: the slot fence's check that the slot is
   * not migrating), in the slot's order, sent again where the cluster redirects it; its outcome (without
   * that check's reply).
   */
  private sendFenced(slot: number, parts: Uint8Array[], count: number): Promise<BlockOutcome> {
    const check = new CommandBuffer(128);
    check.command(this.fence.settledCheck(slot));
    const block = fencedBlock(this.fence.guardCommands(slot), [check.take(), ...parts], count + 1, 0);
    return this.lanes.run(slot, async (master): Promise<BlockOutcome | Redirect> => {
      const replies = await master.send(block.parts, block.replies);
      const exec = replies[replies.length - 1];
      if (exec !== null && !Array.isArray(exec)) {
        // Not applied: a redirect in any reply (the check, WATCH, the guard, a queued command) says why.
        const redirected = replies.map((r) => r instanceof RespErrorReply && redirectOf(r.message)).find(isRedirect);
        if (redirected) return redirected;
        const down = replies.find((r) => r instanceof RespErrorReply && NOT_HERE.has(r.code)) as RespErrorReply | undefined;
        if (down) {
          throw new ConnectionError(`the target cluster answered a block of slot ${slot} with ${down.message} (failing over?): ` +
            'nothing of it applied; reading its topology again', true);
        }
      }
      const { applied, replies: answers } = block.outcome(replies);
      return { applied, replies: answers.slice(1) };
    });
  }

  /** Commands as one fenced block of a slot; rejects when the target refused any of them. */
  private async guarded(slot: number, commands: BufferedArg[][]): Promise<void> {
    const buffer = new CommandBuffer(1024);
    for (const command of commands) buffer.command(command);
    const { replies } = await this.sendFenced(slot, [buffer.take()], commands.length);
    const refused = replies.findIndex((r) => r instanceof RespErrorReply);
    if (refused >= 0) throw new SyncError(`the target refused ${String(commands[refused]![0])}: ${(replies[refused] as RespErrorReply).message}`);
  }

  /**
   * The floor moved up to where every batch is applied, unless a step runs (it writes its own, later one:
   * this one, sent after it, would take the floor back before it).
   */
  private async moveFloor(): Promise<void> {
    const applied = this.applied;
    if (!applied || applied === this.floorWritten || this.order.stepRunning || this.order.failure) return;
    await this.writeFloor(applied).catch((err: unknown) => this.fail(err));
  }

  /** The state key proper: `position` as the floor (every write before it is applied in every slot). */
  private async writeFloor(position: Position, state: SyncState['state'] = 'streaming'): Promise<void> {
    await this.guarded(this.fence.stateSlot, [this.sync.stateCommand(position, state)]);
    this.floorWritten = position;
  }

  // ------------------------------------------------------------------ steps

  private async runStep(step: TargetStep, position: Position | null): Promise<void> {
    if (this.order.failure) throw this.order.failure;
    switch (step.kind) {
      case 'copy-start': return step.shard ? this.startShardCopy(step.shard.slots, position!) : this.startCopy(step.replid, step.offset);
      case 'copy-end': return step.shard ? this.endShardCopy(step.shard.allStreaming, position!) : this.endCopy(step.replid, step.offset);
      case 'delete-owned':
        await this.deleteOwnedKeys(this.sync.route, step.slots);
        // Past the FLUSHALL at once: a restart from before it would delete again what the writes after it wrote.
        if (position) await this.floorAt(position);
        return;
    }
  }

  private async startCopy(replid: string, offset: number): Promise<void> {
    // The state says copying first: a restart before the copy ends copies again (what is here is stale).
    // No floor moves until the copy ends (none of before the copy may be written over it).
    this.applied = null;
    await this.writeFloor({ replid, offset, db: 0 }, 'copying');
    await this.deleteOwnedKeys(this.sync.route);
    await this.deleteSlotPositions();
    this.sync.phase('copying', `copying the source's snapshot (replication ID ${replid || '(none)'}) into the cluster's masters`);
  }

  private async endCopy(replid: string, offset: number): Promise<void> {
    const sync = this.sync;
    const at = { replid, offset, db: 0 };
    await this.floorAt(at);
    sync.applied(at, 0, 0);
    sync.phase('streaming', `snapshot copied (${sync.status.copy.keys} keys); applying writes`);
  }

  /**
   * A cluster source's shard starts a copy: the floor no longer holds its checkpoint (`position` is the
   * others'), then the keys of its slots go; the other shards' writes go on. The slots' positions stay:
   * its new history's offsets are not compared with its old one's, and the other shards' are still true.
   */
  private async startShardCopy(slots: SlotRanges, position: Position): Promise<void> {
    await this.floorAt(position);
    await this.deleteOwnedKeys(this.sync.route, slots);
    this.sync.phase('copying', `copying the snapshot of the source's shard serving slots ${slotRanges(slots)} into the cluster's masters`);
  }

  /** A cluster source's shard's copy is complete: its checkpoint joins the floor. */
  private async endShardCopy(allStreaming: boolean, position: Position): Promise<void> {
    await this.floorAt(position);
    this.sync.applied(position, 0, 0);
    if (allStreaming) this.sync.phase('streaming', `snapshots copied (${this.sync.status.copy.keys} keys); applying writes`);
  }

  /** The floor written at a step's position, which every batch after it then builds on. */
  private async floorAt(position: Position): Promise<void> {
    await this.writeFloor(position);
    this.applied = position;
  }

  /** Every slot's position key goes (a copy starts: the positions were of the writes before it). */
  private async deleteSlotPositions(): Promise<void> {
    this.at.fill(null);
    await Promise.all(this.masters.map((master) => scanKeys(master, this.fence.atPattern, () => true, async (keys) => {
      await this.deleteBySlot(keys);
      return true;
    })));
  }

  // ------------------------------------------------------------------ the lease

  /** Renews the lease every third of it (blocks of other slots than the state's do not). */
  private renewLease(): void {
    this.home.call(this.lease.guardCommand()).then((reply) => {
      if (reply === 1) return;
      if (reply instanceof RespErrorReply && (reply.code === 'LOADING' || reply.code === 'BUSY')) return;
      // The lease's slot moving: renewed on its next master next time (the blocks there follow it too).
      const redirected = reply instanceof RespErrorReply && redirectOf(reply.message);
      if (redirected) {
        if (redirected.node) this.moveSlot(this.fence.stateSlot, redirected.node).catch(() => undefined);
        return;
      }
      if (reply instanceof RespErrorReply && NOT_HERE.has(reply.code)) {
        this.fail(new ConnectionError(`the target cluster answered the lease renewal with ${reply.message}`, true));
        return;
      }
      this.fail(reply === 0 ? new TargetLost() : refusal('renew its lease', reply));
    }, () => undefined); // a failed connection fails the next block
  }

  private fail(error: unknown): void {
    this.order.failure ??= error;
    this.onFailure(error);
  }
}

/** A slot's position key's value: the position as JSON (positionFields). */
function slotPosition(key: Uint8Array, value: Uint8Array): Position {
  const notOne = `the target's key ${JSON.stringify(new TextDecoder().decode(key))} does not hold a sync position: delete it, or sync under another state key`;
  try {
    return positionOf(JSON.parse(new TextDecoder().decode(value)) as object, notOne);
  } catch {
    throw new SyncError(notOne);
  }
}

function refusal(what: string, reply: RespValue): Error {
  const text = reply instanceof RespErrorReply ? reply.message : String(reply);
  return reply instanceof RespErrorReply && NOT_HERE.has(reply.code)
    ? new ConnectionError(`the target cluster did not let the sync ${what}: ${text}`, true)
    : new SyncError(`the target cluster refused to let the sync ${what}: ${text}`);
}
