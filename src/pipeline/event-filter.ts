// Which events publish (and tail) let through: the keyspace-notification classes of Redis's
// notify-keyspace-events (`--events '$h'`), databases, commands, key prefixes and a key pattern. Writes
// are judged by the source's own command table (which arguments are keys, which class a command is);
// lifecycle events always pass: without them a consumer cannot tell what its data means.
import { startsWith } from '../rdb/key-filter.js';
import type { RdbValueType } from '../rdb/entry.js';
import type { CommandArgs, CommandKeys, KeyClass } from '../sync/command-keys.js';

export interface EventFilterOptions {
  /**
   * Classes as notify-keyspace-events letters: g generic (DEL, EXPIRE, RENAME...), $ string, l list, s set,
   * h hash, z sorted set, t stream; A is all of them. K and E (which channels notifications go to) mean
   * nothing here and are ignored, so a server's own setting (e.g. KEA) can be given as it is.
   */
  events?: string;
  /** Only writes to these source databases. */
  dbs?: readonly number[];
  /** Only these commands (case-insensitive). */
  commands?: readonly string[];
  /** Only writes to keys starting with one of these. */
  prefixes?: readonly string[];
  /** Only writes to keys this matches (the key as UTF-8 text). */
  keyPattern?: RegExp;
}

/** A filter as a position records it: a later run with another refuses to continue (JSON). */
export interface FilterRecord {
  events: string | null;
  dbs: number[] | null;
  commands: string[] | null;
  prefixes: string[] | null;
  key: string | null;
}

/** What a write that passes is: its key positions (null: they cannot be told) and class. */
export interface SelectedWrite {
  keys: number[] | null;
  keyClass: KeyClass | null;
}

const LETTERS: Record<string, KeyClass> = { g: 'generic', $: 'string', l: 'list', s: 'set', h: 'hash', z: 'zset', t: 'stream' };
const UNAVAILABLE: Record<string, string> = {
  x: 'expired keys reach a replica as DEL or UNLINK (class g)',
  e: 'evicted keys reach a replica as DEL or UNLINK (class g)',
  n: 'a replication stream does not say that a key is new',
  m: 'key misses are reads, which a replication stream does not carry',
  d: 'module key types have no class of their own here',
};

