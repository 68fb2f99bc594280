// Which source a server can be: a replica's (PSYNC), or scan mode's for services that refuse replication.
// Asked before the pipeline starts, harmlessly: REPLCONF listening-port on a plain connection only records
// a port (it makes no replica), and COMMAND INFO says whether PSYNC is known (a renamed command is not).
import { RespErrorReply } from '../resp/replies.js';
import type { RedisConnection } from '../sync/connection.js';

export type SourceModeChoice = 'auto' | 'replication' | 'scan';

/**
 * The mode 'auto' takes for the server behind `connection` (a plain client connection to the source), and
 * the line that says which and why.
 */
export async function autoSourceMode(connection: RedisConnection, psyncCommand = 'PSYNC'): Promise<{ mode: 'replication' | 'scan'; said: string }> {
  const refusal = await replicationRefusal(connection, psyncCommand);
  if (refusal === null) return { mode: 'replication', said: 'source mode: replication (the server accepts PSYNC)' };
  return {
    mode: 'scan',
    said: `source mode: scan (${refusal}): a snapshot by SCAN, then each key a keyspace notification names, read again; ` +
      'events are key states, at least once (README: source modes)',
  };
}

/** Why the server cannot be replicated from (REPLCONF refused, PSYNC unknown), or null when it can. */
async function replicationRefusal(connection: RedisConnection, psyncCommand: string): Promise<string | null> {
  const replconf = await connection.call(['REPLCONF', 'listening-port', '0']);
  if (replconf instanceof RespErrorReply) return `it refuses REPLCONF: ${replconf.message}`;
  const info = await connection.call(['COMMAND', 'INFO', psyncCommand]);
  if (Array.isArray(info) && info[0] === null) return `it has no ${psyncCommand} command`;
  return null;
}

/** What a scan reads of a selection: its dbs, and a single prefix as SCAN's MATCH (glob characters escaped). */
export function scanSelection(dbs: readonly number[] | undefined, prefixes: readonly string[] | undefined): { dbs?: readonly number[]; match?: string } {
  return { dbs: dbs?.length ? dbs : undefined, match: prefixes?.length === 1 ? `${prefixes[0]!.replace(/[*?[\]\\]/g, '\\$&')}*` : undefined };
}

/** Why scan mode cannot run what was asked (a filter of commands: it gives key states, not commands), or null. */
export function scanRefusal(commands: readonly string[] | undefined): string | null {
  return commands?.length ? '--command selects commands, and in scan mode the source gives key states, not commands: leave it out' : null;
}
