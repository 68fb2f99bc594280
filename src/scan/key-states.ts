// Keys read as they are now, on one connection, pipelined: DUMP and the expire time of each (SELECT as
// the db changes), the payload parsed by the RDB core (dump-entries.ts). What DUMP leaves out is lost:
// a key's idle time and access frequency.
import { encodeCommand } from '../resp/encode.js';
import { RespErrorReply, type RespValue } from '../resp/replies.js';
import type { RdbEntry } from '../rdb/entry.js';
import { ConnectionError, type RedisConnection } from '../sync/connection.js';
import { DumpEntries } from './dump-entries.js';

export interface KeyRef {
  db: number;
  key: Uint8Array;
}

export interface KeyState extends KeyRef {
  /**
   * The key's value and expire time now; null: it does not exist (deleted, expired, renamed away);
   * undefined: not this node's (a cluster node answered MOVED or ASK: its slot is served, or being
   * imported, elsewhere, where its state is read).
   */
  entry: RdbEntry | null | undefined;
}

/** A cluster node's answer for a key of a slot it does not serve (any more), or is migrating away. */
const ELSEWHERE = new Set(['MOVED', 'ASK']);

export class KeyStates {
  private readonly entries = new DumpEntries();
  /** The db selected on the connection (-1: not known). */
  private db = -1;
  /** Bytes of DUMP payloads read so far. */
  bytes = 0;
  /**
   * `absoluteExpiry`: the server has PEXPIRETIME (7.0+); else PTTL is added to our clock (as exact as
   * the clocks agree).
   */
  constructor(private readonly connection: RedisConnection, private readonly absoluteExpiry: boolean) {}

  /**
   * Selects `db` on the connection (for a SCAN of it), if it is not the one selected: the connection's db
   * is this object's to know, or reads after it would go to the wrong db.
   */
  async select(db: number): Promise<void> {
    if (db === this.db) return;
    refused(await this.connection.call(['SELECT', db]), `SELECT ${db}`);
    this.db = db;
  }

  /** The state of each key, in order. */
  async read(keys: readonly KeyRef[]): Promise<KeyState[]> {
    if (keys.length === 0) return [];
    const expiry = this.absoluteExpiry ? 'PEXPIRETIME' : 'PTTL';
    const parts: Uint8Array[] = [];
    let db = this.db;
    for (const { db: keyDb, key } of keys) {
      if (keyDb !== db) parts.push(encodeCommand(['SELECT', keyDb]));
      db = keyDb;
      parts.push(encodeCommand(['DUMP', key]), encodeCommand([expiry, key]));
    }
    const replies = await this.connection.send(parts, parts.length);
    const now = Date.now();
    const states: KeyState[] = [];
    let at = 0;
    for (const { db: keyDb, key } of keys) {
      if (keyDb !== this.db) {
        refused(replies[at++]!, `SELECT ${keyDb}`);
        this.db = keyDb;
      }
      const dumped = replies[at++]!;
      const expires = replies[at++]!;
      if (elsewhere(dumped) || elsewhere(expires)) {
        states.push({ db: keyDb, key, entry: undefined });
        continue;
      }
      const payload = refused(dumped, 'DUMP');
      const ttl = Number(refused(expires, expiry));
      // -2: gone (deleted after DUMP read it: the newer state wins).
      if (payload instanceof Uint8Array) this.bytes += payload.length;
      const exists = payload instanceof Uint8Array && ttl !== -2;
      const expireMs = ttl < 0 ? null : this.absoluteExpiry ? ttl : now + ttl;
      states.push({ db: keyDb, key, entry: exists ? await this.entries.entry(keyDb, key, payload, expireMs) : null });
    }
    return states;
  }
}

function elsewhere(reply: RespValue): boolean {
  return reply instanceof RespErrorReply && ELSEWHERE.has(reply.code);
}

/** The reply, or a failure naming the command the source refused (an ACL without DUMP, say). */
function refused(reply: RespValue, command: string): RespValue {
  if (!(reply instanceof RespErrorReply)) return reply;
  throw new ConnectionError(`the source refused ${command}: ${reply.message}${reply.code === 'NOPERM' ? ' (scan mode needs SCAN, DUMP, PEXPIRETIME or PTTL, SELECT, and SUBSCRIBE to keyspace notifications)' : ''}`, false);
}
