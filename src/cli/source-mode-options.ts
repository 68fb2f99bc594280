// --source-mode, shared by tail, publish and sync: read the source as a replica, or by SCAN and keyspace
// notifications where the server refuses replication (managed services); auto asks the server.
import { Option } from 'commander';
import type { SourceModeChoice } from '../scan/source-mode.js';

export interface SourceModeFlags {
  sourceMode: SourceModeChoice;
}

export function sourceModeOption(): Option {
  return new Option('--source-mode <mode>', 'replication: as a replica (PSYNC, every write as a command); scan: SCAN + DUMP, then ' +
    'keyspace notifications (key states, for services that refuse PSYNC); auto: replication unless the server refuses it')
    .choices(['auto', 'replication', 'scan']).default('auto');
}
