// The source's command table (which arguments are keys, which class a command is), read once over a plain
// client connection before the replica starts: what filters and change events need to judge a write.
import type { ConnectionOptions } from 'node:tls';
import { parseRedisUrl } from '../replica/redis-url.js';
import { CommandKeys } from '../sync/command-keys.js';
import { RedisConnection } from '../sync/connection.js';

export async function readCommandTable(url: string, tls: ConnectionOptions | undefined, timeoutMs?: number): Promise<CommandKeys> {
  const connection = await RedisConnection.open({ endpoint: parseRedisUrl(url), tls, timeoutMs, role: 'source' });
  try {
    return await CommandKeys.load(connection);
  } finally {
    connection.close();
  }
}
