// Whether a write is at or before a stored position (the per-slot skip of a sync into a cluster):
// hand-derived cases of one server's stream and of a cluster's shards.
import { describe, expect, it } from 'vitest';
import { covers } from '../src/pipeline/position.js';

const a1 = 'a'.repeat(40);
const a2 = 'b'.repeat(40);
const c1 = 'c'.repeat(40);

describe('covers', () => {
  it('one server: the offset compares whatever the replid (its offsets go on across a replid change)', () => {
    const at = { replid: a1, offset: 1000, db: 0 };
    expect(covers(at, 999)).toBe(true);
    expect(covers(at, 1000)).toBe(true);
    expect(covers(at, 1001)).toBe(false);
  });

  it('a cluster: only the checkpoint of the write\'s own shard history compares', () => {
    const at = { shards: [{ replid: a1, offset: 1000, db: 0 }, { replid: c1, offset: 50, db: 0 }] };
    expect(covers(at, 900, [a1])).toBe(true);
    expect(covers(at, 1001, [a1])).toBe(false);
    // Shard c's write at 900 is past its own checkpoint (50), whatever shard a's says.
    expect(covers(at, 900, [c1])).toBe(false);
    expect(covers(at, 40, [c1])).toBe(true);
  });

  it('a cluster: a shard continuing under a promoted replica\'s replid still compares with its checkpoint of the old one', () => {
    const at = { shards: [{ replid: a1, offset: 1000, db: 0 }] };
    expect(covers(at, 900, [a2])).toBe(false); // no history linking the two: another stream
    expect(covers(at, 900, [a1, a2])).toBe(true);
    expect(covers(at, 1200, [a1, a2])).toBe(false);
  });

  it('a cluster: a write without a history (none known) is never skipped', () => {
    expect(covers({ shards: [{ replid: a1, offset: 1000, db: 0 }] }, 10)).toBe(false);
  });
});
