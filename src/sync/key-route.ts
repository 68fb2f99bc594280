// Where a source key goes on the target: which keys are synced (databases, --prefix, --key), the key's
// new name (--rename 's/^old:/new:/') and its database (--db-map). Prefixes compare bytes; --key and
// --rename see a key as UTF-8 text when it is valid UTF-8 (as every other command's --key does), and a
// binary key as one character per byte, so that any key round-trips exactly through a rename.

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
  /** Only keys this matches (against the key as text). */
  keyPattern?: RegExp;
  rename?: RenameRule;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');
const utf8 = new TextEncoder();

/** A key as text, and whether that text is its UTF-8 decoding (else one character per byte). */
interface KeyText {
  text: string;
  utf8: boolean;
}

function keyText(bytes: Uint8Array): KeyText {
  try {
    return { text: utf8Strict.decode(bytes), utf8: true };
  } catch {
    return { text: latin1.decode(bytes), utf8: false };
  }
}

/** The bytes of a key's text, in the form it was read in. */
function keyBytes({ text, utf8: isUtf8 }: KeyText): Uint8Array {
  return isUtf8 ? utf8.encode(text) : Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
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

export class KeyRoute {
  private readonly dbs: ReadonlySet<number> | null;
  private readonly prefixes: Uint8Array[] | null;
  private readonly targetPrefixes: Uint8Array[] | null;
  /** Nothing is filtered, renamed or moved: commands pass through as they are. */
  readonly identity: boolean;
  /** Keys are filtered or renamed (not only moved between databases). */
  readonly touchesKeys: boolean;
  /** Keys get new names (--rename). */
  readonly renames: boolean;

  private readonly statePrefix: Uint8Array;

  constructor(private readonly options: KeyRouteOptions, statePrefix: string) {
    this.statePrefix = utf8.encode(statePrefix);
    this.dbs = options.dbs ? new Set(options.dbs) : null;
    this.prefixes = options.prefixes ? options.prefixes.map((p) => utf8.encode(p)) : null;
    this.targetPrefixes = options.prefixes ? options.prefixes.map((p) => utf8.encode(this.renamed(p))) : null;
    this.renames = options.rename !== undefined;
    this.touchesKeys = Boolean(this.prefixes || options.keyPattern || this.renames);
    this.identity = !this.touchesKeys && this.allDbsAsThey;
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

  /** Where a source key goes: its target db and name, or null when it is not synced. */
  place(db: number, key: Uint8Array): { db: number; key: Uint8Array } | null {
    const targetDb = this.targetDb(db);
    const targetKey = targetDb === null ? null : this.key(key);
    return targetKey === null ? null : { db: targetDb!, key: targetKey };
  }

  /** The key's target name, or null when the key is not synced. */
  key(key: Uint8Array): Uint8Array | null {
    if (!this.touchesKeys) return key;
    if (this.prefixes && !this.prefixes.some((p) => startsWith(key, p))) return null;
    if (!this.options.keyPattern && !this.options.rename) return key;
    const text = keyText(key);
    if (!this.matches(text.text)) return null;
    return this.options.rename ? keyBytes({ text: this.renamed(text.text), utf8: text.utf8 }) : key;
  }

  private matches(text: string): boolean {
    const pattern = this.options.keyPattern;
    if (!pattern) return true;
    pattern.lastIndex = 0;
    return pattern.test(text);
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
    if (startsWith(key, this.statePrefix)) return false;
    if (this.options.keyPattern && this.options.rename) {
      throw new TypeError('with --key and --rename together, redistap cannot tell which target keys it wrote: use --prefix with --rename');
    }
    if (this.targetPrefixes && !this.targetPrefixes.some((p) => startsWith(key, p))) return false;
    return !this.options.keyPattern || this.matches(keyText(key).text);
  }

  /** A SCAN MATCH pattern covering the owned keys of a db (the single prefix, glob characters escaped; else '*'). */
  get scanPattern(): Uint8Array {
    if (this.targetPrefixes?.length !== 1) return utf8.encode('*');
    const escaped: number[] = [];
    for (const b of this.targetPrefixes[0]!) {
      if (b === 0x2a || b === 0x3f || b === 0x5b || b === 0x5d || b === 0x5c) escaped.push(0x5c);
      escaped.push(b);
    }
    return Uint8Array.from([...escaped, 0x2a]);
  }

  /** Target dbs this sync writes to, or null for all. */
  get targetDbs(): number[] | null {
    if (!this.dbs) return null;
    return [...this.dbs].map((db) => this.options.dbMap?.get(db) ?? db);
  }
}
