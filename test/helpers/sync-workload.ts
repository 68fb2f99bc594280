// Writes for the sync tests: every type, in shapes where applying a write twice or not at all changes the
// result (appends, increments, pushes, pops, stream IDs and consumer groups), plus MULTI/EXEC, Lua
// scripts, TTLs and deletions. Round r writes the same things on every run.
import type { Sync, SyncEvent } from '../../src/sync/sync.js';
import type { RedisClient } from './redis-server.js';

/** One round of writes; `hfe`: the server has hash field TTLs (Redis ≥ 7.4). */
export async function writeRound(client: RedisClient, r: number, hfe = false): Promise<void> {
  const calls: Array<Promise<unknown>> = [];
  const send = (...args: Array<string | number>) => calls.push(client.ok(...args));
  const k = (name: string) => `w:${name}:${r % 7}`;
  send('APPEND', k('str'), `${r},`);
  send('INCRBY', k('counter'), r);
  send('SET', `w:plain:${r}`, `value-${r}`, ...(r % 3 === 0 ? ['PX', 3_600_000] : []));
  send('RPUSH', k('list'), `a${r}`, `b${r}`);
  if (r % 4 === 3) send('LPOP', k('list'));
  send('SADD', k('set'), r, `m${r}`);
  if (r % 5 === 4) send('SREM', k('set'), r - 1);
  send('ZINCRBY', k('zset'), 1.5, `m${r % 3}`);
  send('HINCRBY', k('hash'), `f${r % 4}`, 1);
  send('HSET', k('hash'), `v${r}`, 'x'.repeat(r % 90));
  if (hfe) send('HPEXPIRE', k('hash'), 3_600_000 + r, 'FIELDS', 1, `v${r}`);
  send('XADD', 'w:stream', '*', 'r', r, 'payload', 'p'.repeat(r % 40));
  if (r === 0) send('XGROUP', 'CREATE', 'w:stream', 'g', '0', 'MKSTREAM');
  if (r % 2 === 1) send('XREADGROUP', 'GROUP', 'g', `c${r % 3}`, 'COUNT', 2, 'STREAMS', 'w:stream', '>');
  send('MULTI');
  send('INCR', 'w:tx:count');
  send('RPUSH', 'w:tx:log', r);
  send('EXEC');
  send('EVAL', "redis.call('INCRBY', KEYS[1], ARGV[1]); return redis.call('LPUSH', KEYS[2], ARGV[1])", 2, 'w:lua:sum', 'w:lua:log', r);
  send('SET', `w:short:${r}`, r, 'PX', 50 + (r % 100));
  if (r % 6 === 5) send('DEL', `w:plain:${r - 2}`);
  if (r % 10 === 9) send('RENAME', `w:plain:${r - 1}`, `w:renamed:${r}`);
  await Promise.all(calls);
}

/**
 * Writes rounds while the snapshot is made and copied, then `after` more; fails when the copy fails or
 * has not finished within a minute.
 */
export async function writeThroughCopy(source: RedisClient, s: Sync, events: SyncEvent[], after: number, hfe = false): Promise<void> {
  let round = 0;
  const deadline = Date.now() + 60_000;
  while (s.status.phase !== 'streaming') {
    await writeRound(source, round++, hfe);
    if (Date.now() > deadline || s.status.phase === 'failed') throw new Error(`the copy did not finish: ${JSON.stringify(events)}`);
  }
  for (let end = round + after; round < end; round++) await writeRound(source, round, hfe);
}