/** The classes `letters` selects (notify-keyspace-events letters); throws on a letter it cannot honour. */
export function classesOf(letters: string): Set<KeyClass> {
  const classes = new Set<KeyClass>();
  for (const letter of letters) {
    if (letter === 'A') Object.values(LETTERS).forEach((c) => classes.add(c));
    else if (LETTERS[letter]) classes.add(LETTERS[letter]!);
    else if (letter === 'K' || letter === 'E') continue;
    else if (UNAVAILABLE[letter]) throw new TypeError(`--events ${letter}: ${UNAVAILABLE[letter]}`);
    else throw new TypeError(`--events: unknown class letter ${JSON.stringify(letter)} (use g $ l s h z t, or A for all)`);
  }
  if (classes.size === 0) throw new TypeError(`--events ${JSON.stringify(letters)} selects no class (use g $ l s h z t, or A for all)`);
  return classes;
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

export class EventFilter {
  readonly record: FilterRecord;
  private readonly classes: Set<KeyClass> | null;
  private readonly dbs: Set<number> | null;
  private readonly commands: Set<string> | null;
  private readonly prefixes: Uint8Array[] | null;
  private readonly keyPattern: RegExp | null;

  constructor(options: EventFilterOptions, private readonly table: CommandKeys) {
    this.classes = options.events === undefined ? null : classesOf(options.events);
    if (this.classes && !table.knowsClasses) {
      throw new TypeError('--events needs the source to class its commands (ACL categories in COMMAND: Redis 6.0 and later)');
    }
    this.dbs = options.dbs?.length ? new Set(options.dbs) : null;
    this.commands = options.commands?.length ? new Set(options.commands.map((c) => c.toLowerCase())) : null;
    this.prefixes = options.prefixes?.length ? options.prefixes.map((p) => encoder.encode(p)) : null;
    this.keyPattern = options.keyPattern ?? null;
    this.record = {
      events: this.classes ? [...this.classes].sort().join(',') : null,
      dbs: this.dbs ? [...this.dbs].sort((a, b) => a - b) : null,
      commands: this.commands ? [...this.commands].sort() : null,
      prefixes: options.prefixes?.length ? [...options.prefixes].sort() : null,
      key: this.keyPattern ? String(this.keyPattern) : null,
    };
  }

  private readonly warnedUnknownKeys = new Set<string>();

  /** What to tell, once per command, of a write left out as 'keys-unknown' (null: told already). */
  unknownKeysWarning(name: string, offset: number): string | null {
    if (this.warnedUnknownKeys.has(name)) return null;
    this.warnedUnknownKeys.add(name);
    return `${name.toUpperCase()} (first at offset ${offset}) is left out: its keys cannot be told, so --prefix/--key cannot judge it`;
  }

  /** Whether keys matter to the filter (a write whose keys cannot be told is then left out). */
  get filtersKeys(): boolean {
    return this.prefixes !== null || this.keyPattern !== null;
  }

  /**
   * A write that passes, with its keys and class; null when it does not; 'keys-unknown' when key filters
   * are set and its keys cannot be told (it is left out: the caller warns). Passes a key filter when one
   * of its keys does (RENAME a b is published to whoever follows b), or when it names no key at all
   * (FLUSHALL, FLUSHDB, SWAPDB change every key).
   */
  write(name: string, db: number, command: CommandArgs & { arg(i: number): Uint8Array }): SelectedWrite | 'keys-unknown' | null {
    if (this.dbs && !this.dbs.has(db)) return null;
    if (this.commands && !this.commands.has(name)) return null;
    const keyClass = this.table.keyClass(name);
    if (this.classes && (keyClass === null || !this.classes.has(keyClass))) return null;
    const keys = this.table.positions(name, command);
    if (!this.filtersKeys) return { keys, keyClass };
    if (keys === null) return 'keys-unknown';
    if (keys.length > 0 && !keys.some((at) => this.keyPasses(command.arg(at)))) return null;
    return { keys, keyClass };
  }

  /**
   * Whether a key moved by a cluster's slot migration passes: as a write of class generic (what DEL and
   * RESTORE are) to that key alone, by the command that carried the move (`restore-asking`, `del`).
   */
  moved(name: string, db: number, key: Uint8Array): boolean {
    if (this.dbs && !this.dbs.has(db)) return false;
    if (this.commands && !this.commands.has(name)) return false;
    if (this.classes && !this.classes.has('generic')) return false;
    return this.keyPasses(key);
  }

  /** A write's key positions (none when they cannot be told). */
  keysOf(command: CommandArgs & { name: string }): number[] {
    return this.table.positions(command.name, command) ?? [];
  }

  /** Whether a key of a snapshot passes. */
  snapshotKey(db: number, key: Uint8Array, type: RdbValueType): boolean {
    if (this.dbs && !this.dbs.has(db)) return false;
    if (this.classes && (type === 'module' || !this.classes.has(type))) return false;
    return this.keyPasses(key);
  }

  /**
   * Whether a scan source's key state passes: a key's value as a snapshot key does; a key gone (`type`
   * null: its type is not known any more) by its db and name.
   */
  keyState(db: number, key: Uint8Array, type: RdbValueType | null): boolean {
    if (type !== null) return this.snapshotKey(db, key, type);
    return (!this.dbs || this.dbs.has(db)) && this.keyPasses(key);
  }

  private keyPasses(key: Uint8Array): boolean {
    if (this.prefixes && !this.prefixes.some((p) => startsWith(key, p))) return false;
    return !this.keyPattern || this.keyPattern.test(utf8.decode(key));
  }
}
