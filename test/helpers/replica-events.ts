// Reading a Replica's events in tests: with a deadline, so that a stream that stops is a failure, not a hang.
import { canonicalLine } from '../../src/rdb/canonical-json.js';
import type { ReplicaEvent } from '../../src/replica/events.js';
import { sharedTool, type RedisClient } from './redis-server.js';

/** The snapshot entries among the events as canonical lines, sorted (to compare with `keyspace`). */
export const entryLines = (events: ReplicaEvent[]): string[] =>
  events.flatMap((e) => (e.type === 'entry' ? [canonicalLine(e.entry)] : [])).filter((l) => l !== null).sort();

/** A live server's keyspace as canonical lines, sorted, read by the shared dumper. */
export const keyspace = (port: number): string[] =>
  sharedTool('redis-canonical-dump', ['--port', String(port)]).split('\n').filter(Boolean).sort();

/** Takes events from a replica until `until` says stop; throws if `ms` pass first. */
export async function collect(it: AsyncIterator<ReplicaEvent>, until: (e: ReplicaEvent, all: ReplicaEvent[]) => boolean, ms = 20_000): Promise<ReplicaEvent[]> {
  const all: ReplicaEvent[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    const next = await Promise.race([it.next(), new Promise<null>((r) => setTimeout(() => r(null), Math.max(left, 0)))]);
    if (!next) throw new Error(`timed out; last events: ${JSON.stringify(all.slice(-5).map((e) => e.type))}`);
    if (next.done) return all;
    all.push(next.value);
    if (until(next.value, all)) return all;
  }
}

/** The master's replication offset, from INFO replication. */
export async function masterOffset(client: RedisClient): Promise<number> {
  return Number(await client.info('replication', 'master_repl_offset'));
}

/**
 * Once writes stop, takes events until the replica's checkpoint equals the master's offset (the master may
 * send PINGs meanwhile); returns the last offsets seen of both.
 */
export async function catchUp(it: AsyncIterator<ReplicaEvent>, replica: { checkpoint: { offset: number } | null }, client: RedisClient, ms = 5000): Promise<{ replica: number | undefined; master: number }> {
  const deadline = Date.now() + ms;
  let master = await masterOffset(client);
  while (Date.now() < deadline) {
    const next = await Promise.race([it.next(), new Promise<null>((r) => setTimeout(() => r(null), 200))]);
    master = await masterOffset(client);
    if (!next && replica.checkpoint?.offset === master) break;
  }
  return { replica: replica.checkpoint?.offset, master };
}
