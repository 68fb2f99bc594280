// RDB entries → the Redis commands that rebuild them (`--format resp`): every command a RESP array of
// bulk strings, binary-safe, ready for `redis-cli --pipe`. The target is meant to be empty: like an AOF
// replay, the commands add to keys that already exist instead of replacing them.
//
// Per key, in order (the shapes follow Redis's own AOF rewrite, src/aof.c):
//   SELECT db                 before the first key and whenever the database changes
//   SET | RPUSH | SADD | ZADD | HSET   the value; collections in batches (≤ 1,000 elements, ~1 MiB) so a
//                                      huge key never becomes one giant command
//   HPEXPIREAT key ms FIELDS n f...    hash field TTLs (Redis ≥ 7.4: older servers reject the command)
//   XADD / XGROUP / XCLAIM / XSETID    streams (see writeStream)
//   PEXPIREAT key ms          the key's TTL, always last: a time already past deletes the key for good, as
//                             loading the RDB would, where a TTL set first would let later batches recreate
//                             it without one. PEXPIREAT (Redis ≥ 2.6) serves every type alike.
// Skipped: module values (their content is opaque to us; counted in skippedModules so a caller can warn)
// and empty lists/sets/zsets/hashes (Redis drops them on load; a stream may be empty and is kept).
//
// What the target must support: variadic HSET (Redis 4.0), streams (5.0); XGROUP CREATECONSUMER and
// XTRIM MINID (6.2) only for consumers with nothing pending and for pending entries whose message was
// trimmed; XSETID ENTRIESADDED/MAXDELETEDID and XGROUP CREATE ENTRIESREAD (7.0) only for streams read
// from files written by Redis ≥ 7.0; HPEXPIREAT (7.4) only for hashes with field TTLs.
import type { HashEntry, RdbEntry, StreamGroup, StreamId, StreamValue } from '../rdb/entry.js';
import { encodeCommand, type CommandArg } from '../resp/encode.js';
import { compareIds, isEmptyCollection } from '../rdb/canonical-json.js';

/** Receives each encoded command, one call per command. */
export type CommandSink = (command: Uint8Array) => void;

const BATCH_MAX_ELEMENTS = 1000;
const BATCH_MAX_BYTES = 1 << 20;
/** What a zset member costs in a command besides its bytes: the score text and both bulk headers. */
const SCORE_OVERHEAD_BYTES = 40;

export class RespCommandWriter {
  private currentDb: number | null = null;
  private modules = 0;
  private fieldlessStreamEntries = 0;

  constructor(private readonly sink: CommandSink) {}

  /** Module values met so far: not written, since only the module itself could rebuild them. */
  get skippedModules(): number {
    return this.modules;
  }

  /**
   * Stream entries with no fields met so far: not written, since XADD needs at least one field-value pair.
   * Redis never writes such entries; only a crafted file holds them.
   */
  get skippedStreamEntries(): number {
    return this.fieldlessStreamEntries;
  }

  /** Writes the commands that rebuild one key. */
  write(entry: RdbEntry): void {
    if (entry.type === 'module') {
      this.modules++;
      return;
    }
    if (isEmptyCollection(entry)) return;
    this.select(entry.db);
    const key = entry.key;
    switch (entry.type) {
      case 'string':
        this.send(['SET', key, entry.value]);
        break;
      case 'list':
        this.sendBatches(['RPUSH', key], entry.value, (item) => item.length, (item) => [item]);
        break;
      case 'set':
        this.sendBatches(['SADD', key], entry.value, (member) => member.length, (member) => [member]);
        break;
      case 'zset':
        this.sendBatches(['ZADD', key], entry.value, ([member]) => member.length + SCORE_OVERHEAD_BYTES,
          ([member, score]) => [scoreText(score), member]);
        break;
      case 'hash':
        this.writeHash(key, entry);
        break;
      case 'stream':
        this.writeStream(key, entry.value);
        break;
    }
    if (entry.expireMs !== null) this.send(['PEXPIREAT', key, entry.expireMs]);
  }

  private select(db: number): void {
    if (db === this.currentDb) return;
    this.send(['SELECT', db]);
    this.currentDb = db;
  }

  private send(args: readonly CommandArg[]): void {
    this.sink(encodeCommand(args));
  }

  /** One command per batch of items: `head` followed by the arguments of each item. */
  private sendBatches<T>(head: readonly CommandArg[], items: readonly T[], sizeOf: (item: T) => number,
    argsOf: (item: T) => CommandArg[]): void {
    for (const batch of batches(items, sizeOf)) this.send([...head, ...batch.flatMap(argsOf)]);
  }

  private writeHash(key: Uint8Array, entry: HashEntry): void {
    this.sendBatches(['HSET', key], entry.value, ([field, value]) => field.length + value.length,
      (pair) => pair);
    // HPEXPIREAT sets one time for many fields: fields that share an expire time share commands.
    for (const [ms, fields] of fieldsByExpireTime(entry.fieldExpires)) {
      for (const batch of batches(fields, (field) => field.length)) {
        this.send(['HPEXPIREAT', key, ms, 'FIELDS', batch.length, ...batch]);
      }
    }
  }

