// Where a source key goes on the target: which keys are synced (databases, --prefix, --key), the key's
// new name (--rename 's/^old:/new:/') and its database (--db-map). And the other way round, exactly:
// which target keys this route can write (what the sync owns: what --resync, an interrupted copy and a
// source's FLUSHALL delete, and where a first start wants the target empty). That inverse is why a rename
// replaces a fixed prefix and nothing else, and why two source databases may not share a target one.
// Prefixes and renames compare bytes; --key sees a key as UTF-8 text when it is valid UTF-8 (as every
// other command's --key does), and a binary key as one character per byte.

import { startsWith } from '../rdb/key-filter.js';

export interface RenameRule {
  pattern: RegExp;
  replacement: string;
}

export interface KeyRouteOptions {
  /** Source databases to sync (default: those --db-map names, else all). */
  dbs?: readonly number[];
  /** Source db → target db; a synced db not listed keeps its number. */
  dbMap?: ReadonlyMap<number, number>;
  /** Only keys starting with one of these. */
  prefixes?: readonly string[];
  /** Only keys this matches (against the key as text). */
  keyPattern?: RegExp;
  /** A fixed prefix replaced by another: /^old:/ → 'new:'. */
  rename?: RenameRule;
}

/** A route as the target's state records it: what a later run compares its own with (JSON). */
export interface RouteRecord {
  dbs: number[] | null;
  dbMap: Array<[number, number]>;
  prefixes: string[] | null;
  /** --key as /source/flags. */
  key: string | null;
  /** --rename as s/^from/to/ (from and to as written). */
  rename: { from: string; to: string } | null;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');
const utf8 = new TextEncoder();

/** A key as text: its UTF-8 decoding, else one character per byte. */
function keyText(bytes: Uint8Array): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return latin1.decode(bytes);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Parses a sed-style substitution, `s/pattern/replacement/flags` (any delimiter; flags i and g). The
 * replacement uses JavaScript's `$1`, `$<name>` and `$&`; `\1`-style references are accepted too.
 */
export function parseRenameRule(rule: string): RenameRule {
  const delimiter = rule[1];
  if (rule[0] !== 's' || !delimiter || /[\w\s\\]/.test(delimiter)) {
    throw new TypeError(`--rename wants s/pattern/replacement/ (e.g. 's/^old:/new:/'), got ${JSON.stringify(rule)}`);
  }
  const parts: string[] = [];
  let current = '';
  for (let i = 2; i < rule.length; i++) {
    const c = rule[i]!;
    if (c === '\\' && rule[i + 1] === delimiter) {
      current += delimiter;
      i++;
    } else if (c === delimiter) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  if (parts.length !== 2) throw new TypeError(`--rename ${JSON.stringify(rule)}: expected s${delimiter}pattern${delimiter}replacement${delimiter}[flags]`);
  const flags = current;
  if (!/^[gi]*$/.test(flags)) throw new TypeError(`--rename ${JSON.stringify(rule)}: unknown flags ${JSON.stringify(flags)} (only g and i)`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(parts[0]!, flags);
  } catch (err) {
    throw new TypeError(`--rename ${JSON.stringify(rule)}: ${(err as Error).message}`);
  }
  return { pattern, replacement: parts[1]!.replace(/\\(\d)/g, '$$$1') };
}

const REGEX_SYNTAX = new Set('.*+?()[]{}|^$/\\');

/** The text a pattern like /^old:/ matches, or null when it is anything but a fixed prefix. */
function fixedPrefixOf(pattern: RegExp): string | null {
  if (/[imsuyv]/.test(pattern.flags) || !pattern.source.startsWith('^')) return null;
  let text = '';
  const source = pattern.source.slice(1);
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[++i];
      if (next === undefined || /[\w\s]/.test(next)) return null; // \d, \b, \1, ...: not a fixed character
      text += next;
    } else if (REGEX_SYNTAX.has(c)) return null;
    else text += c;
  }
  return text;
}

/** A rename as a fixed prefix replaced by fixed text (what redistap can invert), or a TypeError saying why not. */
function prefixRenameOf(rule: RenameRule): { from: string; to: string } {
  const from = fixedPrefixOf(rule.pattern);
  const literal = rule.replacement.replace(/\$\$/g, '');
  if (from === null || literal.includes('$')) {
    throw new TypeError(`--rename s/${rule.pattern.source}/${rule.replacement}/${rule.pattern.flags}: redistap renames a fixed prefix ` +
      "(e.g. 's/^old:/new:/' or 's/^/new:/'), so that it can tell the keys it wrote on the target from any others");
  }
  return { from, to: rule.replacement.replace(/\$\$/g, '$') };
}

