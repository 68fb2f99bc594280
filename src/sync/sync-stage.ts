// sync's stage (pipeline/stage.ts): the source's events as what the target must run (target-message.ts).
//   - the snapshot's keys as RESTORE ... REPLACE ABSTTL: written by the RDB core with each value as the
//     snapshot stores it when the target loads that ('restore-commands'); else entries re-encoded for the
//     target (and strings without a TTL many to an MSET), which a rename or a transform hook needs too;
//     or, with copy: 'replication', the snapshot's bytes for the target to load as a replica of ours;
//   - the writes, through the route (databases, key selection, renames) and the transform hook, changed
//     where the target cannot take them as they are (field TTLs, stream counters);
//   - the steps between them: a copy's start and end, and the keys the sync owns deleted where the
//     source's FLUSHALL or FLUSHDB cannot be passed on as it is.
// From a cluster (each event of a shard), a copy and a FLUSHALL are a shard's: they replace or delete the
// keys of its slots, never the other shards' (a FLUSHALL on a cluster node empties that node only).
// Into a cluster, every message is of one hash slot (slot-split.ts), each write tagged with its source
// offset, and the copy goes key by key (RESTORE, or SET: an MSET would span slots).
import { isEmptyCollection } from '../rdb/canonical-json.js';
import type { Int64, RdbEntry } from '../rdb/entry.js';
import { valueTypeOf } from '../rdb/encodings.js';
import { CommandBuffer, type BufferedArg } from '../resp/command-buffer.js';
import { commandOfArgs, type FullSyncReason, type ReplicaCommand } from '../replica/events.js';
import { DumpPayloadEncoder, UnrestorableEntry } from '../rdb-write/dump-payload.js';
import { hasFieldTtls, hasFunctions, keepsStreamCounters, restoreTakesEvictionData, type ServerFormat } from '../rdb-write/server-format.js';
import type { KeyStateEvent, ShardRef, SourceEvent } from '../pipeline/source.js';
import type { Stage, StageOutput } from '../pipeline/stage.js';
import type { CommandKeys } from './command-keys.js';
import { isFieldTtlWrite, withoutFieldTtls } from './field-ttl-writes.js';
import { commandArgs, splitBySlot } from './slot-split.js';
import { hashSlot } from '../cluster/hash-slot.js';
import { setsStreamCounters, withoutStreamCounters } from './stream-writes.js';
import { SyncError } from './sync-error.js';
import type { Sync } from './sync.js';
import type { StoredRoute } from './sync-state.js';
import type { TargetCommands, TargetMessage } from './target-message.js';

/** Commands that name another database in their arguments (COPY only with its DB option). */
const CROSS_DB = new Set(['move', 'swapdb', 'copy']);
/** Replicated commands that are not data: a replica passes them on to its own clients, a copy does not. */
const NOT_DATA = new Set(['publish', 'spublish', 'ping', 'replconf']);
/** Strings per MSET, at most, and their bytes. */
const MSET_KEYS = 128;
const MSET_BYTES = 256 << 10;

const utf8 = new TextDecoder();
const ascii = (text: string) => new TextEncoder().encode(text);
// RESTORE's constant arguments, encoded once.
const RESTORE = ascii('RESTORE');
const REPLACE = ascii('REPLACE');
const ABSTTL = ascii('ABSTTL');
const ZERO = ascii('0');
const MSET = ascii('MSET');
const DEL = ascii('DEL');

function hasDbOption(command: ReplicaCommand): boolean {
  for (let i = 3; i < command.argCount; i++) if (command.argText(i).toLowerCase() === 'db') return true;
  return false;
}

/** RESTORE's IDLETIME <s> or FREQ <n> for the LRU or LFU data the snapshot keeps for an entry. */
function evictionArgs(entry: RdbEntry): BufferedArg[] {
  if (entry.idleSeconds !== undefined) return ['IDLETIME', entry.idleSeconds];
  return entry.lfuFreq !== undefined ? ['FREQ', entry.lfuFreq] : [];
}

