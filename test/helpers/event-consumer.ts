// A consumer of publish's change events (src/pipeline/change-event.ts, docs/event-schema.md) that
// rebuilds a keyspace from the events alone, into a fresh redis-server: what a user's consumer would do.
// Events come as parsed JSON, in the order a sink delivered them, possibly with repeats:
//   - a repeat (an id already applied) is dropped, and so is any event whose (offset, seq) is not above
//     the last one applied in the current replid history (a full-sync-start begins a history, a
//     replid-changed whose `from` is in it adds its `to`);
//   - full-sync-start → FLUSHALL; snapshot (--snapshot values) → the commands that create the key from its
//     canonical value (../shared/fixtures/rdb/FORMAT.md: the canonical line is turned back into an RdbEntry
//     and src/convert/resp-commands.ts writes it as Redis's AOF rewrite would), its TTL last;
//   - write → SELECT db, then the command with its arguments ({"b64"} decoded); the writes of one
//     MULTI/EXEC block of the source (same tx.id) go in one MULTI/EXEC;
//   - moved (a key a cluster's slot migration moved; the events of one shard's stream): into this shard
//     (`to` is the event's shard) → RESTORE of its payload, out of it → DEL: each shard's keyspace follows;
//   - upsert (scan mode: a key as it is now) → DEL, then the snapshot's commands for its value; delete → DEL;
//   - full-sync-end, replid-changed → nothing.
// Every reply is checked: a command Redis refuses is a failure of the rebuild, never skipped. Commands are
// pipelined on the one connection (Redis runs them in the order sent) and their replies checked in order,
// a batch at a time: a round trip per command made a rebuild of 100,000 events take a minute.
import { RespCommandWriter } from '../../src/convert/resp-commands.js';
import { byteTextBytes, type ByteText } from '../../src/rdb/canonical-json.js';
import type { RdbEntry, StreamGroup } from '../../src/rdb/entry.js';
import { canonicalDump } from './keyspace.js';
import { isError, RedisClient, type Reply } from './redis-server.js';

/** A change event as JSON.parse gives it (only the members the consumer reads are typed). */
export interface ChangeEventJson {
  v: number;
  id: string;
  event: 'write' | 'snapshot' | 'full-sync-start' | 'full-sync-end' | 'replid-changed' | string;
  replid: string;
  offset: number;
  seq: number;
  db?: number;
  command?: string;
  class?: string | null;
  keys?: ByteText[] | number;
  args?: ByteText[];
  tx?: { id: string; index: number; count: number } | null;
  key?: ByteText;
  type?: string;
  expire_ms?: number | null;
  value?: unknown;
  field_expire_ms?: Array<[ByteText, number]>;
  from?: string | null;
  to?: string;
  shard?: string;
  payload?: ByteText;
}

export interface ConsumerStats {
  /** Events acted on (writes, snapshot keys, lifecycle events). */
  applied: number;
  /** Events dropped because their id was applied already. */
  repeats: number;
  /** Events dropped because they are not past the last applied place of the current history. */
  stale: number;
  /** Full syncs seen (FLUSHALL each). */
  fullSyncs: number;
}

type Arg = string | Buffer;

/** Rebuilds a keyspace in `client`'s server (meant to be empty) from change events. */
export class EventConsumer {
  readonly stats: ConsumerStats = { applied: 0, repeats: 0, stale: 0, fullSyncs: 0 };
  private readonly seen = new Set<string>();
  private history = new Set<string>();
  private last: { offset: number; seq: number } | null = null;
  private db = 0;
  /** The writes of a MULTI/EXEC block being gathered. */
  private tx: { id: string; count: number; writes: ChangeEventJson[] } | null = null;
  /** What each command sent and not yet checked found wrong with its reply (null: nothing), in sending order. */
  private unchecked: Array<Promise<string | null>> = [];

  constructor(private readonly client: RedisClient) {}

  /** Applies events in order (call again with later ones); rejects on a refused command or a malformed stream. */
  async apply(events: Iterable<ChangeEventJson>): Promise<void> {
    for (const event of events) {
      try {
        this.one(event);
      } catch (malformed) {
        await this.checkReplies(); // a command refused before it is the first thing wrong
        throw malformed;
      }
      if (this.unchecked.length >= 1000) await this.checkReplies();
    }
    await this.checkReplies();
  }