/** A SCAN MATCH pattern for the keys beginning with `prefix` (its glob characters escaped). */
export function prefixPattern(prefix: Uint8Array): Uint8Array {
  const escaped: number[] = [];
  for (const b of prefix) {
    if (b === 0x2a || b === 0x3f || b === 0x5b || b === 0x5d || b === 0x5c) escaped.push(0x5c);
    escaped.push(b);
  }
  return Uint8Array.from([...escaped, 0x2a]);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?()[\]{}|^$/\\]/g, '\\$&');
}

export class KeyRoute {
  /** Synced source dbs (null: all). */
  private readonly dbs: ReadonlySet<number> | null;
  private readonly prefixes: Uint8Array[] | null;
  private readonly renameFrom: Uint8Array | null;
  private readonly renameTo: Uint8Array | null;
  /** Nothing is filtered, renamed or moved: commands pass through as they are. */
  readonly identity: boolean;
  /** Keys are filtered or renamed (not only moved between databases). */
  readonly touchesKeys: boolean;
  /** Keys get new names (--rename). */
  readonly renames: boolean;
  /** Every db is synced under its own number (FLUSHALL can then pass through as it is). */
  readonly allDbsAsThey: boolean;
  readonly record: RouteRecord;
  private readonly notOwned: (key: Uint8Array) => boolean;

  /** `notOwned`: target keys the sync keeps for itself (its state), never its data. */
  constructor(private readonly options: KeyRouteOptions, notOwned: (key: Uint8Array) => boolean = () => false) {
    this.notOwned = notOwned;
    const dbMap = options.dbMap ?? new Map<number, number>();
    this.dbs = options.dbs ? new Set(options.dbs) : dbMap.size > 0 ? new Set(dbMap.keys()) : null;
    this.checkDbMap(dbMap);
    this.prefixes = options.prefixes ? options.prefixes.map((p) => utf8.encode(p)) : null;
    const rename = options.rename ? prefixRenameOf(options.rename) : null;
    this.renameFrom = rename && utf8.encode(rename.from);
    this.renameTo = rename && utf8.encode(rename.to);
    this.renames = rename !== null;
    this.touchesKeys = Boolean(this.prefixes || options.keyPattern || this.renames);
    this.allDbsAsThey = this.dbs === null;
    this.identity = !this.touchesKeys && this.allDbsAsThey;
    this.record = {
      dbs: this.dbs && [...this.dbs].sort((a, b) => a - b),
      dbMap: [...dbMap].filter(([from, to]) => from !== to).sort((a, b) => a[0] - b[0]),
      prefixes: options.prefixes ? [...options.prefixes].sort() : null,
      key: options.keyPattern ? `/${options.keyPattern.source}/${options.keyPattern.flags}` : null,
      rename,
    };
  }

  /** The route a record describes (to find the keys an earlier run's route wrote). */
  static fromRecord(record: RouteRecord, notOwned?: (key: Uint8Array) => boolean): KeyRoute {
    const key = record.key === null ? undefined : /^\/(.*)\/([a-z]*)$/s.exec(record.key);
    return new KeyRoute({
      dbs: record.dbs ?? undefined,
      dbMap: new Map(record.dbMap),
      prefixes: record.prefixes ?? undefined,
      keyPattern: key ? new RegExp(key[1]!, key[2]) : undefined,
      rename: record.rename ? { pattern: new RegExp(`^${escapeRegExp(record.rename.from)}`), replacement: record.rename.to.replace(/\$/g, '$$$$') } : undefined,
    }, notOwned);
  }

  /** --db-map may name only synced dbs, and no two synced dbs may land in one target db. */
  private checkDbMap(dbMap: ReadonlyMap<number, number>): void {
    for (const [from, to] of dbMap) {
      if (!this.dbs!.has(from)) throw new TypeError(`--db-map ${from}:${to}: database ${from} is not among the synced ones (--db ${[...this.dbs!].join(',')})`);
    }
    const sourceOf = new Map<number, number>();
    for (const db of this.dbs ?? []) {
      const to = dbMap.get(db) ?? db;
      const other = sourceOf.get(to);
      if (other !== undefined) {
        throw new TypeError(`source databases ${Math.min(db, other)} and ${Math.max(db, other)} would both be written into target database ${to}: ` +
          'change --db or --db-map');
      }
      sourceOf.set(to, db);
    }
  }

  /** The target db for a source db, or null when the db is not synced. */
  targetDb(db: number): number | null {
    if (this.dbs && !this.dbs.has(db)) return null;
    return this.options.dbMap?.get(db) ?? db;
  }

