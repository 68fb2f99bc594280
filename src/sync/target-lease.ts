// One sync writes a target at a time: a lease on the target, and a fencing token checked atomically with
// every block of writes. Three keys beside the state key (in db 0, like it):
//   <state>:owner         the token of the last sync that claimed the target (no expiry)
//   <state>:lease         that sync's holder record (token, host, pid, since), expiring unless renewed
//   <state>:fence:<token> written only to abort a block of that token's sync (see below)
// Claim (one script): refused while another holder's lease lives; else the previous owner's fence key is
// written, the owner becomes our token, the lease ours. Each block of writes is
//   WATCH <state>:fence:<ours>; EVAL guard; MULTI; ...writes...; SET <state> <position>; EXEC
// where the guard renews our lease when the owner is still our token, and else writes our fence key.
// Redis runs each command of every client whole and in one order, so for a claim by another sync:
//   - before our guard: the guard sees another owner and writes our fence key after our WATCH: EXEC aborts;
//   - between our guard and our EXEC: the claim writes our fence key after our WATCH: EXEC aborts;
//   - after our EXEC: the block was applied, and its SET of the state is what the new owner reads.
// So no block of a sync that lost the target applies, and the new owner continues exactly where the
// applied blocks end. (The guard must run: an EVAL refused by the target would leave its block unfenced,
// so a guard reply other than 1 fails the sync; ARCHITECTURE.md has the whole argument.)
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type { BufferedArg } from '../resp/command-buffer.js';
import type { RespValue } from '../resp/replies.js';
import { RespErrorReply, replyText } from '../resp/replies.js';

/** Who holds a target: stored as the lease key's value. */
export interface LeaseHolder {
  token: string;
  host: string;
  pid: number;
  sinceMs: number;
  /** This boot of this machine and this pid namespace: a pid means the same process only where they match. */
  boot: string;
}

/** The default lease: a sync that stops renewing it (killed, frozen, cut off) hands over this long after. */
export const DEFAULT_LEASE_MS = 30_000;
/** How long a fence key stays (it only has to be written; its value never matters). */
const FENCE_TTL_MS = 60_000;

// The scripts SELECT 0 for themselves (a script's SELECT does not change its caller's database).
const CLAIM = `redis.call('SELECT', 0)
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[4] then return {0, held, redis.call('PTTL', KEYS[1])} end
local previous = redis.call('GET', KEYS[2])
if previous then redis.call('SET', ARGV[5] .. previous, '1', 'PX', ${FENCE_TTL_MS}) end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return {1, previous or ''}`;

const GUARD = `redis.call('SELECT', 0)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  redis.call('SET', KEYS[3], '1', 'PX', ${FENCE_TTL_MS})
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1`;

const RELEASE = `redis.call('SELECT', 0)
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

/** Another sync holds the target and is not known to be dead. */
export class TargetHeld extends Error {
  override name = 'TargetHeld';
}

/** This boot and pid namespace ('' where the system does not say: then no holder is known to be dead). */
export function bootTag(): string {
  try {
    return `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()} ${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return '';
  }
}

/**
 * The process a holder record names is gone: it ran on this host, in this boot and pid namespace (two
 * containers may share a host name, and each see the other's pids as gone), and its pid is not running.
 */
