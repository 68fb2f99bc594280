// --source-mode, shared by tail, publish and sync: read the source as a replica, or by SCAN and keyspace
// notifications where the server refuses replication (managed services); auto asks the server.
import { Option } from 'commander';
import type { ConnectionOptions } from 'node:tls';
import { replicationRefusal, type SourceModeChoice } from '../scan/source-mode.js';
import { dbNumber } from './selection-options.js';

export interface SourceModeFlags {
  sourceMode: SourceModeChoice;
}

export function sourceModeOption(): Option {
  return new Option('--source-mode <mode>', 'replication: as a replica (PSYNC, every write as a command); scan: SCAN + DUMP, then ' +
    'keyspace notifications (key states, for services that refuse PSYNC); auto: replication unless the server refuses it')
    .choices(['auto', 'replication', 'scan']).default('auto');
}

/** The mode to run in; `notice` hears which auto chose, and why. */
export async function resolveSourceMode(choice: SourceModeChoice, url: string, tls: ConnectionOptions | undefined, timeoutMs: number,
  psyncCommand: string | undefined, notice: (message: string) => void): Promise<'replication' | 'scan'> {
  if (choice !== 'auto') return choice;
  const refusal = await replicationRefusal(url, tls, timeoutMs, psyncCommand);
  if (refusal === null) {
    notice('source mode: replication (the server accepts PSYNC)');
    return 'replication';
  }
  notice(`source mode: scan (${refusal}): a snapshot by SCAN, then each key a keyspace notification names, read again; ` +
    'events are key states, at least once (README: source modes)');
  return 'scan';
}

/** What a scan reads of the selection: its dbs, and a single --prefix as SCAN's MATCH (glob characters escaped). */
export function scanSelection(opts: { db?: string[]; prefix?: string[] }): { dbs?: number[]; match?: string } {
  return {
    dbs: opts.db?.map((d) => dbNumber(d, '--db')),
    match: opts.prefix?.length === 1 ? `${opts.prefix[0]!.replace(/[*?[\]\\]/g, '\\$&')}*` : undefined,
  };
}
