// sync's target as the pipeline's sink (pipeline.ts): a Redis server the sync writes into, and keeps its
// position in (sync-state.ts), in the same fenced MULTI/EXEC as the writes it covers: the target itself
// says what it has applied, so the sync is exactly once. Before anything is written the sink makes the
// target the sync's: it claims its lease (target-lease.ts; every block is fenced by it), promotes a
// target an interrupted --copy replication left a replica of ours, and checks the route the stored
// position was written under (another one refuses, or with --resync deletes what that route wrote).
//
// Commands are pipelined, many blocks in flight; a step (starting or ending a copy, deleting the keys the
// sync owns) runs once everything before it is applied, and before anything after it is sent.
import { slotRanges } from '../cluster/hash-slot.js';
import type { Position } from '../pipeline/position.js';
import { RespErrorReply, replyText } from '../resp/replies.js';
import { CommandBuffer, type BufferedArg } from '../resp/command-buffer.js';
import type { Sink, SinkBatch, StoredPosition } from '../pipeline/sink.js';
import type { RedisConnection } from './connection.js';
import { fencedBlock, TargetLost, type BlockOutcome } from './fenced-block.js';
import type { KeyRoute } from './key-route.js';
import { prefixPattern } from './key-route.js';
import { claimTarget, continuesFrom, type OwnedKeys } from './target-claim.js';
import { ReplicationCopy } from './replication-copy.js';
import { decodeState, isOwnStateKey, type SyncState } from './sync-state.js';
import { leaseStep, ownedKeys, scanKeys } from './target-keys.js';
import type { SlotRanges, TargetCommands, TargetMessage, TargetStep } from './target-message.js';
import { SyncError } from './sync-error.js';
import { checkBlock, originsOf, type Origin } from './block-replies.js';
import { SinkOrder } from './sink-order.js';
import type { Sync } from './sync.js';

/** Pieces of a block sent as they are, at most; beyond, they are joined first. */
const MAX_PARTS = 16;

export class TargetSink implements Sink<TargetMessage> {
  readonly name = 'the target';
  readonly storesPosition = true;
  /** The db the connection is in once everything sent so far has run (-1: unknown). */
  private connectionDb = 0;
  /** Where the stored state lets the sync continue from (read by connect). */
  private from: Position | null = null;
  private route: unknown = null;
  /** When the lease was last renewed (a block or a renewal sent). */
  private renewedMs = Date.now();
  private renewal: ReturnType<typeof setInterval> | null = null;
  /** The copy under way through the target's replication link (copy: 'replication'). */
  private replicationCopy: ReplicationCopy | null = null;
  /** Steps after everything before them, and a failure failing everything after it. */
  private readonly order = new SinkOrder();
  private onFailure: (error: unknown) => void = () => undefined;

  constructor(private readonly sync: Sync, private readonly target: RedisConnection, private readonly copiesByReplication: boolean) {}

  /** Makes the target this sync's (lease, an interrupted copy undone, the stored route checked). */
  async connect(route: unknown, failed: (error: unknown) => void): Promise<void> {
    this.route = route;
    this.onFailure = failed;
    this.target.onFailure((error) => this.fail(error));
    const sync = this.sync;
    const before = await this.readState();
    await leaseStep(sync.lease.refuseIfHeld((args) => this.target.call(args)));
    // A target an interrupted --copy replication left a replica of ours is promoted (a replica takes no
    // writes, the claim's neither): what it holds is an incomplete copy, as a stored 'copying' state says.
    const reclaimed = await ReplicationCopy.reclaim(this.target, before?.state === 'copying', (message) => sync.warn(message));
    await this.claimLease();
    this.renewal = setInterval(() => this.renewLease(), sync.lease.leaseMs / 3);
    const owned: OwnedKeys = {
      first: (route) => this.forEachOwnedKey(async () => false, null, route),
      delete: (route) => this.deleteOwnedKeys(null, route),
    };
    let stored = await this.readState();
    if (!(await continuesFrom(sync, stored, route, owned))) stored = null;
    if (!stored && !reclaimed) await claimTarget(sync, owned);
    this.from = stored?.state === 'streaming' ? stored.position : null;
    if (this.from) sync.applied(this.from, 0, 0);
  }

