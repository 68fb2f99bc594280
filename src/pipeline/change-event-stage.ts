// publish's stage (stage.ts): the source's events, as the filter selects them, as change events
// (change-event.ts): each write with its keys, class and MULTI/EXEC place, each snapshot key (as the
// snapshot mode asks), each key a cluster's slot migration moved, the lifecycle events; spread over
// partitions by key, and through the transform hook.
import type { ConnectionOptions } from 'node:tls';
import type { RdbEntry } from '../rdb/entry.js';
import type { ReplicaCommand } from '../replica/events.js';
import type { KeyClass } from '../sync/command-keys.js';
import { hashSlot } from '../cluster/hash-slot.js';
import { ChangeEvents, SEQ, type SnapshotMode } from './change-event.js';
import { EventFilter, type EventFilterOptions, type FilterRecord } from './event-filter.js';
import { PipelineError } from './pipeline.js';
import { readCommandTable } from './source-commands.js';
import type { Sink, SinkMessage } from './sink.js';
import type { KeyStateEvent, MovedEvent, ShardRef, SourceEvent } from './source.js';
import type { Stage, StageOutput } from './stage.js';

export interface ChangeEventStageOptions {
  /** The source as events name it (host:port). */
  sourceName: string;
  sourceTls?: ConnectionOptions;
  timeoutMs?: number;
  filter: EventFilterOptions;
  snapshot: SnapshotMode;
  partitions: number;
  format: 'json' | 'json+resp';
  transform?: (event: Record<string, unknown>) => Record<string, unknown> | null;
  transformName?: string;
  /** The sink: its own writes (a Redis stream on the source's server) are not published. */
  sink: Sink;
}

/** The route a position was written under: a later run with another one would skip or mix events. */
interface RouteIdentity {
  filter: FilterRecord;
  snapshot: SnapshotMode;
  sink: string;
  partitions: number;
  format: 'json' | 'json+resp';
  transform: string | null;
}

interface SelectedWrite {
  command: ReplicaCommand;
  keys: number[];
  keyClass: KeyClass | null;
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();
/** Replicated commands that are not data. */
const NOT_DATA = new Set(['publish', 'spublish', 'ping', 'replconf', 'select', 'multi', 'exec']);

export class ChangeEventStage implements Stage<SinkMessage> {
  private filter!: EventFilter;
  private readonly events: ChangeEvents;
  private output!: StageOutput<SinkMessage>;
  /**
   * The snapshots being published, by shard ('' for one server): replid and offset (their events' place);
   * `seqs`: keys given a seq so far; `keys`: those published (the transform hook may drop some).
   */
  private readonly snapshotPlaces = new Map<string, { replid: string; offset: number; seqs: number; keys: number }>();
  /** Keys published by the snapshots since none was in progress (a cluster's shards each send one). */
  private snapshotKeys = 0;

  constructor(private readonly options: ChangeEventStageOptions) {
    this.events = new ChangeEvents(options.sourceName, { snapshot: options.snapshot, partitions: options.partitions, resp: options.format === 'json+resp' });
  }

  async prepare(source: string): Promise<void> {
    const { sourceTls, timeoutMs } = this.options;
    const table = await readCommandTable(source, sourceTls, timeoutMs);
    try {
      this.filter = new EventFilter(this.options.filter, table);
    } catch (err) {
      throw new PipelineError((err as Error).message);
    }
  }

  route(sink: string): RouteIdentity {
    const { snapshot, partitions, format, transform, transformName } = this.options;
    return { filter: this.filter.record, snapshot, sink, partitions, format, transform: transform ? transformName! : null };
  }

  snapshotSummary(): string {
    return `${this.snapshotKeys} keys published`;
  }

  handle(event: SourceEvent, output: StageOutput<SinkMessage>, shard?: ShardRef): boolean {
    this.output = output;
    this.events.at(shard);
    const stream = shard?.id ?? '';
    switch (event.type) {
      case 'command': return this.write([event.command], event.replid, event.command.offset, null);
      case 'transaction': return this.write(event.commands, event.replid, event.offset, event.firstOffset);
      case 'moved': return this.moved(event);
      case 'key-state': return this.keyState(event);
      case 'entry': this.snapshotKey(event.entry, stream); break;
      case 'full-sync-start':
        if (!event.replid) {
          // Its offsets start again from 0 at every connection: ids would repeat, with other events.
          throw new PipelineError('the source answered PSYNC with a SYNC-style transfer (PSYNC renamed or refused?): ' +
            'without a replication ID the events would have no lasting ids');
        }
        if (this.snapshotPlaces.size === 0) this.snapshotKeys = 0;
        this.snapshotPlaces.set(stream, { replid: event.replid, offset: event.offset, seqs: 0, keys: 0 });
        this.addAll(this.events.fullSyncStart(event.replid, event.offset, event.reason));
        break;
      case 'full-sync-end': {
        const place = this.snapshotPlaces.get(stream)!;
        this.addAll(this.events.fullSyncEnd(place.replid, place.offset, SEQ.firstSnapshotKey + place.seqs, place.keys));
        this.snapshotKeys += place.keys;
        this.snapshotPlaces.delete(stream);
        break;
      }
      case 'replid-changed': this.addAll(this.events.replidChanged(event.from, event.to, event.offset)); break;
      default: break;
    }
    return false;
  }

