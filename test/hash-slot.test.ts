// Hash slots against Redis itself: CLUSTER KEYSLOT of a cluster-enabled redis-server for keys with and
// without hash tags, empty tags, binary bytes; and the CRC16 check value of the XMODEM variant.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc16, hashSlot } from '../src/cluster/hash-slot.js';
import { rng } from './helpers/feed.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';

describe('crc16', () => {
  it('is CRC-16/XMODEM (check value of "123456789": 0x31C3)', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x31c3);
  });
});

describe.skipIf(!haveRedisServer())('hashSlot', () => {
  let server: RedisServer;
  let client: RedisClient;

  beforeAll(async () => {
    server = await startRedisServer(['--cluster-enabled', 'yes']);
    client = await RedisClient.connect(server.port);
  });

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it('equals CLUSTER KEYSLOT for tagged, untagged and binary keys', async () => {
    const random = rng(7);
    const keys: Buffer[] = ['user:1', '{user1}:a', 'a{}b', '{}', '{a', 'a}b{c}', 'x{y}{z}', '{{a}}', ''].map((k) => Buffer.from(k));
    for (let i = 0; i < 300; i++) {
      const length = Math.floor(random() * 12);
      keys.push(Buffer.from(Array.from({ length }, () => (random() < 0.2 ? [0x7b, 0x7d][Math.floor(random() * 2)]! : Math.floor(random() * 256)))));
    }
    for (const key of keys) expect(hashSlot(key), key.toString('hex')).toBe(await client.ok('CLUSTER', 'KEYSLOT', key));
  });
});