  /** The route was checked by connect (with what differs, and --resync): the stored position is this run's. */
  async readPosition(): Promise<StoredPosition | null> {
    return { position: this.from, sequence: 0, route: this.route };
  }

  write(batch: SinkBatch<TargetMessage>): Promise<void> {
    const first = batch.messages[0];
    if (!first || first.kind === 'commands') return this.order.run(false, () => this.sendCommands(batch));
    return this.order.run(true, () => (first.kind === 'rdb' ? this.forward(batch) : this.runStep(first, batch.position)));
  }

  /** Stops renewing the lease, and gives up a copy through the replication link (the target must not stay our replica). */
  async close(): Promise<void> {
    if (this.renewal) clearInterval(this.renewal);
    this.renewal = null;
    await this.replicationCopy?.abandon().catch(() => undefined);
    this.replicationCopy = null;
  }

  /** Ends the lease (the sync stopped, or failed for good): the next sync need not wait for it. */
  async release(): Promise<void> {
    await this.target.call(this.sync.lease.releaseCommand()).catch(() => undefined);
  }

  // ------------------------------------------------------------------ blocks of commands

  /** The batch's commands as one fenced block, with the position at its end (none inside a copy). */
  private sendCommands(batch: SinkBatch<TargetMessage>): Promise<void> {
    if (this.order.failure) return Promise.reject(this.order.failure);
    const startDb = this.firstDb(batch.messages as TargetCommands[]);
    const parts: Uint8Array[] = [];
    const origins: Origin[] = [];
    const added = new CommandBuffer(256);
    const add = (args: BufferedArg[]) => {
      added.command(args);
      parts.push(added.cut());
      origins.push(String(args[0]).toLowerCase());
    };
    let db = startDb;
    for (const message of batch.messages as TargetCommands[]) {
      if (message.db !== -1 && message.db !== db) {
        add(['SELECT', message.db]);
        db = message.db;
      }
      parts.push(message.bytes);
      originsOf(message, origins);
      if (message.endDb !== -1) db = message.endDb;
    }
    // None inside one server's copy; a cluster's always (its shards outside a copy).
    const position = batch.position;
    if (position) {
      if (db !== 0) add(['SELECT', 0]);
      add(this.sync.stateCommand(position, 'streaming'));
      db = 0;
    }
    this.connectionDb = db;
    // Writes come as a message per command: one copy into one piece costs less than a socket write each.
    const bytes = parts.length > MAX_PARTS ? Buffer.concat(parts) : parts;
    return this.sendFenced(bytes, origins.length, startDb).then((outcome) => this.confirm(batch, origins, outcome));
  }

  /** The db a batch's first command expects (the one the connection is in, for commands that SELECT themselves). */
  private firstDb(messages: TargetCommands[]): number {
    const first = messages[0];
    return !first || first.db === -1 ? this.connectionDb : first.db;
  }

  private async sendFenced(parts: Uint8Array | Uint8Array[], count: number, startDb: number): Promise<BlockOutcome> {
    const block = fencedBlock(this.sync.lease.guardCommands(), parts, count, startDb);
    this.renewedMs = Date.now();
    return block.outcome(await this.target.send(block.parts, block.replies));
  }

  /** A block's outcome: the position it carries applied, or the sync stops (checkBlock). */
  private confirm(batch: SinkBatch<TargetMessage>, origins: Origin[], outcome: BlockOutcome): void {
    checkBlock(origins, outcome, (message) => this.sync.warn(message));
    const position = batch.position;
    if (!position) return;
    let writes = 0;
    for (const m of batch.messages) if (m.kind === 'commands') writes += m.writes;
    this.sync.applied(position, writes, 1);
  }

  // ------------------------------------------------------------------ steps

  /** `position`: where the source stands at the step (from a cluster: the shards outside a copy). */
  private async runStep(step: TargetStep, position: Position | null): Promise<void> {
    if (this.order.failure) throw this.order.failure;
    switch (step.kind) {
      case 'copy-start': return step.shard ? this.startShardCopy(step.shard, position!) : this.startCopy(step.replid, step.offset);
      case 'copy-end': return step.shard ? this.endShardCopy(step.shard, position!) : this.endCopy(step.replid, step.offset);
      case 'delete-owned': return this.deleteOwnedKeys(step.db, this.sync.route, step.slots);
    }
  }