  // ------------------------------------------------------------------ writes

  /** A command or a MULTI/EXEC block; true when writes of it were left out with nothing published. */
  private write(commands: ReplicaCommand[], replid: string, offset: number, txFirst: number | null): boolean {
    const selected: SelectedWrite[] = [];
    for (const command of commands) {
      const name = command.name;
      if (NOT_DATA.has(name)) continue;
      const chosen = this.filter.write(name, command.db, command);
      if (chosen === 'keys-unknown') {
        this.unknownKeys(name, command.offset);
        continue;
      }
      if (chosen === null) continue;
      const keys = chosen.keys ?? [];
      if (this.sinkOwnsAll(command, keys)) continue;
      selected.push({ command, keys, keyClass: chosen.keyClass });
    }
    const published = this.publishWrites(selected, replid, txFirst === null ? null : `${replid}-${offset}`);
    // Writes left out (by the filter or the hook; not the sink's own): the position moved with no message.
    return published === 0 && (selected.length > 0 || !commands.every((c) => NOT_DATA.has(c.name) || this.sinkOwnsAll(c, this.filter.keysOf(c))));
  }

  /**
   * A moved event per key the filter selects (as the hook leaves them), then the DEL of the command's
   * other keys as a write; true when nothing of it was published.
   */
  private moved(event: MovedEvent): boolean {
    const { replid, command, rest } = event;
    const { sink, transform } = this.options;
    const moves = event.moves.filter((m) => this.filter.moved(command.name, command.db, m.key) && !sink.ownsKey?.(command.db, m.key));
    const made = moves.map((m, i) => this.events.moved(m, command, replid, i, this.partitionOf(m.key)));
    const messages = transform ? made.flatMap((m) => {
      const e = this.transformEvent(m);
      return e === null ? [] : [this.encodeTransformed(m, e)];
    }) : made;
    // In one batch with the DEL after them: the position after the event comes with all of them.
    messages.forEach((m, i) => this.output.emit(m, rest === null && i === messages.length - 1));
    const restLeftOut = rest ? this.write([rest], replid, rest.offset, null) : true;
    return messages.length === 0 && restLeftOut;
  }

  /**
   * The selected writes of a command or block as messages: each to its first key's partition, or a copy to
   * every partition when it names no key; a block's writes numbered among those of its partition.
   */
  private publishWrites(selected: SelectedWrite[], replid: string, txId: string | null): number {
    const partitions = this.options.partitions;
    if (selected.length === 1 && txId === null && partitions === 1 && !this.options.transform) {
      // Most writes: one command, one partition; no block to number (no arrays, no closures per event).
      const { command, keys, keyClass } = selected[0]!;
      this.output.emit(this.events.write(command, replid, keys, keyClass, null, 0, false));
      return 1;
    }
    const partitionOf = selected.map(({ command, keys }) => (keys.length === 0 ? null : this.partitionOf(command.arg(keys[0]!))));
    const counts = new Array<number>(partitions).fill(0);
    for (const p of partitionOf) if (p === null) counts.forEach((_, i) => counts[i]!++); else counts[p]!++;
    const next = new Array<number>(partitions).fill(0);
    let messages: SinkMessage[] = [];
    selected.forEach(({ command, keys, keyClass }, i) => {
      const one = partitionOf[i]!;
      for (const p of one === null ? counts.map((_, q) => q) : [one]) {
        const tx = txId === null ? null : { id: txId, index: next[p]!++, count: counts[p]! };
        messages.push(this.events.write(command, replid, keys, keyClass, tx, p, one === null && partitions > 1));
      }
    });
    if (this.options.transform) messages = this.transformedBlock(messages, txId);
    // A block's messages go in one batch: its position (after the block) must come with all of them.
    messages.forEach((message, i) => this.output.emit(message, i === messages.length - 1));
    return messages.length;
  }

