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

/** Writes of keys and values that are not UTF-8, for a client that has selected db 2 (an event's db must be honoured too). */
export async function binaryRound(c: RedisClient, r: number): Promise<void> {
  const bin = (...bytes: number[]) => Buffer.from(bytes);
  const key = (tag: number) => Buffer.concat([Buffer.from('b:'), bin(0xff, 0x00, 0x80 + tag, r % 5)]);
  await Promise.all([
    c.ok('SET', key(1), Buffer.concat([bin(0xc3, 0x28, 0x00, 0x0a), Buffer.from(`-${r}`)])),
    c.ok('APPEND', key(2), bin(0xfe, r & 0xff)),
    c.ok('HSET', key(3), bin(0xe2, 0x82, r & 0x7f), bin(0xff, 0xff, 0x00)),
    c.ok('RPUSH', key(4), bin(0x80, r & 0xff), 'plain'),
    c.ok('SADD', key(5), bin(0xed, 0xa0, 0x80, r % 7)),
    c.ok('ZADD', key(6), r % 3 === 0 ? '-inf' : r / 7, bin(0xc0, 0xaf, r % 4)),
    c.ok('XADD', key(7), '*', bin(0xff, 0xfe), bin(0x00, r & 0xff)),
    ...(r < 5 ? [c.ok('XGROUP', 'CREATE', key(7), 'bg', '$')] : []),
    c.ok('SET', `b:text:${r % 3}`, `ünïcødé ${r} \u{1F600}`),
  ]);
}

/** Rounds of both kinds (writeRound on `source`, binaryRound on `db2`), one every 5 ms, until `stop()`; resolves with how many. */
export async function writeUntil(source: RedisClient, db2: RedisClient, stop: () => boolean, from = 0): Promise<number> {
  let r = from;
  while (!stop()) {
    await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    r++;
    await new Promise((resolve) => setTimeout(resolve, 5)); // a steady stream, not a flood
  }
  return r - from;
}
