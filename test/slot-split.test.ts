// The pieces of a sync into a cluster that need no server: each slot's tag (the sync's keys of a slot sit
// beside its data), and writes split per slot or refused when they span slots they cannot be split over.
import { describe, expect, it } from 'vitest';
import { hashSlot, slotTag } from '../src/cluster/hash-slot.js';
import { splitBySlot } from '../src/sync/slot-split.js';
import { isOwnStateKey } from '../src/sync/sync-state.js';

const bytes = (...args: string[]) => args.map((a) => Buffer.from(a));
const text = (args: Uint8Array[]) => args.map((a) => Buffer.from(a).toString());

describe('slot tags', () => {
  it('puts a key built on each slot\'s tag in that slot, with tags of at most 4 characters', () => {
    for (let slot = 0; slot < 16384; slot++) {
      const tag = slotTag(slot);
      expect(tag.length).toBeLessThanOrEqual(4);
      if (hashSlot(Buffer.from(`redistap:checkpoint:h:1{${tag}}:at`)) !== slot) throw new Error(`slot ${slot}: tag ${tag}`);
    }
  });

  it('counts the per-slot keys among the sync\'s own', () => {
    const own = isOwnStateKey('redistap:checkpoint:h:1');
    expect(own(Buffer.from(`redistap:checkpoint:h:1{${slotTag(7)}}:owner`))).toBe(true);
    expect(own(Buffer.from('redistap:checkpoint:h:10'))).toBe(false);
  });
});

describe('splitBySlot', () => {
  // Keys of known slots: {a} and {b} are tags.
  const [a, b] = ['x{a}', 'y{b}'];

  it('sends a command whose keys share a slot as it is', () => {
    const args = bytes('RPOPLPUSH', 'k{a}', 'l{a}');
    expect(splitBySlot('rpoplpush', args, [1, 2])).toEqual({ kind: 'parts', parts: [{ slot: hashSlot(Buffer.from('a')), args }] });
  });

  it('splits DEL and MSET per slot, keys in their order', () => {
    const del = splitBySlot('del', bytes('DEL', a, b, `z${a}`), [1, 2, 3]);
    expect(del.kind === 'parts' && del.parts.map((p) => text(p.args))).toEqual([['DEL', a, `z${a}`], ['DEL', b]]);
    const mset = splitBySlot('mset', bytes('MSET', a, '1', b, '2'), [1, 3]);
    expect(mset.kind === 'parts' && mset.parts.map((p) => [p.slot, text(p.args)])).toEqual([
      [hashSlot(Buffer.from(a)), ['MSET', a, '1']], [hashSlot(Buffer.from(b)), ['MSET', b, '2']]]);
  });

  it('refuses other commands over several slots, and commands without a key', () => {
    expect(splitBySlot('rename', bytes('RENAME', a, b), [1, 2])).toEqual({ kind: 'spans-slots', slots: 2 });
    expect(splitBySlot('function', bytes('FUNCTION', 'FLUSH'), [])).toEqual({ kind: 'no-slot' });
    expect(splitBySlot('sort', bytes('SORT', a), null)).toEqual({ kind: 'no-slot' });
  });
});