export class SyncStage implements Stage<TargetMessage> {
  private readonly buffer = new CommandBuffer();
  private readonly encoder: DumpPayloadEncoder;
  private output!: StageOutput<TargetMessage>;
  /** Keys and values of strings waiting for their MSET, all of db stringsDb. */
  private strings: Uint8Array[] = [];
  private stringsDb = 0;
  private stringBytes = 0;
  /** Writes of field TTLs went to a target without them (field-ttl-writes.ts): said once. */
  private warnedFieldTtlWrites = false;
  /** Function libraries of the snapshot being copied that the target could not get. */
  private librariesLeftOut = 0;
  /** The streams being copied: '' (one server), or a cluster's shards (their copies run at once). */
  private readonly copying = new Set<string>();
  /** The shard of the event being handled (undefined: one server's). */
  private shard: ShardRef | undefined;
  /**
   * Into a cluster from a cluster: each shard's replication history (the replids its stream has had since
   * it last started over), which its writes carry for the per-slot skip (cluster-target-sink.ts).
   */
  private readonly histories = new Map<string, readonly string[]>();

  /**
   * `keys`: the source's command table, when the route needs to find keys in writes (always, into a
   * cluster). `clusterTarget`: the target is a Redis Cluster: messages of one slot each.
   */
  constructor(private readonly sync: Sync, private readonly targetFormat: ServerFormat, private readonly keys: CommandKeys | null,
    private readonly maxBulkBytes: number, private readonly clusterTarget = false) {
    this.encoder = new DumpPayloadEncoder(targetFormat);
  }

  route(): StoredRoute {
    return this.sync.storedRoute;
  }

  handle(event: SourceEvent, output: StageOutput<TargetMessage>, shard?: ShardRef): boolean {
    this.output = output;
    this.shard = shard;
    switch (event.type) {
      case 'entry': this.copy(event.entry); break;
      case 'restore-commands':
        this.librariesLeftOut += event.librariesLeftOut;
        this.sync.copied(event.keys);
        output.emit({ kind: 'commands', db: -1, endDb: event.endDb, bytes: event.bytes, count: event.commands, names: null, writes: 0 });
        break;
      case 'rdb-bytes': output.emit({ kind: 'rdb', bytes: event.bytes }); break;
      case 'command': return this.apply([event.command], event.command.offset);
      case 'transaction': return this.apply(event.commands, event.offset);
      // Keys moved between a cluster's shards are where they were in the data: nothing to write (the
      // position moves past them all the same); a client's DEL of the command's other keys is applied.
      case 'moved': return event.rest ? this.apply([event.rest], event.rest.offset) : true;
      case 'key-state': return this.keyState(event);
      case 'full-sync-start':
        this.startHistory(event.replid);
        this.startCopy(event.reason);
        output.alone({ kind: 'copy-start', replid: event.replid, offset: event.offset, shard: shard && { slots: shard.slots } });
        break;
      case 'rdb-progress': this.sync.copyProgress(event.bytes, event.total); break;
      case 'full-sync-end':
        this.endCopy(event.functions);
        output.alone({ kind: 'copy-end', replid: event.replid, offset: event.offset, shard: shard && { slots: shard.slots, allStreaming: output.streaming() } });
        break;
      case 'flush': if (event.cause === 'command') this.flushByCommand(event.db); break;
      case 'resumed':
        if (!this.history()?.includes(event.replid)) this.startHistory(event.replid);
        if (output.streaming()) this.sync.phase('streaming', `resumed from ${this.from()} at offset ${event.offset} of ${event.replid}`);
        break;
      // A promoted replica continuing the shard's stream under its own replid: the offsets go on.
      case 'replid-changed': if (shard) this.histories.set(shard.id, [...this.history() ?? [event.from], event.to]); break;
      default: break;
    }
    return false;
  }

  /**
   * The target db of a key the core copies as stored (-1: not copied): the Replica's
   * restoreCommands.routeKey.
   */
  routeStored(db: number, rdbType: number, key: Uint8Array): number {
    if (valueTypeOf(rdbType) === 'module') {
      this.sync.skipped(`key ${JSON.stringify(utf8.decode(key))} (db ${db}) not copied: a module value: only the module itself could rebuild it`);
      return -1;
    }
    return this.sync.route.place(db, key)?.db ?? -1;
  }