  /** Every event given so far was applied (no MULTI/EXEC block waits for more of its writes). */
  get complete(): boolean {
    return this.tx === null;
  }

  private one(e: ChangeEventJson): void {
    if (e.v !== 1) throw new Error(`event ${e.id}: version ${e.v}, this consumer reads 1`);
    if (this.seen.has(e.id)) {
      this.stats.repeats++;
      return;
    }
    if (e.event === 'full-sync-start') {
      if (this.tx) throw new Error(`full-sync-start ${e.id} inside the MULTI/EXEC block ${this.tx.id} (${this.tx.writes.length} of ${this.tx.count} writes)`);
      this.accept(e);
      this.history = new Set([e.replid]);
      this.last = { offset: e.offset, seq: e.seq };
      this.stats.fullSyncs++;
      this.call(['FLUSHALL']);
      return;
    }
    const inHistory = e.event === 'replid-changed' ? this.history.has(e.from!) : this.history.has(e.replid);
    if (!inHistory || !this.after(e)) {
      this.stats.stale++;
      return;
    }
    this.accept(e);
    this.last = { offset: e.offset, seq: e.seq };
    switch (e.event) {
      case 'write': return this.write(e);
      case 'snapshot': return this.snapshot(e);
      case 'replid-changed':
        this.history.add(e.replid);
        return;
      case 'moved': return this.moved(e);
      case 'upsert':
        this.select(e.db!);
        this.call(['DEL', bytes(e.key!)]);
        return this.snapshot(e);
      case 'delete':
        this.select(e.db!);
        return this.call(['DEL', bytes(e.key!)]);
      case 'full-sync-end': return;
      default: throw new Error(`event ${e.id}: unknown event type ${JSON.stringify(e.event)}`);
    }
  }

  private accept(e: ChangeEventJson): void {
    this.seen.add(e.id);
    this.stats.applied++;
  }

  private after(e: ChangeEventJson): boolean {
    const last = this.last;
    return last === null || e.offset > last.offset || (e.offset === last.offset && e.seq > last.seq);
  }

  private write(e: ChangeEventJson): void {
    if (!e.tx) {
      if (this.tx) throw new Error(`write ${e.id} outside the MULTI/EXEC block ${this.tx.id}, which has ${this.tx.writes.length} of its ${this.tx.count} writes`);
      this.select(e.db!);
      this.call(commandOf(e));
      return;
    }
    if (this.tx && this.tx.id !== e.tx.id) throw new Error(`write ${e.id} of block ${e.tx.id} inside block ${this.tx.id}`);
    this.tx ??= { id: e.tx.id, count: e.tx.count, writes: [] };
    if (e.tx.index !== this.tx.writes.length) throw new Error(`write ${e.id}: index ${e.tx.index} in block ${e.tx.id}, expected ${this.tx.writes.length}`);
    this.tx.writes.push(e);
    if (this.tx.writes.length < this.tx.count) return;
    const { writes } = this.tx;
    this.tx = null;
    // SELECT inside MULTI is queued like the writes: the block keeps the databases of its writes.
    this.call(['MULTI']);
    for (const w of writes) {
      if (w.db !== this.db) this.queue(['SELECT', String(w.db)]);
      this.db = w.db!;
      this.queue(commandOf(w));
    }
    const block = writes[0]!.tx!.id;
    this.sent(['EXEC'], (replies) => {
      if (!Array.isArray(replies)) return `EXEC of block ${block}: ${JSON.stringify(replies)}`;
      const refused = replies.findIndex((r) => isError(r));
      return refused < 0 ? null : `block ${block}: reply ${refused} of EXEC is ${JSON.stringify(replies[refused])} (${writes.map((w) => describe(commandOf(w))).join('; ')})`;
    });
  }

  private moved(e: ChangeEventJson): void {
    this.select(e.db!);
    if (e.shard !== e.to) {
      this.call(['DEL', bytes(e.key!)]);
      return;
    }
    if (e.payload === undefined) throw new Error(`moved ${e.id} into shard ${e.to} has no payload`);
    this.call(['RESTORE', bytes(e.key!), String(e.expire_ms ?? 0), bytes(e.payload), 'REPLACE', 'ABSTTL']);
  }

