// Stream writes for a target before Redis 7.0: the counter options left off. The inputs are the forms
// Redis 7.4.1 replicated in a by-hand session.
import { describe, expect, it } from 'vitest';
import { withoutStreamCounters } from '../src/sync/stream-writes.js';

const bytes = (args: string[]) => args.map((a) => new TextEncoder().encode(a));
const text = (args: Uint8Array[]) => args.map((a) => new TextDecoder().decode(a));

describe('stream writes for a target without stream counters', () => {
  it.each([
    [['xgroup', 'create', 's', 'g', '0', 'ENTRIESREAD', '0'], ['xgroup', 'create', 's', 'g', '0']],
    [['xgroup', 'create', 's', 'g', '$', 'MKSTREAM', 'entriesread', '3'], ['xgroup', 'create', 's', 'g', '$', 'MKSTREAM']],
    [['XGROUP', 'SETID', 's', 'g', '1-1', 'ENTRIESREAD', '1'], ['XGROUP', 'SETID', 's', 'g', '1-1']],
    [['xsetid', 's', '3-0', 'ENTRIESADDED', '5', 'MAXDELETEDID', '0-1'], ['xsetid', 's', '3-0']],
    // A key, group or ID that happens to be called like an option stays.
    [['xgroup', 'create', 'ENTRIESREAD', 'ENTRIESREAD', '0'], ['xgroup', 'create', 'ENTRIESREAD', 'ENTRIESREAD', '0']],
    [['xgroup', 'createconsumer', 's', 'g', 'c9'], ['xgroup', 'createconsumer', 's', 'g', 'c9']],
  ])('%j becomes %j', (args, want) => {
    expect(text(withoutStreamCounters(args[0]!.toLowerCase(), bytes(args)))).toEqual(want);
  });

  it('other commands are returned as they are', () => {
    const args = bytes(['XCLAIM', 's', 'g', 'c1', '0', '1-1', 'LASTID', '1-1']);
    expect(withoutStreamCounters('xclaim', args)).toBe(args);
  });
});
