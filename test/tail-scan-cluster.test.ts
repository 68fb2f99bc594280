// `tail` in scan mode from a Redis Cluster of 3 masters (no replicas) that refuse replication as a managed
// service does (SYNC, PSYNC, REPLCONF renamed away), through the built CLI: auto picks scan, and each
// master is read by SCAN + DUMP and its own keyspace notifications (they are local to a node). Writes of
// every type across the slots during and after the snapshot, one master's notification connection killed,
// a rescan asked: the key states the lines hold (each shard's full-sync-start replacing its keys only)
// end as the cluster's keyspace, read from its masters by the shared canonical dumper.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { clusterSuite } from './helpers/cluster-suite.js';
import { writeEveryType } from './helpers/cluster-workload.js';
import { unexpired } from './helpers/keyspace.js';
import { haveRedisServer, RedisClient } from './helpers/redis-server.js';
import { ScanLines } from './helpers/scan-lines.js';
import { waitFor, withoutEntriesRead } from './helpers/sync-harness.js';

const MANAGED = ['--rename-command', 'SYNC', '', '--rename-command', 'PSYNC', '', '--rename-command', 'REPLCONF', ''];

describe.skipIf(!haveRedisServer())('tail --source-mode from a Redis Cluster that refuses replication', () => {
  const suite = clusterSuite({ masters: 3, replicasPerMaster: 0, extra: MANAGED });

  it('reads each master by scan and its own notifications: writes across the slots, a master\'s subscription killed, a rescan asked: the lines end as the cluster\'s keyspace', async () => {
    const { cluster, writer } = suite;
    await writeEveryType(writer, cluster, 'before');
    const dir = mkdtempSync(join(tmpdir(), 'redistap-tail-scan-cluster-'));
    const file = join(dir, 'tail.jsonl');
    const lines = new ScanLines(file);
    const p: CliProcess = cli(['tail', `redis://127.0.0.1:${cluster.nodes[0]!.port}`, '-o', file]);
    const alive = () => { if (p.child.exitCode !== null) throw new Error(`tail exited (${p.child.exitCode}): ${p.err()}`); };
    try {
      await waitFor('three snapshots done', () => { alive(); return (p.err().match(/snapshot done/g) ?? []).length >= 3; }, 60_000);
      expect(p.err()).toMatch(/source mode: scan \(it refuses REPLCONF/);
      await writeEveryType(writer, cluster, 'after');
      const master = await RedisClient.connect(cluster.nodes[0]!.port);
      try {
        await master.ok('CLIENT', 'KILL', 'TYPE', 'pubsub');
      } finally {
        master.close();
      }
      await waitFor('that shard read again', () => { alive(); return lines.update().fullSyncs.length >= 4; });
      await writeEveryType(writer, cluster, 'later');
      p.child.kill('SIGUSR1');
      await waitFor('every shard read again', () => { alive(); return lines.update().fullSyncs.length >= 7; });
      await writeEveryType(writer, cluster, 'last');
      const token = `marker-${Date.now()}`;
      await writer.call('SET', 'w:marker', token);
      await waitFor('the marker in the lines', () => { alive(); return lines.update().line(0, 'w:marker')?.includes(token) === true; });
      const comparable = (l: string[]) => withoutEntriesRead(unexpired(l)).sort();
      const expected = comparable(await cluster.keyspace());
      expect(expected.length).toBeGreaterThan(100);
      expect(comparable([...lines.update().keys.values()])).toEqual(expected);
      expect(lines.fullSyncs.slice(0, 3)).toEqual(['no-checkpoint', 'no-checkpoint', 'no-checkpoint']);
      expect(lines.fullSyncs.slice(3)).toEqual(['rescan', 'rescan', 'rescan', 'rescan']);
      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
