// The change events publish sends, as JSON (docs/event-schema.md, docs/event-schema.json): a versioned
// envelope around each write of the source, each key of a snapshot, each key a cluster's slot migration
// moved, and the lifecycle events that change what a consumer holds. Every event has an id that is the same each time it is published again, so a
// consumer (or the broker) drops repeats by id.
import { randomBytes } from 'node:crypto';
import { base64, canonicalLine, isEmptyCollection, jsonBytes } from '../rdb/canonical-json.js';
import { CommandBuffer } from '../resp/command-buffer.js';
import type { RdbEntry } from '../rdb/entry.js';
import type { ReplicaCommand } from '../replica/events.js';
import type { KeyClass } from '../sync/command-keys.js';
import { hashSlot } from '../cluster/hash-slot.js';
import { EventBytes } from './event-bytes.js';
import type { MessageRoute, SinkMessage } from './sink.js';
import type { KeyMove, KeyStateEvent, ShardRef } from './source.js';

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


export interface ChangeEventOptions {
  snapshot: SnapshotMode;
  /** Events are spread over this many partitions (a field `partition` in each); 1: no field. */
  partitions: number;
  /** Each write also carries its command as RESP, base64 (`resp`), for a consumer that replays bytes. */
  resp: boolean;
}

/** Where an event goes among the partitions: one (its key's), or a copy to each (`null`: it names no key). */
export type PartitionChoice = number | null;

/** What each event starts with, up to its id. */
const ID_FIELD = `{"v":${EVENT_VERSION},"id":"`;
// JSON between an event's values, made once.
const SEQ_FIELD = utf8(',"seq":');
const PARTITION_FIELD = utf8(',"partition":');
const DB_FIELD = utf8(',"db":');
const ARGS_FIELD = utf8('],"args":[');
const NO_TX = utf8('],"tx":null');
const TX_ID_FIELD = utf8('],"tx":{"id":"');
const TX_INDEX_FIELD = utf8('","index":');
const TX_COUNT_FIELD = utf8(',"count":');
const RESP_FIELD = utf8(',"resp":"');
const SHARD_FIELD = utf8(',"shard":"');
const SLOT_FIELD = utf8(',"slot":');
const KEY_FIELD = utf8(',"key":');
const FROM_FIELD = utf8(',"from":');
const TO_FIELD = utf8(',"to":"');
const EXPIRE_FIELD = utf8(',"expire_ms":');
const PAYLOAD_FIELD = utf8(',"payload":');
const NULL = utf8('null');
const COMMA = 0x2c;
const DASH = 0x2d;
const TILDE = 0x7e;
const SLASH = 0x2f;
const QUOTE = 0x22;
const CLOSE = 0x7d;

/** What the writes of one command share: the JSON of its name and class (and the opening of keys), its routes. */
interface WrittenCommand {
  name: string;
  keyClass: KeyClass | null;
  /** `,"command":…,"class":…,"keys":[` */
  json: Uint8Array;
  /** By db × partitions + partition. */
  routes: MessageRoute[];
}

/** Makes the messages of one source's events. */
export class ChangeEvents {
  private readonly sourceJson: string;
  private readonly snapshot: SnapshotMode;
  /** The tag of the snapshot being published (made at its start), by shard ('' for one server). */
  private readonly snapshotTags = new Map<string, string>();
  /** The cluster shard whose events are being made (at()), null for one server's. */
  private shard: ShardRef | null = null;
  /** Where every event is written, its body taken from. */
  private readonly bytes = new EventBytes();
  /** What the writes of a command share, per command name. */
  private readonly commands = new Map<string, WrittenCommand>();
  /** Per event kind: kindField(), for the current replid. */
  private readonly kindFields = new Map<string, Uint8Array>();
  /** The replid of the last event, and `{"v":1,"id":"<replid>-`. */
  private replid: string | null = null;
  private idStart!: Uint8Array;

  constructor(source: string, private readonly options: ChangeEventOptions) {
    this.sourceJson = JSON.stringify(source);
    this.snapshot = options.snapshot;
  }

  /** The events made next are of this cluster shard's stream (they name it, and a key's its slot); undefined: one server's. */
  at(shard: ShardRef | undefined): void {
    this.shard = shard ?? null;
  }

  private get snapshotTag(): string {
    return this.snapshotTags.get(this.shard?.id ?? '') ?? '';
  }

