// SlotLanes' order of a slot's blocks through redirects, with hand-made outcomes: a "node" here is a
// name and the list of blocks it applied; a node the slot moved away from answers MOVED to every block
// that reaches it, as a cluster node does (the live cases are in sync-into-cluster.test.ts).
import { describe, expect, it } from 'vitest';
import { SlotLanes, type Redirect } from '../src/sync/slot-lanes.js';

interface Node {
  name: string;
  applied: string[];
}

/** Two nodes, the slot on `old` until moved; each send settles when its gate opens (the test orders the replies). */
function setUp() {
  const old: Node = { name: 'old', applied: [] };
  const next: Node = { name: 'next', applied: [] };
  const state = { owner: old, moved: false, master: old };
  const lanes = new SlotLanes<Node>(() => state.master, async () => {
    state.master = next;
  }, () => new Error('gave up'));
  const gates: Array<() => void> = [];
  const block = (id: string) => lanes.run(7, async (node): Promise<string | Redirect> => {
    await new Promise<void>((open) => gates.push(open));
    if (node !== state.owner) return { redirect: 'MOVED', node: { host: '127.0.0.1', port: 1 }, message: `MOVED 7 ${next.name}` };
    node.applied.push(id);
    return id;
  });
  const tick = () => new Promise((r) => setTimeout(r, 1));
  /** Answers the oldest send not yet answered, and lets what follows from it run. */
  const answerOne = async () => {
    gates.shift()!();
    await tick();
  };
  /** Answers every send, those it leads to included. */
  const answer = async () => {
    while (gates.length > 0) await answerOne();
  };
  return { old, next, state, block, answer, answerOne, tick };
}

describe('SlotLanes', () => {
  it('blocks on one connection go at once, and apply in order', async () => {
    const { old, block, answer } = setUp();
    const done = [block('a'), block('b'), block('c')];
    await answer();
    await Promise.all(done);
    expect(old.applied).toEqual(['a', 'b', 'c']);
  });

  it('the slot moved: refused blocks go again to the new master in order, and a block made meanwhile waits behind them', async () => {
    const { old, next, state, block, answer, answerOne, tick } = setUp();
    state.owner = next; // moved: the old node refuses everything of the slot from now on
    const a = block('a');
    const b = block('b');
    await tick();
    // a's MOVED arrives (b's is still on its way on the old connection): a goes again, to the new master.
    await answerOne();
    // Made now, c must wait for b (refused too, not yet sent again), although a went to the master c would go to.
    const c = block('c');
    await answer();
    await Promise.all([a, b, c]);
    expect(old.applied).toEqual([]);
    expect(next.applied).toEqual(['a', 'b', 'c']);
  });
});
