// The change events publish sends, as JSON (docs/event-schema.md, docs/event-schema.json): a versioned
// envelope around each write of the source, each key of a snapshot, and the lifecycle events that change
// what a consumer holds. Every event has an id that is the same each time it is published again, so a
// consumer (or the broker) drops repeats by id.
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { base64, canonicalLine, isEmptyCollection, jsonBytes } from '../rdb/canonical-json.js';
import { CommandBuffer } from '../resp/command-buffer.js';
import type { RdbEntry } from '../rdb/entry.js';
import type { ReplicaCommand } from '../replica/events.js';
import type { KeyClass } from '../sync/command-keys.js';
import type { MessageRoute, SinkMessage } from './sink.js';

/** The envelope's version: `v` of every event. A change a consumer must know about raises it. */
export const EVENT_VERSION = 1;

/** How much of a snapshot is published: nothing, one event per key (no value), or each key with its value. */
export type SnapshotMode = 'none' | 'keys' | 'values';

/** Where an event is in the source's stream, and which source: the id is made of it. */
interface Place {
  replid: string;
  offset: number;
  /** Orders the events at one offset (SEQ): a snapshot's keys share the offset of its start. */
  seq: number;
  /** The snapshot publication the event belongs to (its start, keys and end). */
  snapshot?: string;
}

/**
 * The seq of each kind of event at one offset, in the order they can meet there: the write that ends at
 * the offset, a replication ID change after it, then a snapshot taken there (its start, its keys, its
 * end). Distinct, so that no two events at one (replid, offset) share an id: a full sync can start at the
 * offset where a write of an earlier run ended.
 */
export const SEQ = { write: 0, replidChanged: 1, fullSyncStart: 2, firstSnapshotKey: 3 } as const;

/** A write's place in a MULTI/EXEC block of the source: the block's id, its index, the writes published of it. */
export interface TransactionPlace {
  id: string;
  index: number;
  count: number;
}


/**
 * The id of the event at `place`: `<replid>-<offset>-<seq>`; an event of a snapshot has `~<its
 * publication's tag>` after it (a snapshot published again after a restart is another one: its keys may
 * come in another order, so an id must not name a key of the first); the copy of an event sent to every
 * partition (one that names no key) has `/<partition>` after that, so each copy is an event of its own.
 */
export function eventId(place: Place, copyFor: number | null = null): string {
  const id = `${place.replid}-${place.offset}-${place.seq}${place.snapshot === undefined ? '' : `~${place.snapshot}`}`;
  return copyFor === null ? id : `${id}/${copyFor}`;
}

export interface ChangeEventOptions {
  snapshot: SnapshotMode;
  /** Events are spread over this many partitions (a field `partition` in each); 1: no field. */
  partitions: number;
  /** Each write also carries its command as RESP, base64 (`resp`), for a consumer that replays bytes. */
  resp: boolean;
}

/** Where an event goes among the partitions: one (its key's), or a copy to each (`null`: it names no key). */
export type PartitionChoice = number | null;

/** Makes the messages of one source's events. */
export class ChangeEvents {
  private readonly sourceJson: string;
  private readonly snapshot: SnapshotMode;
  /** The tag of the snapshot being published (made at its start). */
  private snapshotTag = '';

  constructor(source: string, private readonly options: ChangeEventOptions) {
    this.sourceJson = JSON.stringify(source);
    this.snapshot = options.snapshot;
  }

  /**
   * A write: its keys (argument positions) and keyspace class come from the source's command table. `tx`:
   * its place in its MULTI/EXEC block, among the block's writes in the same partition.
   */
  write(command: ReplicaCommand, replid: string, keyPositions: readonly number[], keyClass: KeyClass | null,
    tx: TransactionPlace | null, partition: number, copy: boolean): SinkMessage {
    const place = { replid, offset: command.offset, seq: SEQ.write };
    const args: string[] = [];
    for (let i = 1; i < command.argCount; i++) args.push(argJson(command, i));
    const keys = keyPositions.map((i) => args[i - 1]!);
    const name = command.name;
    const txJson = tx === null ? 'null' : `{"id":"${tx.id}","index":${tx.index},"count":${tx.count}}`;
    const resp = this.options.resp ? `,"resp":"${base64(respOf(command))}"` : '';
    const body = `${this.head('write', place, partition, copy)},"db":${command.db},"command":${JSON.stringify(name)},` +
      `"class":${keyClass === null ? 'null' : `"${keyClass}"`},"keys":[${keys.join(',')}],"args":[${args.join(',')}],"tx":${txJson}${resp}}`;
    return this.message(place, body, { db: command.db, command: name, class: keyClass ?? 'none', partition }, copy);
  }

