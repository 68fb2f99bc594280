// Which arguments of a replicated command are keys: the source server's own COMMAND table (first key,
// last key, step), and by hand the commands whose keys move (numkeys arguments, SORT ... STORE).
import { RespErrorReply, replyText, type RespValue } from '../resp/replies.js';
import type { RedisConnection } from './connection.js';

interface KeySpec {
  first: number;
  last: number;
  step: number;
  movable: boolean;
  /** The command's keyspace class, from its ACL categories (null: none, or a server before 6.0). */
  keyClass: KeyClass | null;
  /** A container (Redis 7: XGROUP, CONFIG...): its subcommands' entries (xgroup|create) say where the keys are. */
  container: boolean;
}

/** What kind of key a write changes: the classes of keyspace notifications (`notify-keyspace-events`). */
export type KeyClass = 'string' | 'list' | 'set' | 'hash' | 'zset' | 'stream' | 'generic';

/**
 * ACL category → class, most specific first: GEOADD is @geo and @sortedset (a zset), SETBIT @bitmap (a
 * string), PFADD @hyperloglog (a string), as the server's notifications class them; COPY, DEL, EXPIRE are
 * only @keyspace (generic).
 */
const CATEGORY_CLASSES: Array<[string, KeyClass]> = [
  ['@stream', 'stream'], ['@hash', 'hash'], ['@geo', 'zset'], ['@sortedset', 'zset'], ['@set', 'set'], ['@list', 'list'],
  ['@bitmap', 'string'], ['@hyperloglog', 'string'], ['@string', 'string'], ['@keyspace', 'generic'],
];

function keyClassOf(categories: string[]): KeyClass | null {
  for (const [category, keyClass] of CATEGORY_CLASSES) if (categories.includes(category)) return keyClass;
  return null;
}

export interface CommandArgs {
  readonly argCount: number;
  argText(i: number): string;
}


/** Commands with a numkeys argument: [position of numkeys, keys before it]. */
const NUMKEYS: Record<string, [number, number[]]> = {
  zunionstore: [2, [1]], zinterstore: [2, [1]], zdiffstore: [2, [1]],
  eval: [2, []], evalsha: [2, []], eval_ro: [2, []], evalsha_ro: [2, []], fcall: [2, []], fcall_ro: [2, []],
};

export class CommandKeys {
  private constructor(private readonly specs: ReadonlyMap<string, KeySpec>) {}

  /** Reads the server's COMMAND table. */
  static async load(connection: RedisConnection): Promise<CommandKeys> {
    const reply = await connection.call(['COMMAND']);
    if (reply instanceof RespErrorReply || !Array.isArray(reply)) {
      throw new Error(`the source refused COMMAND (${reply instanceof RespErrorReply ? reply.message : 'not an array'}): key filters need it`);
    }
    const specs = new Map<string, KeySpec>();
    const add = (info: RespValue[]): KeySpec => {
      const flags = Array.isArray(info[2]) ? info[2].map(replyText) : [];
      const categories = Array.isArray(info[6]) ? info[6].map(replyText) : [];
      const spec = {
        first: Number(info[3]), last: Number(info[4]), step: Number(info[5]), movable: flags.includes('movablekeys'),
        keyClass: keyClassOf(categories), container: false,
      };
      specs.set(replyText(info[0]!).toLowerCase(), spec);
      return spec;
    };
    for (const info of reply) {
      if (!Array.isArray(info)) continue;
      const spec = add(info);
      // Redis 7: a container (XGROUP, ...) names no key itself; its subcommands (xgroup|create) do.
      const subs = Array.isArray(info[9]) ? info[9].filter(Array.isArray).map((sub) => add(sub as RespValue[])) : [];
      spec.container = subs.length > 0;
      const classes = new Set(subs.map((s) => s.keyClass).filter((c) => c !== null));
      if (spec.keyClass === null && classes.size === 1) spec.keyClass = [...classes][0]!;
    }
    return new CommandKeys(specs);
  }

  /** Whether the server said which category each command is in (ACL categories: Redis 6.0 and later). */
  get knowsClasses(): boolean {
    for (const spec of this.specs.values()) if (spec.keyClass !== null) return true;
    return false;
  }

  /** The keyspace class of a command (null: the server gives it none, e.g. MULTI, PUBLISH, or unknown). */
  keyClass(name: string): KeyClass | null {
    return this.specs.get(name)?.keyClass ?? null;
  }

  /** Argument positions holding keys (possibly none), or null when they cannot be told. */
  positions(name: string, command: CommandArgs): number[] | null {
    const n = command.argCount;
    const numkeys = NUMKEYS[name];
    if (numkeys) {
      const [at, before] = numkeys;
      const count = Number(command.argText(at));
      if (!Number.isInteger(count) || count < 0 || at + count >= n) return null;
      return [...before, ...Array.from({ length: count }, (_, i) => at + 1 + i)];
    }
    if (name === 'sort' || name === 'sort_ro') return this.sortKeys(command);
    let spec = this.specs.get(name);
    // Only a container's subcommand is looked up (a string made per write would cost every write).
    if (spec?.container && n > 1) spec = this.specs.get(`${name}|${command.argText(1).toLowerCase()}`) ?? spec;
    if (!spec || spec.movable) return null;
    if (spec.first === 0) return [];
    const last = spec.last < 0 ? n + spec.last : spec.last;
    const keys: number[] = [];
    for (let i = spec.first; i <= last && i < n; i += Math.max(spec.step, 1)) keys.push(i);
    return keys;
  }

  /**
   * SORT key [... STORE destination]. BY and GET patterns with a `*` read other keys, named only by the
   * pattern: those cannot be told (BY nosort, GET # read none).
   */
  private sortKeys(command: CommandArgs): number[] | null {
    const keys = [1];
    for (let i = 2; i < command.argCount; i++) {
      const word = command.argText(i).toLowerCase();
      if ((word === 'by' || word === 'get') && i + 1 < command.argCount) {
        if (command.argText(++i).includes('*')) return null;
      } else if (word === 'store' && i + 1 < command.argCount) keys.push(++i);
    }
    return keys;
  }
}
