// What becomes of a key a cluster shard's DEL names (src/cluster/migration-tracker.ts): moved by a slot
// migration (its import was read in another shard's stream), deleted by a client, or not decided until
// the barrier has read the streams that may still hold its import. Hand-derived cases over the import
// the tracker saw and how the deleting shard stood towards the key's slot; and the open slots of a
// CLUSTER NODES reply, which is where those states come from.
import { describe, expect, it } from 'vitest';
import { judgeDeletedKey, type ShardSlots } from '../src/cluster/migration-tracker.js';
import { HASH_SLOTS } from '../src/cluster/hash-slot.js';
import { parseOpenSlots, TopologyError } from '../src/cluster/topology.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

/** A's standing: slots 0-99 its own, 100-199 B's, 200-299 C's; `migrating`: slot → shard. */
function standing(migrating: Array<[number, string]> = []): ShardSlots {
  const owners: Array<string | undefined> = new Array(HASH_SLOTS);
  owners.fill(A, 0, 100).fill(B, 100, 200).fill(C, 200, 300);
  return { owners, migrating: new Map(migrating) };
}

describe('judgeDeletedKey: a DEL from shard A', () => {
  it('a key another shard imported is moved there, whatever A\'s states say or whether they were read', () => {
    expect(judgeDeletedKey(A, 5, B, 'unread')).toEqual({ kind: 'moved', to: B });
    expect(judgeDeletedKey(A, 5, B, standing())).toEqual({ kind: 'moved', to: B });
    expect(judgeDeletedKey(A, 150, C, standing([[150, B]]))).toEqual({ kind: 'moved', to: C });
    expect(judgeDeletedKey(A, 5, B, 'settled')).toEqual({ kind: 'moved', to: B });
  });

  it('a key A serves stably is a client\'s delete, once A\'s states are known', () => {
    expect(judgeDeletedKey(A, 5, undefined, standing())).toEqual({ kind: 'deleted' });
    // A's own import of it earlier (it came to A, and a client deletes it there) is no move away from A.
    expect(judgeDeletedKey(A, 5, A, standing())).toEqual({ kind: 'deleted' });
    // Another slot of A's migrating does not matter.
    expect(judgeDeletedKey(A, 5, undefined, standing([[6, B]]))).toEqual({ kind: 'deleted' });
  });

  it('without A\'s states read after the DEL, a key not imported waits (for them)', () => {
    expect(judgeDeletedKey(A, 5, undefined, 'unread')).toEqual({ kind: 'wait', on: [] });
    expect(judgeDeletedKey(A, 5, A, 'unread')).toEqual({ kind: 'wait', on: [] });
  });

  it('a key in a slot A is migrating waits on the shard it goes to', () => {
    expect(judgeDeletedKey(A, 5, undefined, standing([[5, B]]))).toEqual({ kind: 'wait', on: [B] });
  });

  it('a key in a slot A no longer serves waits on the shard serving it, and on one it was migrating to', () => {
    expect(judgeDeletedKey(A, 150, undefined, standing())).toEqual({ kind: 'wait', on: [B] });
    expect(judgeDeletedKey(A, 250, undefined, standing([[250, B]]))).toEqual({ kind: 'wait', on: [B, C] });
    expect(judgeDeletedKey(A, 150, undefined, standing([[150, B]]))).toEqual({ kind: 'wait', on: [B] });
  });

  it('a key of a slot no shard serves, and none imports, is a client\'s delete', () => {
    expect(judgeDeletedKey(A, 9000, undefined, standing())).toEqual({ kind: 'deleted' });
  });

  it('once the barrier passed, a key no import was read of is a client\'s delete', () => {
    expect(judgeDeletedKey(A, 5, undefined, 'settled')).toEqual({ kind: 'deleted' });
    expect(judgeDeletedKey(A, 150, A, 'settled')).toEqual({ kind: 'deleted' });
  });
});

describe('parseOpenSlots', () => {
  it('reads the migrating and importing slots of the myself line only', () => {
    const text = [
      `${B} 127.0.0.1:30002@40002 master - 0 1700000000000 2 connected 5461-10922 [7-<-${C}]`,
      `${A} 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [5->-${B}] [6->-${C}] [9000-<-${C}]`,
      '',
    ].join('\n');
    const open = parseOpenSlots(text);
    expect(open.self).toBe(A);
    expect([...open.migrating]).toEqual([[5, B], [6, C]]);
    expect([...open.importing]).toEqual([[9000, C]]);
  });

  it('a node moving nothing has none; a reply without a myself line is refused', () => {
    const open = parseOpenSlots(`${A} 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-16383\n`);
    expect([open.migrating.size, open.importing.size]).toEqual([0, 0]);
    expect(() => parseOpenSlots(`${A} 127.0.0.1:30001@40001 master - 0 0 1 connected 0-16383\n`)).toThrow(TopologyError);
  });
});