  private async startCopy(replid: string, offset: number): Promise<void> {
    const sync = this.sync;
    // A snapshot that came again (the source link dropped during one): the target drops its partial load.
    await this.replicationCopy?.abandon();
    this.replicationCopy = null;
    // Everything this sync owns on the target was written by it (claimTarget), and is stale now.
    await this.deleteOwnedKeys(null);
    await this.guarded(0, [this.sync.stateCommand({ replid, offset, db: 0 }, 'copying')]);
    if (this.copiesByReplication) {
      this.replicationCopy = await ReplicationCopy.start(this.target, await this.stateKeysOnTarget());
      sync.phase('copying', `copying the source's snapshot (replication ID ${replid || '(none)'}) through the target's replication link: ` +
        'the target is a replica of redistap until it has loaded it');
      return;
    }
    sync.phase('copying', `copying the source's snapshot (replication ID ${replid || '(none)'})`);
  }

  private async forward(batch: SinkBatch<TargetMessage>): Promise<void> {
    for (const message of batch.messages) {
      if (this.order.failure) throw this.order.failure;
      if (message.kind === 'rdb') await this.replicationCopy!.forward(message.bytes);
    }
  }

  private async endCopy(replid: string, offset: number): Promise<void> {
    const sync = this.sync;
    if (this.replicationCopy) {
      sync.status.copy.targetLoading = true;
      try {
        sync.copied(await this.replicationCopy.finish());
      } finally {
        sync.status.copy.targetLoading = false;
      }
      this.replicationCopy = null;
      // The load replaced the whole dataset, our lease and state with it: the target is claimed again
      // (refused if another sync claimed it meanwhile).
      await this.claimLease();
    }
    const position = { replid, offset, db: 0 };
    await this.guarded(0, [this.sync.stateCommand(position, 'streaming')]);
    sync.applied(position, 0, 0);
    sync.phase('streaming', `snapshot copied (${sync.status.copy.keys} keys); applying writes`);
  }

  /**
   * A cluster's shard starts a copy: the state no longer holds its checkpoint (`position` is the others'),
   * then the keys of its slots go (what it wrote before is stale); the other shards' writes go on.
   */
  private async startShardCopy(shard: { slots: SlotRanges }, position: Position): Promise<void> {
    await this.guarded(0, [this.sync.stateCommand(position, 'streaming')]);
    const db = this.sync.route.targetDb(0);
    if (db !== null) await this.deleteOwnedKeys(db, this.sync.route, shard.slots);
    this.sync.phase('copying', `copying the snapshot of the shard serving slots ${slotRanges(shard.slots)}`);
  }

  /** A cluster's shard's copy is complete: its checkpoint joins the state. */
  private async endShardCopy(shard: { allStreaming: boolean }, position: Position): Promise<void> {
    await this.guarded(0, [this.sync.stateCommand(position, 'streaming')]);
    this.sync.applied(position, 0, 0);
    if (!shard.allStreaming) return;
    this.sync.phase('streaming', `snapshots copied (${this.sync.status.copy.keys} keys); applying writes`);
  }

  // ------------------------------------------------------------------ state, lease, and the target's synced keys

  private async readState(): Promise<SyncState | null> {
    await this.select(0);
    const value = await this.target.ok(['GET', this.sync.stateKey]);
    return value instanceof Uint8Array ? decodeState(this.sync.stateKey, value) : null;
  }

  /** Commands as one fenced block in db `db`; rejects when the target refused any of them. */
  private async guarded(db: number, commands: BufferedArg[][]): Promise<void> {
    const buffer = new CommandBuffer(1024);
    const names = db === 0 ? [] : ['SELECT'];
    if (db !== 0) buffer.command(['SELECT', db]);
    for (const command of commands) {
      buffer.command(command);
      names.push(String(command[0]));
    }
    const count = buffer.commands;
    const { replies } = await this.sendFenced(buffer.take(), count, 0);
    this.connectionDb = db;
    const refused = replies.findIndex((r) => r instanceof RespErrorReply);
    if (refused >= 0) throw new SyncError(`the target refused ${names[refused]}: ${(replies[refused] as RespErrorReply).message}`);
  }

