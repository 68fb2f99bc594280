// What the sync tests share: servers and clients stopped after each test, syncs started with their
// events kept, waiting for a target to catch up, and the keyspace comparison.
import { sync, type Sync, type SyncEvent, type SyncOptions } from '../../src/sync/sync.js';
import { canonicalDump } from './keyspace.js';
import { isError, RedisClient, startRedisServer, type RedisServer } from './redis-server.js';

const running: Array<{ stop(): Promise<void> | void }> = [];

/** Stops everything started since the last call, newest first (call it in afterEach). */
export async function stopAll(): Promise<void> {
  for (const r of running.splice(0).reverse()) await r.stop();
}

/** Stops `thing` with the others at the end of the test. */
export function later(thing: { stop(): Promise<void> | void }): void {
  running.push(thing);
}

/** A redis-server (or the given binary) stopped after the test. */
export async function server(extra: string[] = [], binary?: string): Promise<RedisServer> {
  const s = await startRedisServer(extra, { binary });
  let current = s;
  // A restarted server replaces the stopped one; stop whichever is current.
  const restart = s.restart;
  s.restart = async () => (current = await restart());
  later({ stop: () => current.stop() });
  return s;
}

export async function client(s: { port: number }): Promise<RedisClient> {
  const c = await RedisClient.connect(s.port);
  later({ stop: () => c.close() });
  return c;
}

export function url(s: { port: number }): string {
  return `redis://127.0.0.1:${s.port}`;
}

/** A sync (library) from source to target; `events`: every event but the once-a-second status. */
export function startSync(source: RedisServer, target: { port: number }, extra: Partial<SyncOptions> = {}): { sync: Sync; events: SyncEvent[] } {
  const events: SyncEvent[] = [];
  const s = sync({ source: url(source), target: url(target), onEvent: (e) => { if (e.type !== 'status') events.push(e); }, ...extra });
  later({ stop: async () => { s.stop(); await s.done.catch(() => undefined); } });
  return { sync: s, events };
}

export async function waitFor(what: string, test: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Writes a marker on the source and waits until every target has it (every earlier write is applied then). */
export async function caughtUp(source: RedisClient, targets: RedisClient[], timeoutMs = 60_000): Promise<void> {
  const marker = `marker:${Date.now()}:${Math.random()}`;
  await source.ok('SET', 'w:marker', marker);
  for (const target of targets) {
    await waitFor('a target to catch up', async () => String(await target.call('GET', 'w:marker')) === marker, timeoutMs);
  }
  await new Promise((r) => setTimeout(r, 300)); // the workload's short TTLs (≤ 150 ms) have run out on both sides
}

/** The shared canonical dumper's lines, without the sync's own keys (redistap:...); legacy: see canonicalDump. */
export function syncedKeyspace(port: number, legacyStreams = false): string[] {
  return canonicalDump(port, legacyStreams).filter((l) => !l.includes('"key":"redistap:'));
}

/**
 * Redis 7.0 and 7.2 replicate XREADGROUP without the group's entries_read: a replica keeps whatever its
 * snapshot said (unknown, or a number that then goes stale), so a real replica and the source disagree on
 * it too. That one member is compared only as present.
 */
export function withoutEntriesRead(lines: string[]): string[] {
  return lines.map((l) => l.replace(/"entries_read":(\d+|null)/g, '"entries_read":"?"'));
}

/** A server's function libraries' code, sorted (FUNCTION LIST WITHCODE); null when it has no functions. */
export async function libraries(c: RedisClient): Promise<string[] | null> {
  const listed = await c.call('FUNCTION', 'LIST', 'WITHCODE');
  if (isError(listed)) return null;
  return (listed as unknown as unknown[][]).map((lib) => String(lib[lib.findIndex((x) => String(x) === 'library_code') + 1])).sort();
}

/** A real replica of the source (redis-server --replicaof): an oracle fed by the same stream. */
export async function realReplica(source: RedisServer, binary?: string): Promise<RedisServer> {
  const replica = await server(['--replicaof', '127.0.0.1', String(source.port)], binary);
  const c = await client(replica);
  await waitFor('the real replica\'s link', async () => (await c.info('replication', 'master_link_status')) === 'up');
  return replica;
}