  /**
   * A write: its keys (argument positions) and keyspace class come from the source's command table. `tx`:
   * its place in its MULTI/EXEC block, among the block's writes in the same partition.
   */
  write(command: ReplicaCommand, replid: string, keyPositions: readonly number[], keyClass: KeyClass | null,
    tx: TransactionPlace | null, partition: number, copy: boolean): SinkMessage {
    const slot = this.shard ? (keyPositions.length > 0 ? hashSlot(command.arg(keyPositions[0]!)) : null) : undefined;
    const id = this.head('write', { replid, offset: command.offset, seq: SEQ.write }, partition, copy, slot);
    const out = this.bytes;
    const written = this.written(command.name, keyClass);
    out.raw(DB_FIELD);
    out.integer(command.db);
    out.raw(written.json);
    // The first key's JSON is copied where it comes among the args: most writes name one key, made once so.
    const firstKey = out.position;
    let firstKeyEnd = firstKey;
    for (let k = 0; k < keyPositions.length; k++) {
      if (k > 0) out.byte(COMMA);
      out.byteString(command.arg(keyPositions[k]!));
      if (k === 0) firstKeyEnd = out.position;
    }
    out.raw(ARGS_FIELD);
    for (let i = 1; i < command.argCount; i++) {
      if (i > 1) out.byte(COMMA);
      if (i === keyPositions[0]) out.repeat(firstKey, firstKeyEnd);
      else out.byteString(command.arg(i));
    }
    this.transaction(tx);
    if (this.options.resp) {
      out.raw(RESP_FIELD);
      out.text(base64(respOf(command)));
      out.byte(QUOTE);
    }
    out.byte(CLOSE);
    return this.message(id, this.writeRoute(written, command.db, partition));
  }

  /**
   * A key moved by a cluster's slot migration (no change of the data), the `index`th of the command that
   * carried it: at that command's first byte, where nothing else is (a write is at its last byte), seq
   * `index`; so a DEL of the command's other keys comes after its moved keys.
   */
  moved(move: KeyMove, command: ReplicaCommand, replid: string, index: number, partition: number): SinkMessage {
    const id = this.head('moved', { replid, offset: command.firstOffset, seq: index }, partition, false, move.slot);
    const out = this.bytes;
    out.raw(DB_FIELD);
    out.integer(command.db);
    out.raw(KEY_FIELD);
    out.byteString(move.key);
    out.raw(FROM_FIELD);
    if (move.from === null) out.raw(NULL);
    else out.text(JSON.stringify(move.from));
    out.raw(TO_FIELD);
    out.text(move.to);
    out.byte(QUOTE);
    if (move.value) {
      out.raw(EXPIRE_FIELD);
      if (move.value.expireMs === null) out.raw(NULL);
      else out.integer(move.value.expireMs);
      out.raw(PAYLOAD_FIELD);
      out.byteString(move.value.payload);
    }
    out.byte(CLOSE);
    return this.message(id, { db: command.db, command: 'moved', class: 'generic', partition });
  }

  /** A key of a snapshot (seq: SEQ.firstSnapshotKey for its first key, then one more each); null for what the mode leaves out. */
  snapshotKey(entry: RdbEntry, replid: string, offset: number, seq: number, partition: number): SinkMessage | null {
    const line = this.snapshot === 'values' ? canonicalLine(entry) : keyLine(entry);
    if (line === null) return null;
    const id = this.head('snapshot', { replid, offset, seq, snapshot: this.snapshotTag }, partition, false, this.shard ? hashSlot(entry.key) : undefined);
    // The entry's canonical JSON (db, key, type, expire_ms, value) joins the envelope's fields.
    this.bytes.byte(COMMA);
    this.bytes.text(line.slice(1));
    return this.message(id, { db: entry.db, command: 'snapshot', class: classOfType(entry.type), partition });
  }

  /**
   * A scan source's key state (scan/scan-source.ts): `upsert` with the key's value now (its canonical
   * JSON, whatever the snapshot mode: the state is the change), or `delete` once it is gone; null for a
   * module value, which has no canonical form.
   */
  keyState(event: KeyStateEvent, partition: number): SinkMessage | null {
    const { entry, replid, offset, db, key } = event;
    const line = entry ? canonicalLine(entry) : `{"db":${db},"key":${jsonBytes(key)}}`;
    if (line === null) return null;
    const kind = entry ? 'upsert' : 'delete';
    const id = this.head(kind, { replid, offset, seq: SEQ.write }, partition, false, this.shard ? hashSlot(key) : undefined);
    this.bytes.byte(COMMA);
    this.bytes.text(line.slice(1));
    return this.message(id, { db, command: kind, class: entry ? classOfType(entry.type) : 'generic', partition });
  }

  /** The source is sending a snapshot: a consumer drops what it holds (`reason`: why there was no continuing). */
  fullSyncStart(replid: string, offset: number, reason: string): SinkMessage[] {
    this.snapshotTags.set(this.shard?.id ?? '', randomBytes(4).toString('hex'));
    const place = { replid, offset, seq: SEQ.fullSyncStart, snapshot: this.snapshotTag };
    // A shard's snapshot replaces the keys of its slots only: the event says which they are.
    const slots = this.shard ? `,"slots":${JSON.stringify(this.shard.slots)}` : '';
    return this.lifecycle('full-sync-start', place, `,"reason":${JSON.stringify(reason)},"snapshot":"${this.snapshot}"${slots}}`);
  }

  /**
   * The snapshot is complete: `count` snapshot events were published; `seq` follows the last key's (3 +
   * count, unless a transform hook dropped some); writes follow.
   */
  fullSyncEnd(replid: string, offset: number, seq: number, count: number): SinkMessage[] {
    return this.lifecycle('full-sync-end', { replid, offset, seq, snapshot: this.snapshotTag }, `,"count":${count}}`);
  }