  /** Where the event being handled comes from, for messages. */
  private from(): string {
    return this.shard ? `the shard at ${this.shard.node}` : 'the source';
  }

  // ------------------------------------------------------------------ the copy

  private startCopy(reason: FullSyncReason): void {
    const sync = this.sync;
    // In scan mode every start copies again: there is no stream to continue.
    if (reason === 'resync' && !sync.options.resync && !sync.scanning) {
      const where = this.shard ? 'the position the target holds for it' : `the target's position (offset ${sync.status.applied.offset} of ${sync.status.applied.replid})`;
      throw new SyncError(`${this.from()} cannot continue from ${where}: ` +
        'its backlog no longer holds the writes since, or it restarted without its data. Run again with --resync to delete the target\'s synced keys and copy everything again');
    }
    if (reason === 'resync' && !sync.scanning) sync.warn(`--resync: ${this.from()} cannot continue from the target's position; copying ${this.shard ? 'its slots' : 'everything'} again`);
    // Strings of an earlier copy cut short go out before the step deletes what it wrote (a cluster's other
    // shards' with them, which nothing deletes).
    this.flushStrings();
    // Here, not when the target has started the copy: the snapshot's progress is counted from now on
    // (from a cluster, from the first of the copies that run at once).
    if (this.copying.size === 0) {
      sync.startCopy();
      this.librariesLeftOut = 0;
    }
    this.copying.add(this.shard?.id ?? '');
  }

  private copy(entry: RdbEntry): void {
    const sync = this.sync;
    const placed = sync.route.place(entry.db, entry.key);
    if (placed === null) return;
    const { db, key } = placed;
    let item: RdbEntry | null = key === entry.key && db === entry.db ? entry : { ...entry, db, key };
    if (sync.options.transform) {
      const out = sync.options.transform({ kind: 'entry', entry: item });
      item = out?.kind === 'entry' ? out.entry : null;
      if (out?.kind === 'command') throw new SyncError('the transform hook turned a snapshot entry into a command: return an entry, or null');
    }
    if (item === null || isEmptyCollection(item)) return;
    sync.copied();
    const keepsEviction = (item.idleSeconds !== undefined || item.lfuFreq !== undefined) && restoreTakesEvictionData(this.targetFormat);
    if (item.type === 'string' && item.expireMs === null && !keepsEviction && !this.clusterTarget) {
      this.copyString(item.db, item.key, item.value);
      return;
    }
    let payload: Uint8Array;
    try {
      payload = this.encoder.encode(item);
    } catch (err) {
      if (!(err instanceof UnrestorableEntry)) throw err;
      sync.skipped(`key ${JSON.stringify(utf8.decode(item.key))} (db ${item.db}) not copied: ${err.message}`);
      return;
    }
    this.restore(item.db, item.key, item.expireMs, payload, keepsEviction ? evictionArgs(item) : []);
  }

  /** A value the target would refuse to read as one command (it drops the connection: retrying cannot help). */
  tooLarge(what: string, bytes: number): SyncError {
    return new SyncError(`${what} takes ${bytes} bytes in one command, more than the target accepts (proto-max-bulk-len ${this.maxBulkBytes}): ` +
      'raise proto-max-bulk-len on the target, or use --copy replication');
  }

  /** RESTORE ... REPLACE ABSTTL of one key. */
  private restore(db: number, key: Uint8Array, expireMs: Int64 | null, payload: Uint8Array, eviction: BufferedArg[]): void {
    if (payload.length > this.maxBulkBytes) throw this.tooLarge(`key ${JSON.stringify(utf8.decode(key))} (db ${db})`, payload.length);
    this.buffer.command([RESTORE, key, expireMs ?? ZERO, payload, REPLACE, ABSTTL, ...eviction]);
    this.output.emit(this.ofSlot(this.commands(db, null, 0), key));
  }

