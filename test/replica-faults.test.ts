// What a replica reports when the master cannot simply continue: a link killed in the middle of the
// snapshot (a new full sync, the partial one voided by a flush), a backlog too small to resume from (a
// full resync, reason 'resync'), a master that is itself a replica without its master (-NOMASTERLINK) or is
// loading its data (-LOADING), both retried; a link-down that says why (closed mid-snapshot, diskless or
// from a file; reset); the command stream starting promptly after a diskless snapshot; and a failover
// (the master promoted: new replication ID adopted, no full sync). Real redis-server processes on
// loopback, some behind a proxy that only forwards their bytes (a slow link, a reset).
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Replica } from '../src/replica/replica.js';
import type { ReplicaEvent } from '../src/replica/events.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { catchUp, collect, entryLines, keyspace } from './helpers/replica-events.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const live = haveRedisServer();

const types = (events: ReplicaEvent[]) => events.map((e) => e.type).filter((t) => t !== 'entry' && t !== 'rdb-progress');

async function fill(client: RedisClient, keys: number, prefix: string): Promise<void> {
  for (let i = 0; i < keys; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, k) => client.ok('SET', `${prefix}${i + k}`, `value-${i + k}`)));
  }
}

describe.skipIf(!live)('replica faults', () => {
  const servers: RedisServer[] = [];
  const clients: RedisClient[] = [];
  const proxies: TcpProxy[] = [];
  async function start(args: string[]): Promise<[RedisServer, RedisClient]> {
    const server = await startRedisServer(args);
    const client = await RedisClient.connect(server.port);
    servers.push(server);
    clients.push(client);
    return [server, client];
  }

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('starts a new full sync when the link dies in the middle of the snapshot, and says so', async () => {
    // 2000 keys, 1 ms each: the diskless snapshot takes about two seconds to stream.
    const [server, client] = await start(['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', '--rdb-key-save-delay', '1000']);
    await fill(client, 2000, 'k');
    const replica = new Replica({ url: `redis://127.0.0.1:${server.port}`, reconnect: { initialDelayMs: 20 } });
    const it = replica[Symbol.asyncIterator]();
    try {
      const first = await collect(it, (e) => e.type === 'entry');
      expect(await client.ok('CLIENT', 'KILL', 'TYPE', 'replica')).toBe(1);
      await client.ok('CONFIG', 'SET', 'rdb-key-save-delay', '0');
      const rest = await collect(it, (e) => e.type === 'full-sync-end');
      const events = [...first, ...rest];
      expect(types(events)).toEqual(['link-up', 'full-sync-start', 'flush', 'link-down', 'link-up', 'full-sync-start', 'flush', 'full-sync-end']);
      const partial = events.slice(0, events.findIndex((e) => e.type === 'link-down'));
      expect(entryLines(partial).length).toBeLessThan(2000);
      // The link-down says why: closed by the master, and how far the snapshot had come.
      const down = events.find((e) => e.type === 'link-down')!;
      expect(down.type === 'link-down' && down.error.message).toMatch(/^the master closed the connection after [1-9]\d* bytes of a diskless snapshot$/);
      // After the second flush: the whole keyspace, once.
      const secondFlush = events.map((e) => e.type).lastIndexOf('flush');
      expect(entryLines(events.slice(secondFlush))).toEqual(keyspace(server.port));
      expect(events.find((e) => e.type === 'full-sync-end')).toMatchObject({ keys: 2000 });
    } finally {
      replica.stop();
    }
  }, 60_000);

  it('says how far a snapshot sent from a file had come when the master closed the link in the middle of it', async () => {
    // Disk-based: the master writes the snapshot to a file, then sends it at line rate. A proxy stops reading
    // it after 1 MiB; then the master is told to drop us. What reaches us is that MiB and at most what the
    // kernel held in flight (the proxy's receive buffer, the master's send buffer): the snapshot is made
    // larger than that, so it ends short by construction.
    const maxBuffer = (name: string) => Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[2]);
    const inFlight = maxBuffer('tcp_rmem') + maxBuffer('tcp_wmem');
    const heldAfter = 1 << 20;
    const [server, client] = await start(['--repl-diskless-sync', 'no', '--rdbcompression', 'no', '--enable-debug-command', 'yes']);
    await client.ok('DEBUG', 'POPULATE', Math.ceil((inFlight + heldAfter) / 100), 'key', 100); // over 100 bytes a key
    const proxy = await startTcpProxy(server.port);
    proxies.push(proxy);
    const held = new Promise<void>((resolve) => {
      proxy.onServerData = (conn) => {
        if (conn.fromServer < heldAfter) return;
        conn.hold();
        proxy.onServerData = null;
        resolve();
      };
    });
    const replica = new Replica({ url: `redis://127.0.0.1:${proxy.port}`, skipRdb: true, reconnect: { initialDelayMs: 20 } });
    const it = replica[Symbol.asyncIterator]();
    try {
      await held;
      expect(await client.ok('CLIENT', 'KILL', 'TYPE', 'replica')).toBe(1);
      proxy.connections[0]!.release();
      const events = await collect(it, (e) => e.type === 'link-down');
      expect(types(events)).toEqual(['link-up', 'full-sync-start', 'flush', 'link-down']);
      const down = events.at(-1)!;
      const message = down.type === 'link-down' ? down.error.message : '';
      const said = /^the master closed the connection after (\d+) of (\d+) snapshot bytes$/;
      expect(message).toMatch(said);
      const [got, total] = said.exec(message)!.slice(1).map(Number) as [number, number];
      expect(got).toBeGreaterThan(0);
      expect(got).toBeLessThan(total);
      expect(total).toBeGreaterThan(inFlight + heldAfter);
    } finally {
      replica.stop();
    }
  }, 60_000);

  it('says the connection was reset when it was (ECONNRESET), and resumes where the stream stood', async () => {
    // No PINGs from the master meanwhile: the offset at the reset is the write's.
    const [server, client] = await start(['--repl-diskless-sync-delay', '0', '--repl-ping-replica-period', '3600']);
    const proxy = await startTcpProxy(server.port);
    proxies.push(proxy);
    const replica = new Replica({ url: `redis://127.0.0.1:${proxy.port}`, reconnect: { initialDelayMs: 20 } });
    const it = replica[Symbol.asyncIterator]();
    try {
      await collect(it, (e) => e.type === 'full-sync-end');
      await client.ok('SET', 'k', 'v');
      const write = (await collect(it, (e) => e.type === 'command')).at(-1)!;
      const offset = write.type === 'command' ? write.command.offset : -1;
      // The proxy resets the connection it forwarded the write on (an RST, not a FIN).
      proxy.connections[0]!.client.resetAndDestroy();
      const events = await collect(it, (e) => e.type === 'resumed');
      expect(types(events)).toEqual(['link-down', 'link-up', 'resumed']);
      const down = events[0]!;
      expect(down.type === 'link-down' && down.error.message).toBe(`the connection was reset (ECONNRESET) at offset ${offset}`);
      expect(events.at(-1)).toMatchObject({ type: 'resumed', offset });
    } finally {
      replica.stop();
    }
  }, 60_000);

  it('reports a full resync when the backlog no longer holds the writes since the checkpoint', async () => {
    const [server, client] = await start(['--repl-backlog-size', '16kb', '--repl-diskless-sync-delay', '0']);
    const url = `redis://127.0.0.1:${server.port}`;
    const first = new Replica({ url });
    const it1 = first[Symbol.asyncIterator]();
    await collect(it1, (e) => e.type === 'full-sync-end');
    await client.ok('SET', 'seen', '1');
    await collect(it1, (e) => e.type === 'command');
    first.stop();
    const checkpoint = first.checkpoint!;

    await fill(client, 1000, 'later:'); // ~30 kB of stream: more than the 16 kB backlog
    const second = new Replica({ url, checkpoint });
    const it2 = second[Symbol.asyncIterator]();
    try {
      const events = await collect(it2, (e) => e.type === 'full-sync-end');
      expect(types(events)).toEqual(['link-up', 'full-sync-start', 'flush', 'full-sync-end']);
      expect(events.find((e) => e.type === 'full-sync-start')).toMatchObject({ reason: 'resync', replid: checkpoint.replid });
      expect(entryLines(events)).toEqual(keyspace(server.port));
      await client.ok('SET', 'after', '1');
      const [next] = await collect(it2, (e) => e.type === 'command');
      expect(next!.type === 'command' && next!.command.args.map((a) => Buffer.from(a).toString())).toEqual(['SET', 'after', '1']);
    } finally {
      second.stop();
    }
  }, 60_000);

  it('retries a master that answers -NOMASTERLINK until it can serve', async () => {
    // A replica of a port where nothing listens: it refuses PSYNC while it has no master link.
    const [nobody] = await start([]);
    const deadPort = nobody.port;
    await nobody.stop();
    const [server, client] = await start(['--replicaof', '127.0.0.1', String(deadPort), '--repl-diskless-sync-delay', '0']);
    const replica = new Replica({ url: `redis://127.0.0.1:${server.port}`, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    const it = replica[Symbol.asyncIterator]();
    try {
      const refused = await collect(it, (e) => e.type === 'link-down');
      const down = refused[refused.length - 1]!;
      expect(down.type === 'link-down' && down.error?.message).toMatch(/NOMASTERLINK/);
      expect(down.type === 'link-down' && down.reconnectInMs).toBeGreaterThan(0);
      await client.ok('REPLICAOF', 'NO', 'ONE');
      await client.ok('SET', 'k', 'v');
      const events = await collect(it, (e) => e.type === 'full-sync-end');
      expect(entryLines(events)).toEqual(keyspace(server.port));
    } finally {
      replica.stop();
    }
  }, 60_000);

  it('retries a master that answers -LOADING while it loads its dataset', async () => {
    // DEBUG RELOAD saves and loads the dataset again, 100 µs per key: about a second of -LOADING (the
    // server answers clients every 1 kB of its file while it loads).
    const [server, client] = await start(['--enable-debug-command', 'local', '--key-load-delay', '100', '--loading-process-events-interval-bytes', '1024', '--repl-diskless-sync-delay', '0']);
    await fill(client, 10_000, 'k');
    const reload = client.ok('DEBUG', 'RELOAD');
    await new Promise((r) => setTimeout(r, 100));
    const replica = new Replica({ url: `redis://127.0.0.1:${server.port}`, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    const it = replica[Symbol.asyncIterator]();
    try {
      const events = await collect(it, (e) => e.type === 'full-sync-end');
      await reload;
      const refusals = events.flatMap((e) => (e.type === 'link-down' ? [e.error?.message ?? ''] : []));
      expect(refusals.length).toBeGreaterThan(0);
      expect(refusals.every((m) => /LOADING/.test(m))).toBe(true);
      expect(events.find((e) => e.type === 'full-sync-end')).toMatchObject({ keys: 10_000 });
      expect(entryLines(events)).toEqual(keyspace(server.port));
    } finally {
      replica.stop();
    }
  }, 60_000);

  it('gets the command stream promptly after a diskless snapshot, not at the next regular ACK', async () => {
    // The master starts streaming on the first ACK it reads after it has reaped its snapshot fork; the
    // replica's ACK right after the snapshot often comes earlier. Regular ACKs here: every 5 s.
    const [server, client] = await start(['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']);
    await fill(client, 100, 'k');
    for (let round = 0; round < 3; round++) {
      const replica = new Replica({ url: `redis://127.0.0.1:${server.port}`, ackIntervalMs: 5000 });
      const it = replica[Symbol.asyncIterator]();
      try {
        await collect(it, (e) => e.type === 'full-sync-end');
        const synced = Date.now();
        await client.ok('SET', 'prompt', String(round));
        await collect(it, (e) => e.type === 'command', 10_000);
        expect(Date.now() - synced).toBeLessThan(1500);
      } finally {
        replica.stop();
      }
    }
  }, 60_000);

  it('adopts and reports a new replication ID when its master is promoted (failover), without a full sync', async () => {
    const [origin, originClient] = await start(['--repl-diskless-sync-delay', '0']);
    const [server, client] = await start(['--replicaof', '127.0.0.1', String(origin.port), '--repl-diskless-sync-delay', '0']);
    while ((await client.info('replication', 'master_link_status')) !== 'up') await new Promise((r) => setTimeout(r, 50));
    const oldId = await originClient.info('replication', 'master_replid');

    // Our replica follows the replica: the stream (and its replication ID) is the origin's.
    const replica = new Replica({ url: `redis://127.0.0.1:${server.port}`, reconnect: { initialDelayMs: 20 } });
    const it = replica[Symbol.asyncIterator]();
    try {
      await collect(it, (e) => e.type === 'full-sync-end');
      await originClient.ok('SET', 'before', '1');
      const [before] = (await collect(it, (e) => e.type === 'command')).filter((e) => e.type === 'command');
      expect(before).toMatchObject({ replid: oldId });

      // Promoted: it takes a new ID, drops its replicas, and lets them continue (PSYNC with the old ID).
      await client.ok('REPLICAOF', 'NO', 'ONE');
      const newId = await client.info('replication', 'master_replid');
      expect(newId).not.toBe(oldId);
      await client.ok('SET', 'after', '2');
      const events = await collect(it, (e) => e.type === 'command');
      expect(types(events)).toEqual(['link-down', 'link-up', 'replid-changed', 'resumed', 'command']);
      expect(events.find((e) => e.type === 'replid-changed')).toMatchObject({ from: oldId, to: newId });
      const after = events[events.length - 1]!;
      expect(after.type === 'command' && [after.replid, after.command.argText(1)]).toEqual([newId, 'after']);
      const position = await catchUp(it, replica, client);
      expect(position.replica).toBe(position.master);
      expect(replica.checkpoint?.replid).toBe(newId);
    } finally {
      replica.stop();
    }
  }, 60_000);

  it('uses a renamed PSYNC when told its name, and says what to do when not', async () => {
    const [server, client] = await start(['--rename-command', 'PSYNC', 'SYNC-FROM-HERE', '--repl-diskless-sync-delay', '0']);
    await fill(client, 100, 'k');
    const url = `redis://127.0.0.1:${server.port}`;
    const unaware = new Replica({ url });
    const events: ReplicaEvent[] = [];
    const error = await (async () => { for await (const e of unaware) events.push(e); })().then(() => null, (err: unknown) => err);
    expect(String(error)).toMatch(/refused PSYNC: ERR unknown command .*psyncCommand/);
    expect(events.filter((e) => e.type === 'link-down')).toHaveLength(1);

    // A master recognises PSYNC by its name: renamed, it is SYNC — a snapshot without a replication ID.
    const replica = new Replica({ url, psyncCommand: 'SYNC-FROM-HERE' });
    const it = replica[Symbol.asyncIterator]();
    try {
      const sync = await collect(it, (e) => e.type === 'full-sync-end');
      expect(sync.find((e) => e.type === 'full-sync-start')).toMatchObject({ replid: '', offset: 0 });
      expect(entryLines(sync)).toEqual(keyspace(server.port));
      await client.ok('SET', 'after', '1');
      const [write] = (await collect(it, (e) => e.type === 'command')).filter((e) => e.type === 'command');
      expect(write!.type === 'command' && write!.command.args.map((a) => Buffer.from(a).toString())).toEqual(['SET', 'after', '1']);
    } finally {
      replica.stop();
    }
  }, 60_000);
});