  /** The source's replication ID changed (a failover, or a restart that continued): no data changed. */
  replidChanged(from: string, to: string, offset: number): SinkMessage[] {
    return this.lifecycle('replid-changed', { replid: to, offset, seq: SEQ.replidChanged }, `,"from":${JSON.stringify(from)}}`);
  }

  /** A lifecycle event: one, or a copy for each partition. `rest`: the JSON of its fields after the envelope's, and its end. */
  private lifecycle(event: string, place: Place, rest: string): SinkMessage[] {
    const copies = this.options.partitions > 1;
    return Array.from({ length: this.options.partitions }, (_, partition) => {
      const id = this.head(event, place, partition, copies);
      this.bytes.text(rest);
      return this.message(id, { db: null, command: event, class: event, partition });
    });
  }

  /**
   * Writes the envelope's fields (v to partition); returns the event's id: `<replid>-<offset>-<seq>`; an
   * event of a snapshot has `~<its publication's tag>` after it (a snapshot published again after a
   * restart is another one: its keys may come in another order, so an id must not name a key of the
   * first); the copy of an event sent to every partition (one that names no key) has `/<partition>` after
   * that, so each copy is an event of its own. The id is ASCII (a replid is hex): the string is read back
   * from its bytes.
   */
  private head(event: string, place: Place, partition: number, copy: boolean, slot?: number | null): string {
    const out = this.bytes;
    this.useReplid(place.replid);
    const idAt = out.position + ID_FIELD.length; // ASCII: as many bytes as characters
    out.raw(this.idStart);
    out.integer(place.offset);
    out.byte(DASH);
    out.integer(place.seq);
    if (place.snapshot !== undefined) {
      out.byte(TILDE);
      out.text(place.snapshot);
    }
    if (copy) {
      out.byte(SLASH);
      out.integer(partition);
    }
    const id = out.latin1Since(idAt);
    out.raw(this.kindField(event));
    out.integer(place.offset);
    out.raw(SEQ_FIELD);
    out.integer(place.seq);
    if (this.options.partitions > 1) {
      out.raw(PARTITION_FIELD);
      out.integer(partition);
    }
    if (this.shard) this.shardFields(slot);
    return id;
  }

  /** `,"shard":"<id>"` and, for an event of a key, `,"slot":N` (null: a write without keys). */
  private shardFields(slot: number | null | undefined): void {
    const out = this.bytes;
    out.raw(SHARD_FIELD);
    out.text(this.shard!.id);
    out.byte(QUOTE);
    if (slot === undefined) return;
    out.raw(SLOT_FIELD);
    if (slot === null) out.raw(NULL);
    else out.integer(slot);
  }

  /** The envelope's parts that name the replid are made again only when it changes. */
  private useReplid(replid: string): void {
    if (replid === this.replid) return;
    this.replid = replid;
    this.idStart = utf8(`${ID_FIELD}${replid}-`);
    this.kindFields.clear();
  }

  /** `","event":"<kind>","source":<source>,"replid":"<replid>","offset":`: between an event's id and its offset. */
  private kindField(event: string): Uint8Array {
    let field = this.kindFields.get(event);
    if (field === undefined) {
      field = utf8(`","event":"${event}","source":${this.sourceJson},"replid":"${this.replid}","offset":`);
      this.kindFields.set(event, field);
    }
    return field;
  }

  /** What the writes of a command share (made again if the command comes with another class). */
  private written(name: string, keyClass: KeyClass | null): WrittenCommand {
    let written = this.commands.get(name);
    if (written?.keyClass !== keyClass) {
      const json = utf8(`,"command":${JSON.stringify(name)},"class":${keyClass === null ? 'null' : `"${keyClass}"`},"keys":[`);
      written = { name, keyClass, json, routes: [] };
      this.commands.set(name, written);
    }
    return written;
  }

  /**
   * The route of a write: one object per command, db and partition, shared by their messages (frozen): a
   * message is held until the sink confirms it, and an object less per message is less for the garbage
   * collector to copy.
   */
  private writeRoute(written: WrittenCommand, db: number, partition: number): MessageRoute {
    const at = db * this.options.partitions + partition;
    return written.routes[at] ??= Object.freeze({ db, command: written.name, class: written.keyClass ?? 'none', partition });
  }

  /** Ends a write's args, and writes its `tx`: null, or its place in its block. */
  private transaction(tx: TransactionPlace | null): void {
    const out = this.bytes;
    if (tx === null) {
      out.raw(NO_TX);
      return;
    }
    out.raw(TX_ID_FIELD);
    out.text(tx.id);
    out.raw(TX_INDEX_FIELD);
    out.integer(tx.index);
    out.raw(TX_COUNT_FIELD);
    out.integer(tx.count);
    out.byte(CLOSE);
  }

  /** The message of the event just written. */
  private message(id: string, route: MessageRoute): SinkMessage {
    return { id, route, body: this.bytes.take() };
  }
}

function utf8(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
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