export function deadHere(holder: LeaseHolder): boolean {
  if (holder.host !== hostname() || !holder.boot || holder.boot !== bootTag()) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function parseHolder(text: string): LeaseHolder | null {
  try {
    const h = JSON.parse(text) as Partial<LeaseHolder>;
    return typeof h.token === 'string' && typeof h.host === 'string' && Number.isSafeInteger(h.pid) && Number.isFinite(h.sinceMs) &&
      typeof h.boot === 'string' ? h as LeaseHolder : null;
  } catch {
    return null;
  }
}

/**
 * One sync's claims on its target: a new token for each claim (each session), so that a claim fences the
 * blocks of every earlier session, this sync's own included (an old connection may still hold some), and
 * a session's own fence key is only ever written once it has lost the target.
 */
export class TargetLease {
  private readonly sinceMs = Date.now();
  private readonly boot = bootTag();
  /** The current claim's holder record; its token is the fencing token of the session that made it. */
  holder: LeaseHolder = this.newHolder();
  private record = JSON.stringify(this.holder);
  private readonly leaseKey: string;
  private readonly ownerKey: string;
  private readonly fencePrefix: string;

  /** `who`: what holds a lease, as messages name it (a sync, a publish). */
  constructor(stateKey: string, readonly leaseMs = DEFAULT_LEASE_MS, private readonly who = 'sync') {
    this.leaseKey = `${stateKey}:lease`;
    this.ownerKey = `${stateKey}:owner`;
    this.fencePrefix = `${stateKey}:fence:`;
  }

  /**
   * Claims the target through `call` (a connection's): ours when nobody else holds it, its holder's lease
   * ended, or that holder was a process of this host that is gone. Throws TargetHeld naming the holder.
   */
  async claim(call: (args: BufferedArg[]) => Promise<RespValue>): Promise<void> {
    let expected = this.record; // our previous claim's lease (a session of this sync before)
    this.holder = this.newHolder();
    this.record = JSON.stringify(this.holder);
    for (;;) {
      const reply = await call(['EVAL', CLAIM, 2, this.leaseKey, this.ownerKey, this.record, this.holder.token, this.leaseMs, expected, this.fencePrefix]);
      if (reply instanceof RespErrorReply && reply.code === 'READONLY') {
        throw new TargetHeld(`the target is a read-only replica (it refused the ${this.who}'s lease: READONLY): ${this.who} into a master; ` +
          'when it is loading the --copy replication of another sync, wait until that copy is over');
      }
      if (reply instanceof RespErrorReply) throw new Error(`the target refused the ${this.who}'s lease script (EVAL): ${reply.message}`);
      const [won, held, ttl] = reply as RespValue[];
      if (won === 1) return;
      const heldText = replyText(held!);
      const holder = parseHolder(heldText);
      if (holder && deadHere(holder) && expected !== heldText) {
        expected = heldText; // its process is gone: take over now, unless someone else claimed it meanwhile
        continue;
      }
      throw new TargetHeld(this.heldMessage(holder, heldText, Number(ttl)));
    }
  }

  /**
   * Throws TargetHeld when another sync's lease lives, without writing anything (a target left a replica
   * by an interrupted copy takes no writes until it is promoted, and only its holder may promote it).
   * `call` is a connection's, in db 0.
   */
  async refuseIfHeld(call: (args: BufferedArg[]) => Promise<RespValue>): Promise<void> {
    const held = await call(['GET', this.leaseKey]);
    if (held instanceof RespErrorReply) throw new Error(`the target refused to read the ${this.who}'s lease (GET ${this.leaseKey}): ${held.message}`);
    if (!(held instanceof Uint8Array)) return;
    const text = replyText(held);
    const holder = parseHolder(text);
    if (text === this.record || (holder && deadHere(holder))) return;
    throw new TargetHeld(this.heldMessage(holder, text, Number(await call(['PTTL', this.leaseKey]))));
  }

  private heldMessage(holder: LeaseHolder | null, text: string, ttlMs: number): string {
    const who = holder
      ? `pid ${holder.pid} on ${holder.host}, since ${new Date(holder.sinceMs).toISOString()}`
      : `a holder recorded as ${JSON.stringify(text)}`;
    return `another ${this.who} holds this target (${who}); its lease (key ${this.leaseKey}) ends in ${(Math.max(ttlMs, 0) / 1000).toFixed(1)} s ` +
      `unless that ${this.who} renews it, as it does while it runs. Stop that ${this.who} first: once its lease ends, a new one takes over ` +
      '(at once, when it ran on this host and its process is gone)';
  }

  private newHolder(): LeaseHolder {
    return { token: randomBytes(12).toString('hex'), host: hostname(), pid: process.pid, sinceMs: this.sinceMs, boot: this.boot };
  }

  /** WATCH and guard: what goes before a block's MULTI, in db 0. The guard's reply is 1 when the block may apply. */
  guardCommands(): BufferedArg[][] {
    return [['WATCH', this.fencePrefix + this.holder.token], this.guardCommand()];
  }

  /** The guard alone: renews the lease while the sync holds the target (1), else 0. */
  guardCommand(): BufferedArg[] {
    return ['EVAL', GUARD, 3, this.ownerKey, this.leaseKey, this.fencePrefix + this.holder.token, this.holder.token, this.record, this.leaseMs];
  }

  /**
   * Our owner and lease keys written again, for a block that also runs a FLUSHALL, FLUSHDB or SWAPDB of
   * the source's (which empty or move db 0): inside the block, so still fenced.
   */
  ownerCommands(): BufferedArg[][] {
    return [['SET', this.ownerKey, this.holder.token], ['SET', this.leaseKey, this.record, 'PX', this.leaseMs]];
  }

  /** The owner and lease keys (in db 0). */
  get keys(): string[] {
    return [this.ownerKey, this.leaseKey];
  }

  /** Ends our lease (when the sync stops): the next sync need not wait for it. */
  releaseCommand(): BufferedArg[] {
    return ['EVAL', RELEASE, 1, this.leaseKey, this.record];
  }
}