  /** Where a source key goes: its target db and name, or null when it is not synced. */
  place(db: number, key: Uint8Array): { db: number; key: Uint8Array } | null {
    const targetDb = this.targetDb(db);
    const targetKey = targetDb === null ? null : this.key(key);
    return targetKey === null ? null : { db: targetDb!, key: targetKey };
  }

  /** The key's target name, or null when the key is not synced. */
  key(key: Uint8Array): Uint8Array | null {
    if (!this.touchesKeys) return key;
    if (!this.selects(key)) return null;
    return this.renamed(key);
  }

  /** Whether a source key is synced (databases aside). */
  private selects(key: Uint8Array): boolean {
    if (this.prefixes && !this.prefixes.some((p) => startsWith(key, p))) return false;
    const pattern = this.options.keyPattern;
    if (!pattern) return true;
    pattern.lastIndex = 0;
    return pattern.test(keyText(key));
  }

  private renamed(key: Uint8Array): Uint8Array {
    if (!this.renameFrom || !startsWith(key, this.renameFrom)) return key;
    return concat(this.renameTo!, key.subarray(this.renameFrom.length));
  }

  /**
   * Whether a key of a synced target db is one this route can write: some synced source key is placed
   * under this name. A rename of a fixed prefix has at most two source names for a target name: itself
   * (not under the old prefix), and the old prefix in place of the new one.
   */
  owns(key: Uint8Array): boolean {
    if (this.notOwned(key)) return false;
    if (!this.renameFrom) return this.selects(key);
    if (!startsWith(key, this.renameFrom) && this.selects(key)) return true;
    if (!startsWith(key, this.renameTo!)) return false;
    const source = concat(this.renameFrom, key.subarray(this.renameTo!.length));
    return this.selects(source);
  }

  /**
   * The source key an owned target key was written from: the rename undone. (A target key that two source
   * keys could have become, itself and the old prefix's, is taken as itself, as owns() does first.)
   */
  sourceKey(key: Uint8Array): Uint8Array {
    if (!this.renameFrom || (!startsWith(key, this.renameFrom) && this.selects(key)) || !startsWith(key, this.renameTo!)) return key;
    return concat(this.renameFrom, key.subarray(this.renameTo!.length));
  }

  /** A SCAN MATCH pattern covering the owned keys of a db: one prefix they all share, else '*'. */
  get scanPattern(): Uint8Array {
    const prefixes = this.targetPrefixes();
    return prefixes?.length === 1 ? prefixPattern(prefixes[0]!) : utf8.encode('*');
  }

  /** Prefixes every owned key starts with one of (null: any key). */
  private targetPrefixes(): Uint8Array[] | null {
    if (!this.prefixes) return this.renameFrom && this.renameFrom.length > 0 ? null : this.renameTo && [this.renameTo];
    if (!this.renameFrom) return this.prefixes;
    const from = this.renameFrom;
    return this.prefixes.flatMap((p) => {
      if (startsWith(p, from)) return [this.renamed(p)]; // every key under p is renamed
      if (startsWith(from, p)) return [p, this.renameTo!]; // some are
      return [p]; // none is
    });
  }

  /** Target dbs this route writes to, or null for all. */
  get targetDbs(): number[] | null {
    if (!this.dbs) return null;
    return [...this.dbs].map((db) => this.targetDb(db)!);
  }

  /** What the route syncs, in the words of the command line (for messages). */
  describe(): string {
    const r = this.record;
    const dbs = r.dbs === null ? 'every database' : `database${r.dbs.length === 1 ? '' : 's'} ${r.dbs.map((db) => {
      const to = this.targetDb(db);
      return to === db ? String(db) : `${db}→${to}`;
    }).join(', ')}`;
    const keys = [
      r.prefixes && `keys starting with ${r.prefixes.map((p) => JSON.stringify(p)).join(' or ')}`,
      r.key && `keys matching ${r.key}`,
    ].filter(Boolean).join(' and ') || 'all keys';
    return `${keys} of ${dbs}${r.rename ? `, ${JSON.stringify(r.rename.from)} renamed ${JSON.stringify(r.rename.to)}` : ''}`;
  }
}

/** How two routes differ, one phrase per option that changed (empty: the same route). */
export function routeDifferences(stored: RouteRecord, current: RouteRecord): string[] {
  const show = (value: unknown) => (value === null || (Array.isArray(value) && value.length === 0) ? 'none' : JSON.stringify(value));
  const options: Array<[keyof RouteRecord, string]> = [['dbs', '--db'], ['dbMap', '--db-map'], ['prefixes', '--prefix'], ['key', '--key'], ['rename', '--rename']];
  return options
    .filter(([field]) => JSON.stringify(stored[field]) !== JSON.stringify(current[field]))
    .map(([field, option]) => `${option} was ${show(stored[field])}, now ${show(current[field])}`);
}
