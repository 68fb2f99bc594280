// A sync into a Redis Cluster: what the standalone target keeps beside its state key (the owner and fence
// keys of target-lease.ts, the position) is kept per hash slot, under the slot's tag (hash-slot.ts
// slotTag), because a MULTI/EXEC or a script may only touch the keys of one slot:
//   <state>{t_s}:owner          the token of the last sync that claimed slot s
//   <state>{t_s}:fence:<token>  written only to abort the blocks of that token's sync in slot s
//   <state>{t_s}:at             the position after the last batch with writes of slot s (JSON; position.ts)
// The lease itself (one per target, target-lease.ts) is on <state>{t_g}, g the state key's own slot, so
// its owner key is slot g's. A claim, once the lease is ours, fences every slot's previous owner and makes
// our token every slot's owner; a block of slot s is
//   WATCH <state>{t_s}:fence:<ours>; EVAL guard; MULTI; EXISTS <state>{t_s}:fence:<ours>; writes of slot s...;
//   SET <state>{t_s}:at <position>; EXEC
// on the master serving s: the three-case argument of target-lease.ts, slot by slot.
import { hashSlot, slotTag } from '../cluster/hash-slot.js';
import type { BufferedArg } from '../resp/command-buffer.js';
import { TargetLease } from './target-lease.js';

/** How long a fence key stays (only its being written matters), as target-lease.ts's. */
const FENCE_TTL_MS = 60_000;

const CLAIM_SLOT = `local previous = redis.call('GET', KEYS[1])
if previous and previous ~= ARGV[1] then redis.call('SET', ARGV[2] .. previous, '1', 'PX', ${FENCE_TTL_MS}) end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

const GUARD_SLOT = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  redis.call('SET', KEYS[2], '1', 'PX', ${FENCE_TTL_MS})
  return 0
end
return 1`;

/** The state key of a sync into a cluster: its tags must decide the slots of the keys built on it. */
export function checkClusterStateKey(stateKey: string): void {
  if (stateKey.includes('{')) {
    throw new Error(`the checkpoint key ${JSON.stringify(stateKey)} holds a '{': on a cluster target its hash tag would put every per-slot key of the sync in one slot; choose another --checkpoint-key`);
  }
}

/** The lease of a sync into a cluster: on the keys of the state key's own slot (where the state key is). */
export function clusterLease(stateKey: string, leaseMs?: number): TargetLease {
  return new TargetLease(slotBase(stateKey, hashSlot(new TextEncoder().encode(stateKey))), leaseMs);
}

/** `<state>{t_s}`: the start of this sync's keys of slot s. */
function slotBase(stateKey: string, slot: number): string {
  return `${stateKey}{${slotTag(slot)}}`;
}

export class SlotFence {
  /** The slot of the state key proper (the floor, route and phase), of the lease, and of the owner key slot g shares with it. */
  readonly stateSlot: number;

  constructor(private readonly stateKey: string, private readonly lease: TargetLease) {
    this.stateSlot = hashSlot(new TextEncoder().encode(stateKey));
  }

  /** Slot s's position key. */
  atKey(slot: number): string {
    return `${slotBase(this.stateKey, slot)}:at`;
  }

  /** A pattern matching every slot's position key (SCAN MATCH). */
  get atPattern(): string {
    return `${this.stateKey.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}{*}:at`;
  }

  /**
   * The claim of slot s (the lease ours already): its previous owner fenced, our token its owner. Slot g's
   * owner key is the lease's, which the lease's claim already wrote: none for it.
   */
  claimCommand(slot: number): BufferedArg[] | null {
    if (slot === this.stateSlot) return null;
    const base = slotBase(this.stateKey, slot);
    return ['EVAL', CLAIM_SLOT, 1, `${base}:owner`, this.lease.holder.token, `${base}:fence:`];
  }

  /**
   * The first command inside a block's MULTI: EXISTS of our fence key, which is never there while the
   * block may apply. A cluster serves a command on a key it lacks only when the slot is not migrating,
   * so while slot s migrates every block of it is refused whole (ASK, TRYAGAIN; else one block, of keys
   * still there, could apply after an earlier one, of a key not, was refused: out of order).
   */
  settledCheck(slot: number): BufferedArg[] {
    return ['EXISTS', this.fenceKey(slot)];
  }

  /** WATCH and guard of slot s: what goes before a block's MULTI. The guard's reply is 1 when the block may apply. */
  guardCommands(slot: number): BufferedArg[][] {
    const fence = this.fenceKey(slot);
    return [['WATCH', fence], ['EVAL', GUARD_SLOT, 2, `${slotBase(this.stateKey, slot)}:owner`, fence, this.lease.holder.token]];
  }

  private fenceKey(slot: number): string {
    return `${slotBase(this.stateKey, slot)}:fence:${this.lease.holder.token}`;
  }
}
