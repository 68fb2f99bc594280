// A block of writes that the target applies whole, and only while this sync holds it (target-lease.ts):
//   SELECT 0; WATCH <our fence key>; EVAL <guard>; [SELECT <db the commands start in>]; MULTI; ...; EXEC
// (the guard: the lease's, or on a cluster target the guard of the block's slot, slot-fence.ts)
import { CommandBuffer } from '../resp/command-buffer.js';
import { RespErrorReply, type RespValue } from '../resp/replies.js';
import { ConnectionError } from './connection.js';
import type { BufferedArg } from '../resp/command-buffer.js';

/** Another sync claimed the target: nothing of the block applied. Retrying claims again (and names the holder). */
export class TargetLost extends ConnectionError {
  override name = 'TargetLost';
  constructor() {
    super('the target is no longer this sync\'s (another sync claimed it, or this one started over): the writes sent since were not applied', true);
  }
}

/** What became of a block: applied (EXEC's replies), or refused while queued (each command's queued reply). */
export interface BlockOutcome {
  applied: boolean;
  replies: RespValue[];
}

const EXEC = new TextEncoder().encode('*1\r\n$4\r\nEXEC\r\n');
/** The guard's place among the block's replies (after SELECT 0 and WATCH). */
const GUARD_REPLY = 2;

export interface FencedBlock {
  /** The bytes to send, in order. */
  parts: Uint8Array[];
  /** Replies due. */
  replies: number;
  /** Reads the replies; rejects with TargetLost when the fence stopped the block. */
  outcome(replies: RespValue[]): BlockOutcome;
}

/**
 * Wraps `count` encoded commands (in one piece or several) that expect the connection in db `startDb` (-1: they select one
 * themselves) into a block fenced by `guard` (WATCH of our fence key, EVAL of the guard script).
 */
export function fencedBlock(guard: BufferedArg[][], commands: Uint8Array | readonly Uint8Array[], count: number, startDb: number): FencedBlock {
  const head = new CommandBuffer(512);
  head.command(['SELECT', 0]);
  for (const command of guard) head.command(command);
  if (startDb > 0) head.command(['SELECT', startDb]);
  head.command(['MULTI']);
  const before = head.commands;
  return {
    parts: [head.take(), ...(commands instanceof Uint8Array ? [commands] : commands), EXEC],
    replies: before + count + 1,
    outcome(replies) {
      const guard = replies[GUARD_REPLY];
      const exec = replies[before + count];
      if (exec === null) throw new TargetLost();
      if (guard !== 1) {
        // An EVAL the target refused fenced nothing: the block must not be trusted, applied or not.
        const why = guard instanceof RespErrorReply ? guard.message : String(guard);
        throw new ConnectionError(`the target refused the sync's lease check (EVAL: ${why}); ${Array.isArray(exec) ? 'a block was applied without it' : 'nothing of the block applied'}`, false);
      }
      if (Array.isArray(exec)) return { applied: true, replies: exec };
      return { applied: false, replies: replies.slice(before, before + count) };
    },
  };
}