  /**
   * A stream as AOF rewrite rebuilds one: XADD each entry (XADD MAXLEN 0 + XSETID for an empty stream),
   * XGROUP CREATE each group with its entries_read, XCLAIM … JUSTID FORCE each pending entry into its
   * consumer (XGROUP CREATECONSUMER for consumers with nothing pending), XSETID for last ID,
   * entries-added and max-deleted-ID.
   *
   * Unlike AOF rewrite this keeps pending entries whose message is gone (deleted or trimmed: common with
   * XADD MAXLEN and slow consumers), which XCLAIM refuses to claim: such an ID is XADDed as a placeholder,
   * claimed, then removed again — by XTRIM MINID when it lies before every live entry (trimming is how it
   * went, and trimming leaves max-deleted-ID alone: XDEL would raise it, and XSETID cannot lower it back to
   * 0-0), by XDEL when it lies between them (only XDEL removes those, so the file's max-deleted-ID already
   * covers it).
   */
  private writeStream(key: Uint8Array, stream: StreamValue): void {
    const live = stream.entries.filter((e) => e.fields.length > 0);
    this.fieldlessStreamEntries += stream.entries.length - live.length;
    const placeholders = orphanedPendingIds(stream.groups, new Set(live.map((e) => e.id)));
    const additions = placeholders.length === 0 ? live
      : [...live, ...placeholders.map((id) => ({ id, fields: PLACEHOLDER_FIELDS }))].sort((a, b) => compareIds(a.id, b.id));
    if (additions.length === 0) this.send(['XADD', key, 'MAXLEN', 0, '0-1', ...PLACEHOLDER_FIELDS]);
    for (const { id, fields } of additions) this.send(['XADD', key, id, ...fields]);
    for (const group of stream.groups) this.writeGroup(key, group);
    this.removePlaceholders(key, placeholders, live[0]?.id ?? null);
    const setId: CommandArg[] = ['XSETID', key, stream.lastId];
    if (stream.entriesAdded !== undefined) setId.push('ENTRIESADDED', stream.entriesAdded);
    if (stream.maxDeletedId !== undefined) setId.push('MAXDELETEDID', stream.maxDeletedId);
    this.send(setId);
  }

  private writeGroup(key: Uint8Array, group: StreamGroup): void {
    const create: CommandArg[] = ['XGROUP', 'CREATE', key, group.name, group.lastDeliveredId];
    // Streams from Redis ≥ 7.0 carry entries_read; null means unknown, which the command spells -1.
    if (group.entriesRead !== undefined) create.push('ENTRIESREAD', group.entriesRead ?? -1);
    this.send(create);
    for (const p of group.pending) {
      // A pending entry no consumer lists has no owner to claim it for; Redis itself never writes one.
      if (p.consumer === null) continue;
      this.send(['XCLAIM', key, group.name, p.consumer, 0, p.id, 'TIME', p.deliveryTimeMs,
        'RETRYCOUNT', p.deliveryCount, 'JUSTID', 'FORCE']);
    }
    for (const consumer of group.consumers) {
      if (consumer.pending.length === 0) this.send(['XGROUP', 'CREATECONSUMER', key, group.name, consumer.name]);
    }
  }

  /** `placeholders` are sorted; `firstLiveId` is null when the stream has no live entry. */
  private removePlaceholders(key: Uint8Array, placeholders: readonly StreamId[], firstLiveId: StreamId | null): void {
    const inside = firstLiveId === null ? [] : placeholders.filter((id) => compareIds(id, firstLiveId) > 0);
    if (inside.length < placeholders.length) {
      this.send(firstLiveId === null ? ['XTRIM', key, 'MAXLEN', 0] : ['XTRIM', key, 'MINID', firstLiveId]);
    }
    this.sendBatches(['XDEL', key], inside, (id) => id.length, (id) => [id]);
  }
}

/** The field-value pair of the entries that exist only for a moment (empty streams, placeholders). */
const PLACEHOLDER_FIELDS = [new Uint8Array([0x78]), new Uint8Array([0x79])]; // "x" "y", as AOF rewrite uses

/**
 * Splits items into runs of at most BATCH_MAX_ELEMENTS items whose sizes add up to at most
 * BATCH_MAX_BYTES; an item larger than that on its own makes a run of one.
 */
function* batches<T>(items: readonly T[], sizeOf: (item: T) => number): Generator<T[]> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < items.length; i++) {
    const size = sizeOf(items[i]!);
    if (i > start && (i - start === BATCH_MAX_ELEMENTS || bytes + size > BATCH_MAX_BYTES)) {
      yield items.slice(start, i);
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < items.length) yield items.slice(start);
}

/**
 * A score as text that parses back to the same double: JS's shortest round-trip form, which Redis's
 * strtod reads exactly; infinities as Redis spells them, and -0 kept negative (String(-0) is "0").
 */
function scoreText(score: number): string {
  if (score === Infinity) return 'inf';
  if (score === -Infinity) return '-inf';
  if (Object.is(score, -0)) return '-0';
  return String(score);
}

function fieldsByExpireTime(fieldExpires: HashEntry['fieldExpires']): Map<string, Uint8Array[]> {
  const byTime = new Map<string, Uint8Array[]>();
  for (const [field, ms] of fieldExpires) {
    const time = String(ms);
    const fields = byTime.get(time);
    if (fields) fields.push(field);
    else byTime.set(time, [field]);
  }
  return byTime;
}

/** IDs some group still lists as pending but whose entry the stream no longer has, sorted. */
function orphanedPendingIds(groups: readonly StreamGroup[], liveIds: ReadonlySet<StreamId>): StreamId[] {
  const orphaned = new Set<StreamId>();
  for (const group of groups) {
    for (const p of group.pending) if (p.consumer !== null && !liveIds.has(p.id)) orphaned.add(p.id);
  }
  return [...orphaned].sort(compareIds);
}
