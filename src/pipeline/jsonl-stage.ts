// tail's stage (stage.ts): the source's events as JSON lines (docs/tail-jsonl.md): each snapshot key as
// its canonical line (as `redistap parse` writes it), each write as a command line, a MULTI/EXEC block
// between a multi and an exec line, and the control lines of what changes a consumer's data (a full sync,
// a flush, a resume, a new replication ID). The filter, when given, leaves out writes and keys; control
// lines always come. From a cluster each line also names its shard, and a key's line its hash slot; a
// key a slot migration moved is a moved line (in the stream of the shard it left, and of the one it entered).
import { hashSlot } from '../cluster/hash-slot.js';
import { canonicalLine, jsonBytes } from '../rdb/canonical-json.js';
import type { ReplicaCommand } from '../replica/events.js';
import type { EventFilter } from './event-filter.js';
import type { KeyMove, KeyStateEvent, MovedEvent, ShardRef, SourceEvent } from './source.js';
import type { Stage, StageOutput } from './stage.js';

/** A write or a MULTI/EXEC block of the source. */
interface Writes {
  replid: string;
  commands: ReplicaCommand[];
  /** MULTI's first byte for a block, null for a single command. */
  firstOffset: number | null;
  offset: number;
}

/** Where a write's keys are among its arguments (the source's command table): for its hash slot. */
export type KeyPositions = (command: ReplicaCommand) => number[];

export class JsonlStage implements Stage<Uint8Array> {
  /**
   * `filter`: null for every write and key (made before the stage, from the source's command table).
   * `keys`: for a cluster source, where each write's keys are (its line names their slot).
   */
  constructor(private readonly filter: EventFilter | null, private readonly keys: KeyPositions | null = null) {}

  route(sink: string): unknown {
    return { format: 'jsonl', filter: this.filter?.record ?? null, sink };
  }