  /** A key of a snapshot (seq: SEQ.firstSnapshotKey for its first key, then one more each); null for what the mode leaves out. */
  snapshotKey(entry: RdbEntry, replid: string, offset: number, seq: number, partition: number): SinkMessage | null {
    const line = this.snapshot === 'values' ? canonicalLine(entry) : keyLine(entry);
    if (line === null) return null;
    const place = { replid, offset, seq, snapshot: this.snapshotTag };
    // The entry's canonical JSON (db, key, type, expire_ms, value) joins the envelope's fields.
    const body = `${this.head('snapshot', place, partition, false)},${line.slice(1)}`;
    return this.message(place, body, { db: entry.db, command: 'snapshot', class: classOfType(entry.type), partition }, false);
  }

  /** The source is sending a snapshot: a consumer drops what it holds (`reason`: why there was no continuing). */
  fullSyncStart(replid: string, offset: number, reason: string): SinkMessage[] {
    this.snapshotTag = randomBytes(4).toString('hex');
    const place = { replid, offset, seq: SEQ.fullSyncStart, snapshot: this.snapshotTag };
    return this.lifecycle('full-sync-start', place, `,"reason":${JSON.stringify(reason)},"snapshot":"${this.snapshot}"`);
  }

  /**
   * The snapshot is complete: `count` snapshot events were published; `seq` follows the last key's (3 +
   * count, unless a transform hook dropped some); writes follow.
   */
  fullSyncEnd(replid: string, offset: number, seq: number, count: number): SinkMessage[] {
    return this.lifecycle('full-sync-end', { replid, offset, seq, snapshot: this.snapshotTag }, `,"count":${count}`);
  }

  /** The source's replication ID changed (a failover, or a restart that continued): no data changed. */
  replidChanged(from: string, to: string, offset: number): SinkMessage[] {
    return this.lifecycle('replid-changed', { replid: to, offset, seq: SEQ.replidChanged }, `,"from":${JSON.stringify(from)}`);
  }

  /** A lifecycle event: one, or a copy for each partition. */
  private lifecycle(event: string, place: Place, fields: string): SinkMessage[] {
    const copies = this.options.partitions > 1;
    return Array.from({ length: this.options.partitions }, (_, partition) =>
      this.message(place, `${this.head(event, place, partition, copies)}${fields}}`, { db: null, command: event, class: event, partition }, copies));
  }

  private head(event: string, place: Place, partition: number, copy: boolean): string {
    const partitionField = this.options.partitions > 1 ? `,"partition":${partition}` : '';
    return `{"v":${EVENT_VERSION},"id":"${eventId(place, copy ? partition : null)}","event":"${event}","source":${this.sourceJson},` +
      `"replid":"${place.replid}","offset":${place.offset},"seq":${place.seq}${partitionField}`;
  }

  private message(place: Place, body: string, route: MessageRoute, copy: boolean): SinkMessage {
    return { id: eventId(place, copy ? route.partition : null), route, body: Buffer.from(body, 'utf8') };
  }
}

/**
 * Argument i as JSON: a string when it is UTF-8, else {"b64"}; what jsonBytes does, with Node's native
 * UTF-8 check, decoder and escaping, for every argument of every write (jsonBytes was the top function of
 * a publish profile, after the garbage collector).
 */
function argJson(command: ReplicaCommand, i: number): string {
  const bytes = command.arg(i);
  return isUtf8(bytes) ? JSON.stringify(command.argText(i)) : `{"b64":"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64')}"}`;
}

/** A command as RESP: *N, then each argument as a bulk string. */
function respOf(command: ReplicaCommand): Uint8Array {
  const buffer = new CommandBuffer(64);
  buffer.commandOf(command.argCount, (i) => command.arg(i));
  return buffer.take();
}

/** The keyspace class of a snapshot key's type (what a write to it would be classed). */
export function classOfType(type: RdbEntry['type']): string {
  return type === 'module' ? 'module' : type;
}

/** The canonical line of an entry without its value (--snapshot keys). */
function keyLine(e: RdbEntry): string | null {
  if (e.type === 'module' || isEmptyCollection(e)) return null;
  const expire = e.expireMs === null ? 'null' : String(e.expireMs);
  return `{"db":${e.db},"key":${jsonBytes(e.key)},"type":"${e.type}","expire_ms":${expire}}`;
}
