// The lease and its fence against a real server, below the sync: blocks built by hand, sent in an order
// no healthy sync would produce, to see what the target applies.
import { afterEach, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../src/replica/redis-url.js';
import { CommandBuffer, type BufferedArg } from '../src/resp/command-buffer.js';
import { RedisConnection } from '../src/sync/connection.js';
import { fencedBlock } from '../src/sync/fenced-block.js';
import { TargetLease } from '../src/sync/target-lease.js';
import { haveRedisServer } from './helpers/redis-server.js';
import { client, later, server, stopAll, url } from './helpers/sync-harness.js';

const live = haveRedisServer();
const STATE = 'redistap:checkpoint:test';

afterEach(stopAll);

function encoded(commands: BufferedArg[][]): Uint8Array {
  const buffer = new CommandBuffer();
  for (const command of commands) buffer.command(command);
  return buffer.take();
}

/** An INCR and a state write as one fenced block of the lease's current claim. */
function block(lease: TargetLease, position: string) {
  return fencedBlock(lease.guardCommands(), encoded([['INCR', 'counter'], ['SET', STATE, position]]), 2, 0);
}

describe.skipIf(!live)('the target lease and its fence', () => {
  it('a second claim of the same sync (a retry) fences the blocks of its first, and leaves no fence key of its own', async () => {
    const dst = await server();
    const target = await client(dst);
    const connection = await RedisConnection.open({ endpoint: parseRedisUrl(url(dst)), role: 'target' });
    later({ stop: () => connection.close() });
    const call = (args: BufferedArg[]) => connection.call(args);
    const lease = new TargetLease(STATE, 30_000);
    await lease.claim(call);
    const first = block(lease, 'first');
    // The sync starts over (a dropped link): a new session claims again before the first one's block,
    // still in a socket buffer, reaches the target.
    await lease.claim(call);
    const stale = await connection.send(first.parts, first.replies);
    expect(() => first.outcome(stale)).toThrow(/the target is no longer this sync's/);
    expect(String(await target.call('GET', 'counter'))).toBe('null');
    // The session's own fence key is not there to expire (or be evicted) under a WATCH of its blocks.
    expect(await target.call('EXISTS', `${STATE}:fence:${lease.holder.token}`)).toBe(0);
    const current = block(lease, 'second');
    expect(current.outcome(await connection.send(current.parts, current.replies)).applied).toBe(true);
    expect(String(await target.call('GET', 'counter'))).toBe('1');
    expect(String(await target.call('GET', STATE))).toBe('second');
  }, 30_000);
});
