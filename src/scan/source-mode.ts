// Which source a server can be: a replica's (PSYNC), or scan mode's for services that refuse replication.
// Asked before the pipeline starts, harmlessly: REPLCONF listening-port on a plain connection only records
// a port (it makes no replica), and COMMAND INFO says whether PSYNC is known (a renamed command is not).
import type { ConnectionOptions } from 'node:tls';
import { RespErrorReply } from '../resp/replies.js';
import { parseRedisUrl } from '../replica/redis-url.js';
import { RedisConnection } from '../sync/connection.js';

export type SourceModeChoice = 'auto' | 'replication' | 'scan';

/** Why the server at `url` cannot be replicated from (REPLCONF refused, PSYNC unknown), or null when it can. */
export async function replicationRefusal(url: string, tls: ConnectionOptions | undefined, timeoutMs: number, psyncCommand = 'PSYNC'): Promise<string | null> {
  const connection = await RedisConnection.open({ endpoint: parseRedisUrl(url), tls, timeoutMs, role: 'source' });
  try {
    const replconf = await connection.call(['REPLCONF', 'listening-port', '0']);
    if (replconf instanceof RespErrorReply) return `it refuses REPLCONF: ${replconf.message}`;
    const info = await connection.call(['COMMAND', 'INFO', psyncCommand]);
    if (Array.isArray(info) && info[0] === null) return `it has no ${psyncCommand} command`;
    return null;
  } finally {
    connection.close();
  }
}

/** What a scan reads of a selection: its dbs, and a single prefix as SCAN's MATCH (glob characters escaped). */
export function scanSelection(dbs: readonly number[] | undefined, prefixes: readonly string[] | undefined): { dbs?: readonly number[]; match?: string } {
  return { dbs: dbs?.length ? dbs : undefined, match: prefixes?.length === 1 ? `${prefixes[0]!.replace(/[*?[\]\\]/g, '\\$&')}*` : undefined };
}

/** Why scan mode cannot run what was asked (a filter of commands: it gives key states, not commands), or null. */
export function scanRefusal(commands: readonly string[] | undefined): string | null {
  return commands?.length ? '--command selects commands, and in scan mode the source gives key states, not commands: leave it out' : null;
}
