// A consumer that sleeps while 200 MB of writes pass: the replica keeps reading the socket at line rate
// (into its spool file), so the master, whose replica output buffer is capped at 64 MB, never drops the
// link; memory for waiting events stays within the configured bound; and once the consumer wakes every
// write arrives, in order, and the position meets the master's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Replica } from '../src/replica/replica.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { catchUp, collect, masterOffset } from './helpers/replica-events.js';

const live = haveRedisServer();
const WRITES = 2000;
const PAYLOAD = 'x'.repeat(100_000); // 2000 × 100 kB ≈ 200 MB of stream
const MAX_QUEUED = 4 << 20;

describe.skipIf(!live)('a replica whose consumer sleeps', () => {
  let server: RedisServer;
  let client: RedisClient;

  beforeAll(async () => {
    // The master drops a replica whose output buffer passes 64 MB: less than a third of what is written.
    server = await startRedisServer(['--client-output-buffer-limit', 'replica 64mb 0 0', '--repl-diskless-sync-delay', '0']);
    client = await RedisClient.connect(server.port);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  async function replicaLinks(): Promise<number> {
    return Number(await client.info('replication', 'connected_slaves'));
  }

  it('is not dropped by the master while 200 MB pass, and then gets every write in order', async () => {
    const replica = new Replica({ url: `redis://127.0.0.1:${server.port}`, maxQueuedBytes: MAX_QUEUED });
    const it = replica[Symbol.asyncIterator]();
    try {
      await collect(it, (e) => e.type === 'full-sync-end');

      // The consumer sleeps (takes no event) while the writes pass; watch the replica's backlog.
      let maxQueued = 0;
      let maxSpooled = 0;
      const watch = setInterval(() => {
        maxQueued = Math.max(maxQueued, replica.backlog.queuedBytes);
        maxSpooled = Math.max(maxSpooled, replica.backlog.spooledBytes);
      }, 5);
      for (let i = 0; i < WRITES; i += 20) {
        const batch = Array.from({ length: 20 }, (_, k) => client.ok('SET', `k${(i + k) % 16}`, `${i + k}:${PAYLOAD}`));
        await Promise.all(batch);
      }
      const end = await masterOffset(client);
      await new Promise((r) => setTimeout(r, 1000));
      clearInterval(watch);
      expect(await replicaLinks()).toBe(1);
      expect(maxSpooled).toBeGreaterThan(150e6);
      // The bound, overshot by at most one spool chunk (1 MiB) and one command.
      expect(maxQueued).toBeLessThanOrEqual(MAX_QUEUED + (1 << 20) + 110_000);

      // The consumer wakes: every write, in order, no link lost on the way.
      let seen = 0;
      const events = await collect(it, (e) => {
        if (e.type !== 'command' || e.command.name !== 'set') return false;
        const value = e.command.argText(2);
        const n = Number(value.slice(0, value.indexOf(':')));
        if (n !== seen || value.length !== `${n}:`.length + PAYLOAD.length) throw new Error(`write ${n} arrived where ${seen} was expected`);
        return ++seen === WRITES;
      }, 60_000);
      expect(seen).toBe(WRITES);
      expect(events.some((e) => e.type === 'link-down')).toBe(false);
      const position = await catchUp(it, replica, client);
      expect(position.replica).toBe(position.master);
      expect(position.master).toBeGreaterThanOrEqual(end);
      expect(replica.backlog).toEqual({ queuedBytes: 0, spooledBytes: 0 });
      expect(await replicaLinks()).toBe(1);
    } finally {
      replica.stop();
    }
  }, 120_000);
});
