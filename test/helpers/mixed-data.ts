// A deterministic data set of every type, in the shapes that decide a value's encoding and size after a
// load: integers and short/long strings, small and large lists, intsets of each width, sets that turn
// from integers to strings, listpack and skiplist sorted sets, hashes that outgrow their listpack by count
// or by one long value, streams with consumer groups and pending entries, expiring keys.
import { rng } from './feed.js';
import type { RedisClient } from './redis-server.js';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-';

export async function populateMixed(client: RedisClient, seed: number, scale = 1): Promise<number> {
  const rand = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const text = (n: number) => Array.from({ length: n }, () => ALPHABET[int(0, ALPHABET.length - 1)]).join('');
  const length = () => [int(0, 12), int(13, 44), int(45, 64), int(65, 300), int(301, 5000)][int(0, 4)]!;
  const calls: Array<Promise<unknown>> = [];
  const send = (...args: Array<string | number>) => calls.push(client.ok(...args));
  let keys = 0;
  const key = (prefix: string) => `${prefix}:${keys++}:${text(int(1, 30))}`;

  for (let i = 0; i < 300 * scale; i++) {
    const k = key('str');
    const kind = int(0, 4);
    if (kind === 0) send('SET', k, int(-20000, 20000));
    else if (kind === 1) send('SET', k, [int(0, 9) * 10 ** 17 + int(0, 1e6), 2 ** 40 + i, -(2 ** 33)][int(0, 2)]!);
    else send('SET', k, text(length()));
    if (int(0, 4) === 0) send('PEXPIREAT', k, 4102444800000 + i);
  }
  for (let i = 0; i < 60 * scale; i++) {
    const k = key('list');
    const n = [int(1, 10), int(11, 200), int(201, 3000)][int(0, 2)]!;
    const items = Array.from({ length: n }, () => (int(0, 3) === 0 ? String(int(-100000, 100000)) : text(length() % 400)));
    for (let at = 0; at < items.length; at += 500) send('RPUSH', k, ...items.slice(at, at + 500));
  }
  for (let i = 0; i < 80 * scale; i++) {
    const k = key('set');
    const shape = int(0, 3);
    const n = [int(1, 20), int(21, 512), int(513, 1500)][int(0, 2)]!;
    const bound = [30000, 2e9, 9e15][int(0, 2)]!;
    const members = new Set<string>();
    const switchAt = int(0, n);
    for (let m = 0; members.size < n; m++) {
      members.add(shape === 0 || (shape === 1 && members.size < switchAt) ? String(int(-bound, bound)) : text(int(1, 80)));
    }
    const list = [...members];
    for (let at = 0; at < list.length; at += 500) send('SADD', k, ...list.slice(at, at + 500));
  }
  for (let i = 0; i < 60 * scale; i++) {
    const k = key('zset');
    const n = [int(1, 128), int(129, 400), int(401, 2000)][int(0, 2)]!;
    const long = int(0, 4) === 0;
    const args: Array<string | number> = [];
    for (let m = 0; m < n; m++) {
      const score = [int(-1000, 1000), rand() * 1000, int(0, 10) / 4, 1e20 * rand()][int(0, 3)]!;
      args.push(score, long && m === 0 ? text(int(65, 120)) : text(int(1, 40)));
    }
    for (let at = 0; at < args.length; at += 1000) send('ZADD', k, ...args.slice(at, at + 1000));
  }
  for (let i = 0; i < 60 * scale; i++) {
    const k = key('hash');
    const n = [int(1, 50), int(51, 512), int(513, 1500)][int(0, 2)]!;
    const longAt = int(0, 2) === 0 ? int(0, n - 1) : -1;
    const args: string[] = [];
    for (let f = 0; f < n; f++) args.push(`f${f}:${text(int(0, 20))}`, f === longAt ? text(int(65, 500)) : int(0, 1) ? String(int(-5000, 5000)) : text(int(0, 64)));
    for (let at = 0; at < args.length; at += 1000) send('HSET', k, ...args.slice(at, at + 1000));
    if (int(0, 5) === 0) send('PEXPIREAT', k, 4102444800000 + i);
  }
  for (let i = 0; i < 15 * scale; i++) {
    const k = key('stream');
    const n = [int(1, 10), int(11, 150), int(151, 1200)][int(0, 2)]!;
    for (let e = 0; e < n; e++) send('XADD', k, '*', 'field', text(int(1, 30)), 'n', e);
    for (let g = 0; g < int(0, 3); g++) {
      send('XGROUP', 'CREATE', k, `group${g}`, '0');
      for (let c = 0; c < int(0, 3); c++) send('XREADGROUP', 'GROUP', `group${g}`, `consumer-${c}`, 'COUNT', int(1, 60), 'STREAMS', k, '>');
    }
  }
  await Promise.all(calls);
  return keys;
}