  /**
   * A command's or block's messages as the transform hook leaves them; when it drops some writes of a
   * block, those it keeps are numbered again among themselves (tx.index, tx.count), so that a consumer
   * waiting for a block's count of writes gets them all.
   */
  private transformedBlock(messages: SinkMessage[], txId: string | null): SinkMessage[] {
    const kept: Array<{ message: SinkMessage; event: Record<string, unknown> }> = [];
    for (const message of messages) {
      const event = this.transformEvent(message);
      if (event !== null) kept.push({ message, event });
    }
    if (txId !== null && kept.length < messages.length) {
      const counts = new Map<number, number>();
      for (const { message } of kept) counts.set(message.route.partition, (counts.get(message.route.partition) ?? 0) + 1);
      const next = new Map<number, number>();
      for (const { message, event } of kept) {
        const p = message.route.partition;
        if (event.tx) event.tx = { id: txId, index: next.get(p) ?? 0, count: counts.get(p)! };
        next.set(p, (next.get(p) ?? 0) + 1);
      }
    }
    return kept.map(({ message, event }) => this.encodeTransformed(message, event));
  }

  private partitionOf(key: Uint8Array): number {
    return this.options.partitions === 1 ? 0 : hashSlot(key) % this.options.partitions;
  }

  /** A write only to keys the sink writes itself (a Redis stream sink on the source's own server). */
  private sinkOwnsAll(command: ReplicaCommand, keys: number[]): boolean {
    const sink = this.options.sink;
    if (!sink.ownsKey || keys.length === 0) return false;
    for (const at of keys) if (!sink.ownsKey(command.db, command.arg(at))) return false;
    return true;
  }

  private unknownKeys(name: string, offset: number): void {
    const warning = this.filter.unknownKeysWarning(name, offset);
    if (warning) this.output.warn(warning);
  }

  // ------------------------------------------------------------------ snapshot and lifecycle events

  /** A scan source's key state, as the filter selects it; true when left out (a key the sink writes is not its). */
  private keyState(event: KeyStateEvent): boolean {
    const { db, key, entry } = event;
    if (!this.filter.keyState(db, key, entry?.type ?? null) || this.options.sink.ownsKey?.(db, key)) return true;
    const message = this.events.keyState(event, this.partitionOf(key));
    if (message === null) {
      this.output.warn(`key ${JSON.stringify(utf8.decode(key))} (db ${db}) is a module value: its change is not published`);
      return true;
    }
    return !this.addEvent(message);
  }

  private snapshotKey(entry: RdbEntry, stream: string): void {
    const place = this.snapshotPlaces.get(stream);
    if (!place || !this.filter.snapshotKey(entry.db, entry.key, entry.type)) return;
    if (this.options.sink.ownsKey?.(entry.db, entry.key)) return;
    const message = this.events.snapshotKey(entry, place.replid, place.offset, SEQ.firstSnapshotKey + place.seqs, this.partitionOf(entry.key));
    if (message === null) {
      if (entry.type === 'module') this.output.warn(`snapshot key ${JSON.stringify(utf8.decode(entry.key))} (db ${entry.db}) is a module value: not published`);
      return;
    }
    place.seqs++;
    if (this.addEvent(message)) place.keys++;
  }

  private addAll(messages: SinkMessage[]): void {
    for (const message of messages) this.addEvent(message);
  }

  /** Adds a lifecycle or snapshot event, as the transform hook leaves it; false when the hook dropped it. */
  private addEvent(message: SinkMessage): boolean {
    if (!this.options.transform) {
      this.output.emit(message);
      return true;
    }
    const event = this.transformEvent(message);
    if (event !== null) this.output.emit(this.encodeTransformed(message, event));
    return event !== null;
  }

  /** The event as the transform hook returns it (null: dropped). */
  private transformEvent(message: SinkMessage): Record<string, unknown> | null {
    return this.options.transform!(JSON.parse(utf8.decode(message.body)) as Record<string, unknown>);
  }

  /** A message of the hook's event, its id and partition kept; its route follows the command, db and class the hook set. */
  private encodeTransformed(message: SinkMessage, event: Record<string, unknown>): SinkMessage {
    event.id = message.id;
    const route = { ...message.route };
    if (typeof event.command === 'string') route.command = event.command;
    if (typeof event.db === 'number') route.db = event.db;
    if (typeof event.class === 'string') route.class = event.class;
    return { id: message.id, route, body: encoder.encode(JSON.stringify(event)) };
  }
}
