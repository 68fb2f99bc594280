// What a sync makes of a fenced block's replies (fenced-block.ts), for any target: a command of the copy
// refused stops the sync; a block not applied stops it; a write the target refused in an applied block is
// told (the source had applied it). Replies are matched to what they answer by origins.
import { RespErrorReply, RespReplyReader } from '../resp/replies.js';
import type { BlockOutcome } from './fenced-block.js';
import { SyncError } from './sync-error.js';
import type { TargetCommands } from './target-message.js';

const utf8 = new TextDecoder();

/** What a reply of a block answers: a command the sink added (SELECT, SET of the state) or one of a message. */
export type Origin = string | { message: TargetCommands; index: number };

/** Each command of a message, as origins of its replies. */
export function originsOf(message: TargetCommands, origins: Origin[]): void {
  for (let i = 0; i < message.count; i++) origins.push({ message, index: i });
}

/**
 * A block's outcome, applied (returns) or not (throws SyncError); a refused command of a copy throws too.
 * A refused write of an applied block is told through `warn` (the source did not refuse it).
 */
export function checkBlock(origins: Origin[], { applied, replies }: BlockOutcome, warn: (message: string) => void): void {
  const refused = replies.findIndex((r) => r instanceof RespErrorReply);
  const message = refused >= 0 ? (replies[refused] as RespErrorReply).message : '';
  const origin = origins[refused];
  if (refused >= 0 && typeof origin === 'object' && origin.message.names === null) {
    throw new SyncError(`the target refused to copy ${copied(origin.message, origin.index)}: ${message}`);
  }
  if (!applied) {
    const why = refused >= 0 ? `${nameOf(origin!).toUpperCase()}: ${message}` : 'EXEC failed';
    throw new SyncError(`the target refused a block of writes (nothing of it applied): ${why}`);
  }
  replies.forEach((reply, i) => {
    if (reply instanceof RespErrorReply) warn(`the target answered ${nameOf(origins[i]!).toUpperCase()} with an error (the source did not): ${reply.message}`);
  });
}

/** A message's command `index` (its name and first argument), read back from the bytes sent: for errors only. */
function commandAt(message: TargetCommands, index: number): string[] {
  return (new RespReplyReader().write(message.bytes)[index] as Uint8Array[]).slice(0, 2).map((a) => utf8.decode(a));
}

/** What a command of the sink's names: its name, or the command of a message. */
function nameOf(origin: Origin): string {
  if (typeof origin === 'string') return origin;
  const { message, index } = origin;
  return message.names?.[index] ?? commandAt(message, index)[0]!;
}

/** What a copy command copies, for a refusal: its key (the first, for MSET), a db, a function library. */
function copied(message: TargetCommands, index: number): string {
  const [name, arg] = commandAt(message, index);
  return name === 'SELECT' ? `db ${arg}` : name === 'FUNCTION' ? 'a function library' : JSON.stringify(arg);
}