  private snapshot(e: ChangeEventJson): void {
    if (e.value === undefined) throw new Error(`snapshot ${e.id} has no value (publish with --snapshot values to rebuild from events alone)`);
    const commands: Uint8Array[] = [];
    const writer = new RespCommandWriter((c) => commands.push(c));
    writer.write(entryOf(e));
    if (writer.skippedModules + writer.skippedStreamEntries > 0) throw new Error(`snapshot ${e.id}: could not be written whole`);
    for (const command of commands) {
      const args = decodeCommand(command);
      if (String(args[0]).toUpperCase() === 'SELECT') {
        if (Number(String(args[1])) === this.db) continue;
        this.db = Number(String(args[1]));
      }
      this.call(args);
    }
  }

  private select(db: number): void {
    if (db === this.db) return;
    this.call(['SELECT', String(db)]);
    this.db = db;
  }

  /** Sends a command that must not be refused. */
  private call(args: Arg[]): void {
    this.sent(args, (r) => (isError(r) ? `${describe(args)}: ${r.error}` : null));
  }

  /** Sends a command inside MULTI, which must be queued. */
  private queue(args: Arg[]): void {
    this.sent(args, (r) => (r === 'QUEUED' ? null : `${describe(args)} in MULTI: ${JSON.stringify(r)}`));
  }

  /** Sends `args` now; `fault` judges its reply when the replies are checked. */
  private sent(args: Arg[], fault: (reply: Reply) => string | null): void {
    this.unchecked.push(this.client.call(...args).then(fault));
  }

  /** Waits for every reply sent so far; rejects with what was wrong with the first bad one. */
  private async checkReplies(): Promise<void> {
    const faults = await Promise.all(this.unchecked.splice(0));
    const first = faults.find((f) => f !== null);
    if (first) throw new Error(first);
  }
}

/** Applies `events` to the server behind `client` and returns what was done. */
export async function rebuild(client: RedisClient, events: Iterable<ChangeEventJson>): Promise<ConsumerStats> {
  const consumer = new EventConsumer(client);
  await consumer.apply(events);
  if (!consumer.complete) throw new Error('the events end inside a MULTI/EXEC block');
  return consumer.stats;
}

function bytes(t: ByteText): Buffer {
  const b = byteTextBytes(t);
  return Buffer.from(b.buffer, b.byteOffset, b.length);
}

function commandOf(e: ChangeEventJson): Arg[] {
  if (!e.command || !Array.isArray(e.args)) throw new Error(`write ${e.id} has no command or args`);
  return [e.command, ...e.args.map(bytes)];
}

function describe(args: Arg[]): string {
  return args.slice(0, 4).map((a) => (typeof a === 'string' ? a : a.toString('latin1'))).join(' ');
}

/** A RESP array of bulk strings (what encodeCommand writes) back to its arguments. */
function decodeCommand(command: Uint8Array): Buffer[] {
  const b = Buffer.from(command.buffer, command.byteOffset, command.length);
  let at = b.indexOf('\r\n');
  const n = Number(b.toString('latin1', 1, at));
  at += 2;
  const args: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const eol = b.indexOf('\r\n', at);
    const len = Number(b.toString('latin1', at + 1, eol));
    args.push(b.subarray(eol + 2, eol + 2 + len));
    at = eol + 2 + len + 2;
  }
  return args;
}

const score = (s: number | string): number => (s === 'inf' ? Infinity : s === '-inf' ? -Infinity : Number(s));

interface StreamJson {
  length: number;
  last_id: string;
  first_id?: string;
  entries: Array<[string, ByteText[]]>;
  max_deleted_id?: string;
  entries_added?: number;
  groups: Array<{
    name: ByteText;
    last_delivered_id: string;
    entries_read?: number | null;
    pel: Array<[string, ByteText, number]>;
    consumers: Array<{ name: ByteText; pel: string[] }>;
  }>;
}