  /**
   * Strings without a TTL, the most common keys, go many to an MSET: one command per MSET_KEYS keys costs
   * the target a fraction of a RESTORE each, and needs no payload. (The snapshot holds each key once, so
   * their order among the other keys does not matter.)
   */
  private copyString(db: number, key: Uint8Array, value: Uint8Array): void {
    if (value.length > this.maxBulkBytes) throw this.tooLarge(`key ${JSON.stringify(utf8.decode(key))} (db ${db})`, value.length);
    if (this.strings.length > 0 && db !== this.stringsDb) this.flushStrings();
    this.stringsDb = db;
    this.strings.push(key, value);
    this.stringBytes += key.length + value.length;
    if (this.strings.length >= 2 * MSET_KEYS || this.stringBytes >= MSET_BYTES) this.flushStrings();
  }

  private flushStrings(): void {
    if (this.strings.length === 0) return;
    const strings = this.strings;
    this.buffer.commandOf(strings.length + 1, (i) => (i === 0 ? MSET : strings[i - 1]!));
    this.strings = [];
    this.stringBytes = 0;
    this.output.emit(this.commands(this.stringsDb, null, 0));
  }

  /** The snapshot is read: its last strings, its function libraries, and what the target could not take. */
  private endCopy(functions: string[]): void {
    this.copying.delete(this.shard?.id ?? '');
    this.flushStrings();
    for (const code of functions) {
      // A release candidate's library is parts without the "#!" header FUNCTION LOAD needs.
      if (hasFunctions(this.targetFormat) && code.startsWith('#!') && !this.clusterTarget) {
        this.buffer.command(['FUNCTION', 'LOAD', 'REPLACE', code]);
        this.output.emit(this.commands(0, null, 0));
      } else this.librariesLeftOut++;
    }
    const dropped = this.encoder.droppedFieldTtls;
    if (dropped > 0) this.sync.warn(`${dropped} hash(es) copied without their field TTLs: the target has none (Redis 7.4 and Valkey 9.0 have them)`);
    if (this.librariesLeftOut > 0) {
      this.sync.warn(`${this.librariesLeftOut} function librar${this.librariesLeftOut === 1 ? 'y' : 'ies'} of the snapshot not copied: ` +
        (this.clusterTarget ? 'a sync into a Redis Cluster copies no function libraries (load them on every master yourself)'
          : 'the target has no functions (Redis 7.0+ and Valkey have them), or they are in a Redis 7.0 release candidate\'s format'));
    }
  }

  /** The commands written to the buffer since the last message, as one (`names` null: the copy's). */
  private commands(db: number, names: string[] | null, writes: number): TargetCommands {
    const count = this.buffer.commands;
    return { kind: 'commands', db, endDb: -1, bytes: this.buffer.cut(), count, names, writes };
  }

  /** The replication history of the shard whose event is handled (none: one server's, whose offsets all compare). */
  private history(): readonly string[] | undefined {
    return this.shard && this.histories.get(this.shard.id);
  }

  private startHistory(replid: string): void {
    if (this.shard) this.histories.set(this.shard.id, [replid]);
  }

  /** A message of the copy into a cluster: of its key's slot. */
  private ofSlot(message: TargetCommands, key: Uint8Array): TargetCommands {
    if (this.clusterTarget) message.slot = hashSlot(key);
    return message;
  }

  // ------------------------------------------------------------------ the writes

  /**
   * A scan source's key state, applied as the write that makes it so (through the route, as a write is):
   * RESTORE ... REPLACE ABSTTL of its value re-encoded for the target, or DEL once it is gone.
   */
  private keyState(event: KeyStateEvent): boolean {
    const { db, key, entry, offset } = event;
    let args: Uint8Array[];
    if (entry === null) {
      args = [DEL, key];
    } else {
      let payload: Uint8Array;
      try {
        payload = this.encoder.encode(entry);
      } catch (err) {
        if (!(err instanceof UnrestorableEntry)) throw err;
        this.sync.skipped(`key ${JSON.stringify(utf8.decode(key))} (db ${db}) not copied: ${err.message}`);
        return true;
      }
      if (payload.length > this.maxBulkBytes) throw this.tooLarge(`key ${JSON.stringify(utf8.decode(key))} (db ${db})`, payload.length);
      args = [RESTORE, key, entry.expireMs === null ? ZERO : ascii(String(entry.expireMs)), payload, REPLACE, ABSTTL];
    }
    return this.apply([commandOfArgs(db, args, offset, offset)], offset);
  }

