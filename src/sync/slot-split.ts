// A write for a Redis Cluster target: a MULTI/EXEC and a script may only touch the keys of one slot, and
// each slot may be another master's. A write whose keys are all of one slot goes there; DEL, UNLINK,
// TOUCH and MSET, whose keys are independent of each other, are split into one command per slot (no
// longer atomic together, which a client of the source could not see on the target anyway but for a
// reader of several slots at once); any other command over several slots cannot be split without
// changing what it does.
import { hashSlot } from '../cluster/hash-slot.js';
import type { CommandArgs } from './command-keys.js';

/** Commands split per slot, and how many arguments each key takes with it (MSET: key and value). */
const SPLIT_PER_KEY: Record<string, number> = { del: 1, unlink: 1, touch: 1, mset: 2 };

export type SlotParts =
  | { kind: 'parts'; parts: Array<{ slot: number; args: Uint8Array[] }> }
  /** No key (FUNCTION LOAD...), or keys that cannot be told (positions null): no slot to send it to. */
  | { kind: 'no-slot' }
  /** Keys of several slots, in a command that cannot be split. */
  | { kind: 'spans-slots'; slots: number };

const utf8 = new TextDecoder();

/** A command's arguments as CommandKeys reads them. */
export function commandArgs(args: readonly Uint8Array[]): CommandArgs {
  return { argCount: args.length, argText: (i) => utf8.decode(args[i]) };
}

/** `positions`: the key arguments (CommandKeys.positions), null when they cannot be told. */
export function splitBySlot(name: string, args: Uint8Array[], positions: number[] | null): SlotParts {
  if (positions === null || positions.length === 0) return { kind: 'no-slot' };
  const slots = new Map<number, number[]>();
  for (const at of positions) {
    const slot = hashSlot(args[at]!);
    const list = slots.get(slot);
    if (list) list.push(at);
    else slots.set(slot, [at]);
  }
  if (slots.size === 1) return { kind: 'parts', parts: [{ slot: slots.keys().next().value!, args }] };
  const perKey = SPLIT_PER_KEY[name];
  if (perKey === undefined) return { kind: 'spans-slots', slots: slots.size };
  const parts = [...slots].map(([slot, keys]) => ({ slot, args: [args[0]!, ...keys.flatMap((at) => args.slice(at, at + perKey))] }));
  return { kind: 'parts', parts };
}