/** A snapshot event's canonical line (FORMAT.md) as the RdbEntry it was made from (encodings aside). */
export function entryOf(e: ChangeEventJson): RdbEntry {
  const base = { db: e.db!, key: bytes(e.key!), expireMs: e.expire_ms ?? null, encoding: '', rdbType: 0 };
  switch (e.type) {
    case 'string': return { ...base, type: 'string', value: bytes(e.value as ByteText) };
    case 'list': return { ...base, type: 'list', value: (e.value as ByteText[]).map(bytes) };
    case 'set': return { ...base, type: 'set', value: (e.value as ByteText[]).map(bytes) };
    case 'zset': return { ...base, type: 'zset', value: (e.value as Array<[ByteText, number | string]>).map(([m, s]) => [bytes(m), score(s)]) };
    case 'hash':
      return {
        ...base, type: 'hash',
        value: (e.value as Array<[ByteText, ByteText]>).map(([f, v]) => [bytes(f), bytes(v)]),
        fieldExpires: (e.field_expire_ms ?? []).map(([f, ms]) => [bytes(f), ms]),
      };
    case 'stream': {
      const s = e.value as StreamJson;
      const groups: StreamGroup[] = s.groups.map((g) => ({
        name: bytes(g.name),
        lastDeliveredId: g.last_delivered_id,
        ...(g.entries_read !== undefined ? { entriesRead: g.entries_read } : {}),
        pending: g.pel.map(([id, consumer, count]) => ({ id, consumer: bytes(consumer), deliveryTimeMs: 0, deliveryCount: count })),
        consumers: g.consumers.map((c) => ({ name: bytes(c.name), seenTimeMs: 0, pending: c.pel })),
      }));
      return {
        ...base, type: 'stream',
        value: {
          length: s.length, lastId: s.last_id,
          ...(s.first_id !== undefined ? { firstId: s.first_id } : {}),
          ...(s.max_deleted_id !== undefined ? { maxDeletedId: s.max_deleted_id } : {}),
          ...(s.entries_added !== undefined ? { entriesAdded: s.entries_added } : {}),
          entries: s.entries.map(([id, fields]) => ({ id, fields: fields.map(bytes) })),
          groups,
        },
      };
    }
    default: throw new Error(`snapshot ${e.id}: type ${JSON.stringify(e.type)} cannot be rebuilt`);
  }
}

/** The events of a Redis stream sink's stream (XRANGE, field `event`), in order, parsed; `entries`: its entries' event ids. */
export async function readEventStream(client: RedisClient, stream: string): Promise<{ events: ChangeEventJson[]; ids: string[] }> {
  const events: ChangeEventJson[] = [];
  const ids: string[] = [];
  let start = '-';
  for (;;) {
    const page = await client.call('XRANGE', stream, start, '+', 'COUNT', 5000);
    if (isError(page)) throw new Error(`XRANGE ${stream}: ${page.error}`);
    const entries = page as Array<[Buffer, Buffer[]]>;
    for (const [, fields] of entries) {
      const field = (name: string) => {
        const at = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === name);
        if (at < 0) throw new Error(`an entry of ${stream} has no field ${name}`);
        return fields[at + 1]!.toString('utf8');
      };
      const event = JSON.parse(field('event')) as ChangeEventJson;
      if (field('id') !== event.id) throw new Error(`entry field id ${field('id')} is not the event's id ${event.id}`);
      events.push(event);
      ids.push(event.id);
    }
    if (entries.length < 5000) break;
    start = `(${entries[entries.length - 1]![0].toString()}`;
  }
  return { events, ids };
}

/**
 * A consumer per shard of a cluster: each shard's events applied into a fresh server of its own (`server`
 * starts one). Returns every key they hold together (the canonical dumper's lines, sorted), and what each
 * consumer did.
 */
export async function rebuildPerShard(events: ChangeEventJson[], shards: Iterable<string>, server: () => Promise<{ port: number }>):
  Promise<{ keyspace: string[]; stats: Map<string, ConsumerStats> }> {
  const keyspace: string[] = [];
  const stats = new Map<string, ConsumerStats>();
  for (const shard of shards) {
    const into = await server();
    const client = await RedisClient.connect(into.port);
    try {
      stats.set(shard, await rebuild(client, events.filter((e) => e.shard === shard)));
    } finally {
      client.close();
    }
    keyspace.push(...canonicalDump(into.port));
  }
  return { keyspace: keyspace.sort(), stats };
}