  /**
   * FLUSHALL / FLUSHDB on the source: passed through when every key syncs as it is, else our keys deleted;
   * on a cluster's node, the keys of its shard's slots.
   */
  private flushByCommand(db: number | null): void {
    const route = this.sync.route;
    if (this.clusterTarget) return; // at the command (translate), whose position the step then carries
    if (this.shard) {
      const target = route.targetDb(0);
      if (target !== null) this.output.alone({ kind: 'delete-owned', db: target, slots: this.shard.slots });
      return;
    }
    if (route.identity) return;
    const target = db === null ? null : route.targetDb(db);
    if (db !== null && target === null) return;
    this.output.alone({ kind: 'delete-owned', db: target });
  }

  /**
   * A write or a MULTI/EXEC block, as one batch's worth of messages; true when nothing of it is applied.
   * `offset`: where it ends in the source's stream.
   */
  private apply(commands: ReplicaCommand[], offset: number): boolean {
    for (const command of commands) this.checkArgumentSizes(command); // before any of them is a message
    const messages: TargetCommands[] = [];
    for (const command of commands) this.translate(command, messages, offset);
    // A block's messages go in one batch: its position (after the block) must come with all of them.
    messages.forEach((message, i) => this.output.emit(message, i === messages.length - 1));
    return messages.length === 0;
  }

  /** A write the target would refuse to read (it drops the connection: retrying cannot help) stops the sync. */
  private checkArgumentSizes(command: ReplicaCommand): void {
    if (command.offset - command.firstOffset + 1 <= this.maxBulkBytes) return; // no argument can be longer
    for (let i = 0; i < command.argCount; i++) {
      const length = command.arg(i).length;
      if (length > this.maxBulkBytes) {
        throw new SyncError(`${command.name.toUpperCase()} at offset ${command.offset} has an argument of ${length} bytes, more than the target ` +
          `accepts (proto-max-bulk-len ${this.maxBulkBytes}): raise proto-max-bulk-len on the target`);
      }
    }
  }

  /** A source command as the target should run it (or nothing). */
  private translate(command: ReplicaCommand, messages: TargetCommands[], offset: number): void {
    const sync = this.sync;
    const route = sync.route;
    const name = command.name;
    if (NOT_DATA.has(name)) return;
    const db = route.targetDb(command.db);
    if (db === null) return;
    if ((name === 'flushall' || name === 'flushdb') && this.clusterTarget) {
      // A cluster's masters each hold some slots: the sync's keys go from every one (the route has one db);
      // a cluster source's node empties itself only: its shard's slots' keys go.
      this.output.alone({ kind: 'delete-owned', db: null, slots: this.shard?.slots });
      return;
    }
    if ((name === 'flushall' || name === 'flushdb') && (!route.identity || this.shard)) return; // done by flushByCommand
    if (!route.allDbsAsThey && CROSS_DB.has(name) && (name !== 'copy' || hasDbOption(command))) {
      sync.warn(`${name.toUpperCase()} at offset ${command.offset} not applied: it names a database, which --db/--db-map would have to change`);
      return;
    }
    let args: Uint8Array[] | null = null;
    if (route.touchesKeys) {
      args = this.routedArgs(command);
      if (args === null) return;
    }
    let [targetDb, targetName] = [db, name];
    if (sync.options.transform) {
      const out = sync.options.transform({ kind: 'command', db, args: args ?? command.args });
      if (out === null) return;
      if (out.kind !== 'command') throw new SyncError('the transform hook turned a write into an entry: return a command, or null');
      [targetDb, args, targetName] = [out.db, out.args, utf8.decode(out.args[0]).toLowerCase()];
    }
    if (isFieldTtlWrite(targetName) && !hasFieldTtls(this.targetFormat)) {
      args = withoutFieldTtls(targetName, args ?? command.args);
      this.fieldTtlWriteChanged(command);
      if (args === null) return;
      targetName = utf8.decode(args[0]).toLowerCase();
    }
    if (setsStreamCounters(targetName) && !keepsStreamCounters(this.targetFormat)) {
      args = withoutStreamCounters(targetName, args ?? command.args);
    }
    if (this.clusterTarget) {
      this.toSlots(targetName, args ?? command.args, command.offset, offset, messages);
      return;
    }
    if (args) this.buffer.command(args);
    else this.buffer.commandOf(command.argCount, (i) => command.arg(i));
    messages.push(this.commands(targetDb, [targetName], 1));
    if (targetName === 'flushall' || targetName === 'flushdb' || targetName === 'swapdb') this.keepOwnKeys(targetName, targetDb, args ?? command.args, messages);
  }