  handle(event: SourceEvent, output: StageOutput<Uint8Array>, shard?: ShardRef): boolean {
    switch (event.type) {
      case 'entry': {
        const { entry } = event;
        if (this.filter && !this.filter.snapshotKey(entry.db, entry.key, entry.type)) return false;
        const line = canonicalLine(entry);
        if (line !== null) output.emit(Buffer.from(`${shard ? `{${shardFields(shard, hashSlot(entry.key))},${line.slice(1)}` : line}\n`));
        return false;
      }
      case 'command': return this.writes({ replid: event.replid, commands: [event.command], firstOffset: null, offset: event.command.offset }, output, shard);
      case 'transaction': return this.writes(event, output, shard);
      case 'moved': return this.moved(event, output, shard!);
      case 'key-state': return this.keyState(event, output, shard);
      default: {
        const line = controlLine(event, shard);
        if (line !== null) output.emit(Buffer.from(line));
        return false;
      }
    }
  }

  /**
   * A scan source's key state: an upsert line (the key's canonical line with the event's place) or a
   * delete line. True when the filter left it out.
   */
  private keyState(event: KeyStateEvent, output: StageOutput<Uint8Array>, shard: ShardRef | undefined): boolean {
    const { replid, offset, db, key, entry } = event;
    if (this.filter && !this.filter.keyState(db, key, entry?.type ?? null)) return true;
    const place = `"replid":"${replid}","offset":${offset}${shard ? `,${shardFields(shard, hashSlot(key))}` : ''}`;
    if (!entry) {
      output.emit(Buffer.from(`{"event":"delete",${place},"db":${db},"key":${jsonBytes(key)}}\n`));
      return false;
    }
    const line = canonicalLine(entry);
    if (line === null) return true; // a module value: no line, as in a snapshot
    output.emit(Buffer.from(`{"event":"upsert",${place},${line.slice(1)}\n`));
    return false;
  }

  /** The lines of the writes the filter selects; true when it left them all out. */
  private writes(writes: Writes, output: StageOutput<Uint8Array>, shard: ShardRef | undefined): boolean {
    const lines = this.writeLines(writes, output, shard);
    if (lines === '') return true;
    output.emit(Buffer.from(lines));
    return false;
  }

  /** The lines of the writes the filter selects ('' when it leaves them all out). */
  private writeLines(writes: Writes, output: StageOutput<Uint8Array>, shard: ShardRef | undefined): string {
    const commands = this.filter ? writes.commands.filter((c) => this.selects(c, output)) : writes.commands;
    if (commands.length === 0) return '';
    const { replid, firstOffset, offset } = writes;
    const place = (c: ReplicaCommand) => (shard ? `,${shardFields(shard, this.slotOf(c))}` : '');
    return firstOffset === null ? commandLine(replid, commands[0]!, place)
      : transactionLines(replid, commands, firstOffset, offset, place, shard ? `,${shardFields(shard)}` : '');
  }

  /**
   * A moved line per key the filter selects, then the line of the DEL of the command's other keys: one
   * message, so that no batch ends between them (the position after it is after all of them). True when
   * the filter left them all out.
   */
  private moved(event: MovedEvent, output: StageOutput<Uint8Array>, shard: ShardRef): boolean {
    const { replid, command, rest } = event;
    const moves = this.filter ? event.moves.filter((m) => this.filter!.moved(command.name, command.db, m.key)) : event.moves;
    const lines = moves.map((m) => movedLine(replid, command, m, shard)).join('') +
      (rest ? this.writeLines({ replid, commands: [rest], firstOffset: null, offset: rest.offset }, output, shard) : '');
    if (lines === '') return true;
    output.emit(Buffer.from(lines));
    return false;
  }

  /** The hash slot of a write's keys (a cluster's writes name keys of one slot), null for a write without keys. */
  private slotOf(command: ReplicaCommand): number | null {
    const first = this.keys?.(command)[0];
    return first === undefined ? null : hashSlot(command.arg(first));
  }

  private selects(command: ReplicaCommand, output: StageOutput<Uint8Array>): boolean {
    const chosen = this.filter!.write(command.name, command.db, command);
    if (chosen === 'keys-unknown') {
      const warning = this.filter!.unknownKeysWarning(command.name, command.offset);
      if (warning) output.warn(warning);
      return false;
    }
    return chosen !== null;
  }
}

/** `"shard":"<id>"`, and `"slot":N` when given: the fields of a cluster's lines. */
function shardFields(shard: ShardRef, slot?: number | null): string {
  return `"shard":"${shard.id}"${slot === undefined ? '' : `,"slot":${slot}`}`;
}

/** A write's line; `place`: its cluster fields, after db ('' from one server). */
function commandLine(replid: string, c: ReplicaCommand, place: (c: ReplicaCommand) => string): string {
  return `{"replid":"${replid}","offset":${c.offset},"db":${c.db}${place(c)},"cmd":[${c.args.map(jsonBytes).join(',')}]}\n`;
}

/**
 * A key moved by slot migration: at the offset of the first byte of the command that carried it (before
 * the line of a DEL of that command's other keys), in the stream of the shard it left or entered; the
 * entering shard's line has the key's value as it arrived.
 */
function movedLine(replid: string, c: ReplicaCommand, m: KeyMove, shard: ShardRef): string {
  const value = m.value ? `,"expire_ms":${m.value.expireMs},"payload":${jsonBytes(m.value.payload)}` : '';
  return `{"event":"moved","replid":"${replid}","offset":${c.firstOffset},"db":${c.db},${shardFields(shard, m.slot)},` +
    `"key":${jsonBytes(m.key)},"from":${m.from === null ? 'null' : `"${m.from}"`},"to":"${m.to}"${value}}\n`;
}

/** A MULTI/EXEC block: its commands between a multi line (MULTI's first byte, how many follow) and an exec line. */
function transactionLines(replid: string, commands: ReplicaCommand[], firstOffset: number, offset: number,
  place: (c: ReplicaCommand) => string, shard: string): string {
  return `{"event":"multi","replid":"${replid}","offset":${firstOffset}${shard},"commands":${commands.length}}\n` +
    commands.map((c) => commandLine(replid, c, place)).join('') +
    `{"event":"exec","replid":"${replid}","offset":${offset}${shard}}\n`;
}

/**
 * The control line of a lifecycle event that changes what a consumer of the lines holds, or null.
 * Connection events (link up, link down) change nothing there and go to standard error only.
 */
function controlLine(e: SourceEvent, shard: ShardRef | undefined): string | null {
  const fields = controlFields(e);
  if (fields === null) return null;
  if (!shard) return `{${fields}}\n`;
  // A shard's snapshot, or a flush on its master, replaces the keys of its slots only: the line says which.
  const slots = e.type === 'full-sync-start' || e.type === 'flush' ? `,"slots":${JSON.stringify(shard.slots)}` : '';
  return `{${fields},${shardFields(shard)}${slots}}\n`;
}

function controlFields(e: SourceEvent): string | null {
  switch (e.type) {
    case 'full-sync-start': return `"event":"full-sync-start","replid":"${e.replid}","offset":${e.offset},"reason":"${e.reason}"`;
    case 'flush': return `"event":"flush","db":${e.db},"cause":"${e.cause}"`;
    case 'full-sync-end': return `"event":"full-sync-end","replid":"${e.replid}","offset":${e.offset}`;
    case 'resumed': return `"event":"resumed","replid":"${e.replid}","offset":${e.offset}`;
    case 'replid-changed': return `"event":"replid-changed","from":"${e.from}","to":"${e.to}","offset":${e.offset}`;
    default: return null;
  }
}
