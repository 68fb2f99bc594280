// `sync` against real servers: a source and a target redis-server started here. Each case ends, once
// writes have stopped and a marker written last has reached the target, with the target's keyspace
// (the shared canonical dumper's lines, the sync's state key aside) equal to the source's and to that of
// a real replica of the source.
import { afterEach, describe, expect, it } from 'vitest';
import { populateMixed } from './helpers/mixed-data.js';
import { haveRedisServer, sharedTool } from './helpers/redis-server.js';
import { canonicalDump, caughtUp, client, realReplica, server, startSync, stopAll, withoutEntriesRead } from './helpers/sync-harness.js';
import { writeRound } from './helpers/sync-workload.js';

const live = haveRedisServer();

afterEach(stopAll);

describe.skipIf(!live)('sync into a live target', () => {
  it('copies a snapshot with writes during and after the copy; the keyspaces end identical', async () => {
    const [src, dst] = await Promise.all([server(), server()]);
    const source = await client(src);
    const target = await client(dst);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    await source.ok('SELECT', 4);
    await populateMixed(source, 11, 3);
    await source.ok('SELECT', 0);
    const replica = await realReplica(src);
    const { sync: s, events } = startSync(src, dst);
    let round = 0;
    // Writes while the snapshot is made and copied ...
    const deadline = Date.now() + 60_000;
    while (s.status.phase !== 'streaming') {
      await writeRound(source, round++);
      if (Date.now() > deadline || s.status.phase === 'failed') throw new Error(`the copy did not finish: ${JSON.stringify(events)}`);
    }
    // ... and after.
    for (let end = round + 200; round < end; round++) await writeRound(source, round);
    await caughtUp(source, [target, await client(replica)]);
    const copy = canonicalDump(dst.port);
    expect(copy.length).toBeGreaterThan(25_000);
    expect(withoutEntriesRead(copy)).toEqual(withoutEntriesRead(canonicalDump(replica.port)));
    expect(withoutEntriesRead(copy)).toEqual(withoutEntriesRead(canonicalDump(src.port)));
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
    expect(s.status.applied.commands).toBeGreaterThan(1000);
  }, 120_000);
});