  /**
   * A FLUSHALL, FLUSHDB or SWAPDB passed through as it is empties db 0 or swaps it, and our state, owner
   * and lease keys live there: the owner and lease are written again in the same block (the state is at
   * its end), and SWAPDB's copies in the other db deleted.
   */
  private keepOwnKeys(name: string, db: number, args: Uint8Array[], messages: TargetCommands[]): void {
    const put = (inDb: number, command: BufferedArg[]) => {
      this.buffer.command(command);
      messages.push(this.commands(inDb, [String(command[0]).toLowerCase()], 0));
    };
    if (name === 'flushdb' && db !== 0) return;
    if (name === 'swapdb') {
      const [a, b] = [1, 2].map((i) => Number(utf8.decode(args[i])));
      if (a === b || (a !== 0 && b !== 0)) return;
      put(a === 0 ? b! : a!, ['DEL', this.sync.stateKey, ...this.sync.lease.keys]);
    }
    for (const command of this.sync.lease.ownerCommands()) put(0, command);
  }

  /**
   * A write into a cluster: a message per slot its keys are of (DEL, UNLINK, TOUCH and MSET split), or a
   * warning when it has no slot or spans slots it cannot be split over. `at`: the command's own offset (for
   * messages), `offset`: where its write (a MULTI/EXEC: the block) ends.
   */
  private toSlots(name: string, args: Uint8Array[], at: number, offset: number, messages: TargetCommands[]): void {
    const split = splitBySlot(name, args, this.keys!.positions(name, commandArgs(args)));
    if (split.kind === 'no-slot') {
      this.sync.warn(`${name.toUpperCase()} at offset ${at} not applied: the target is a Redis Cluster, and it names no key to find the master by`);
      return;
    }
    if (split.kind === 'spans-slots') {
      this.sync.warn(`${name.toUpperCase()} at offset ${at} not applied: its keys are of ${split.slots} hash slots, ` +
        'which a Redis Cluster target cannot apply as one command (only DEL, UNLINK, TOUCH and MSET are split per slot)');
      return;
    }
    split.parts.forEach((part, i) => {
      this.buffer.command(part.args);
      messages.push({ ...this.commands(0, [name], i === 0 ? 1 : 0), slot: part.slot, offset, history: this.history() });
    });
  }

  /** Once per run: writes of field TTLs reach a target without them as what it can apply. */
  private fieldTtlWriteChanged(command: ReplicaCommand): void {
    if (this.warnedFieldTtlWrites) return;
    this.warnedFieldTtlWrites = true;
    this.sync.warn(`${command.name.toUpperCase()} at offset ${command.offset}: the target has no hash field TTLs, so such writes ` +
      'go without them (HSETEX as HSET, TTL-only commands left out); fields still go when they expire on the source, which sends HDEL');
  }

  /** The command's arguments with its keys renamed; null when it is not synced (filtered, or cannot be told). */
  private routedArgs(command: ReplicaCommand): Uint8Array[] | null {
    const positions = this.keys!.positions(command.name, command);
    if (positions === null) {
      this.sync.warn(`${command.name.toUpperCase()} at offset ${command.offset} not applied: its keys cannot be told, so --prefix/--key/--rename cannot be applied to it`);
      return null;
    }
    const args = command.args;
    let kept = 0;
    for (const at of positions) {
      const key = this.sync.route.key(args[at]!);
      if (key !== null) {
        args[at] = key;
        kept++;
      }
    }
    if (kept === positions.length) return args;
    if (kept > 0) {
      this.sync.warn(`${command.name.toUpperCase()} at offset ${command.offset} not applied: it touches keys both inside and outside the synced keys`);
    }
    return null;
  }
}
