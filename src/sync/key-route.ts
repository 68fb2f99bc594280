// Where a source key goes on the target: which keys are synced (databases, --prefix, --key), the key's
// new name (--rename 's/^old:/new:/') and its database (--db-map). Keys are matched as byte strings: each
// byte one character (latin1), so any key, UTF-8 or not, round-trips exactly.

export interface RenameRule {
  pattern: RegExp;
  replacement: string;
}

export interface KeyRouteOptions {
  /** Source databases to sync (default: all). */
  dbs?: readonly number[];
  /** Source db → target db; a db not listed keeps its number. */
  dbMap?: ReadonlyMap<number, number>;
  /** Only keys starting with one of these. */
  prefixes?: readonly string[];
  /** Only keys this matches (against the key as latin1 text). */
  keyPattern?: RegExp;
  rename?: RenameRule;
}

const latin1 = new TextDecoder('latin1');

/** A key's bytes as a string of one character per byte. */
export function byteString(bytes: Uint8Array): string {
  return latin1.decode(bytes);
}

/** The inverse of byteString. */
export function stringBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

/** A UTF-8 string (a prefix typed by a user) as a byte string. */
function utf8ByteString(text: string): string {
  return byteString(new TextEncoder().encode(text));
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
    pattern = new RegExp(utf8ByteString(parts[0]!), flags);
  } catch (err) {
    throw new TypeError(`--rename ${JSON.stringify(rule)}: ${(err as Error).message}`);
  }
  return { pattern, replacement: utf8ByteString(parts[1]!.replace(/\\(\d)/g, '$$$1')) };
}

export class KeyRoute {
  private readonly dbs: ReadonlySet<number> | null;
  private readonly prefixes: string[] | null;
  private readonly targetPrefixes: string[] | null;
  /** Nothing is filtered, renamed or moved: commands pass through as they are. */
  readonly identity: boolean;
  /** Keys are filtered or renamed (not only moved between databases). */
  readonly touchesKeys: boolean;

  constructor(private readonly options: KeyRouteOptions, private readonly statePrefix: string) {
    this.dbs = options.dbs ? new Set(options.dbs) : null;
    this.prefixes = options.prefixes ? options.prefixes.map(utf8ByteString) : null;
    this.targetPrefixes = this.prefixes && this.prefixes.map((p) => this.renamed(p));
    this.touchesKeys = Boolean(this.prefixes || options.keyPattern || options.rename);
    this.identity = !this.touchesKeys && !this.dbs && !(options.dbMap && options.dbMap.size > 0);
  }

  /** The target db for a source db, or null when the db is not synced. */
  targetDb(db: number): number | null {
    if (this.dbs && !this.dbs.has(db)) return null;
    return this.options.dbMap?.get(db) ?? db;
  }

  /** Whether every db is synced under its own number (FLUSHALL can then pass through as it is). */
  get allDbsAsThey(): boolean {
    return !this.dbs && !(this.options.dbMap && this.options.dbMap.size > 0);
  }

  /** The key's target name, or null when the key is not synced. */
  key(key: Uint8Array): Uint8Array | null {
    if (!this.touchesKeys) return key;
    const text = byteString(key);
    if (!this.selected(text)) return null;
    return this.options.rename ? stringBytes(this.renamed(text)) : key;
  }

  private selected(text: string): boolean {
    if (this.prefixes && !this.prefixes.some((p) => text.startsWith(p))) return false;
    if (this.options.keyPattern) {
      this.options.keyPattern.lastIndex = 0;
      if (!this.options.keyPattern.test(text)) return false;
    }
    return true;
  }

  private renamed(text: string): string {
    const rule = this.options.rename;
    if (!rule) return text;
    rule.pattern.lastIndex = 0;
    return text.replace(rule.pattern, rule.replacement);
  }

  /**
   * Whether a key on the target belongs to what this sync writes (what --resync deletes): in a synced
   * db, not under the state prefix, and (with filters) under a synced prefix or matching --key.
   * Throws when that cannot be told: --key with --rename (a pattern over source names says nothing of
   * target names).
   */
  owns(key: Uint8Array): boolean {
    const text = byteString(key);
    if (text.startsWith(this.statePrefix)) return false;
    if (this.options.keyPattern && this.options.rename) {
      throw new TypeError('with --key and --rename together, redistap cannot tell which target keys it wrote: use --prefix with --rename');
    }
    if (this.targetPrefixes && !this.targetPrefixes.some((p) => text.startsWith(p))) return false;
    if (this.options.keyPattern) {
      this.options.keyPattern.lastIndex = 0;
      if (!this.options.keyPattern.test(text)) return false;
    }
    return true;
  }

  /** A SCAN MATCH pattern covering the owned keys of a db (the single prefix, escaped; else '*'). */
  get scanPattern(): string {
    if (this.targetPrefixes?.length !== 1) return '*';
    return this.targetPrefixes[0]!.replace(/[*?[\]\\]/g, '\\$&') + '*';
  }

  /** Target dbs this sync writes to, or null for all. */
  get targetDbs(): number[] | null {
    if (!this.dbs) return null;
    return [...this.dbs].map((db) => this.options.dbMap?.get(db) ?? db);
  }
}