  private claimLease(): Promise<void> {
    return leaseStep(this.sync.lease.claim((args) => this.target.call(args)));
  }

  /**
   * Renews the lease when no block has for a third of it (a block's guard renews it too). Not while the
   * target is a replica loading from us (--copy replication): it takes no writes, so no other sync can
   * claim it either; the load replaces the lease anyway, and endCopy claims the target again.
   */
  private renewLease(): void {
    const every = this.sync.lease.leaseMs / 3;
    if (this.replicationCopy || Date.now() - this.renewedMs < every) return;
    this.renewedMs = Date.now();
    this.target.call(this.sync.lease.guardCommand()).then((reply) => {
      if (reply === 1) return;
      // A target loading its data (restarted) answers LOADING: the lease may lapse meanwhile.
      if (reply instanceof RespErrorReply && (reply.code === 'LOADING' || reply.code === 'BUSY')) return;
      this.fail(reply === 0 ? new TargetLost() : new SyncError(`the target refused the sync's lease renewal: ${reply instanceof RespErrorReply ? reply.message : String(reply)}`));
    }, () => undefined); // a failed connection fails the next block
  }

  private fail(error: unknown): void {
    this.order.failure ??= error;
    this.onFailure(error);
  }

  /** This sync's keys on the target (its state, lease, owner and fence keys), which a replication copy replaces too. */
  private async stateKeysOnTarget(): Promise<number> {
    let count = 0;
    const stateKey = new TextEncoder().encode(this.sync.stateKey);
    await this.scanKeys(0, prefixPattern(stateKey), isOwnStateKey(this.sync.stateKey), async (keys) => {
      count += keys.length;
      return true;
    });
    return count;
  }

  /**
   * Calls `visit` with each batch of owned keys of a db (SCAN); stops early and returns the first key seen
   * when `visit` resolves false. Returns null when it saw every key (or none).
   */
  private async forEachOwnedKey(visit: (db: number, keys: Uint8Array[]) => Promise<boolean>, onlyDb: number | null = null,
    route = this.sync.route, slots?: SlotRanges): Promise<{ db: number; key: Uint8Array } | null> {
    const keep = ownedKeys(route, slots);
    for (const db of onlyDb === null ? await this.targetDbsWithKeys(route) : [onlyDb]) {
      const first = await this.scanKeys(db, route.scanPattern, keep, (keys) => visit(db, keys));
      if (first !== null) return { db, key: first };
    }
    return null;
  }

  /** scanKeys of db `db`. */
  private async scanKeys(db: number, pattern: Uint8Array, keep: (key: Uint8Array) => boolean,
    visit: (keys: Uint8Array[]) => Promise<boolean>): Promise<Uint8Array | null> {
    await this.select(db);
    return scanKeys(this.target, pattern, keep, visit);
  }

  private async targetDbsWithKeys(route: KeyRoute): Promise<number[]> {
    const info = replyText(await this.target.ok(['INFO', 'keyspace']));
    const present = [...info.matchAll(/^db(\d+):keys=/gm)].map((m) => Number(m[1]));
    const synced = route.targetDbs;
    return synced ? present.filter((db) => synced.includes(db)) : present;
  }

  /**
   * Deletes the keys a route (this sync's by default) owns on the target: in one db, or in all (null); with
   * `slots`, only those whose source key is in one of them (a cluster's shard's).
   */
  private async deleteOwnedKeys(db: number | null, route = this.sync.route, slots?: SlotRanges): Promise<void> {
    await this.forEachOwnedKey(async (keysDb, keys) => {
      await this.guarded(keysDb, [['UNLINK', ...keys]]);
      return true;
    }, db, route, slots);
  }

  /** SELECT sent at once (nothing is in flight). */
  private async select(db: number): Promise<void> {
    if (db === this.connectionDb) return;
    await this.target.ok(['SELECT', db]);
    this.connectionDb = db;
  }
}
