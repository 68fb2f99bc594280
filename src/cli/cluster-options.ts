// What tail and publish take for a Redis Cluster source: which node of each shard is read.
import { Option } from 'commander';
import type { ReadFrom } from '../pipeline/source.js';

export interface ClusterFlags {
  readFrom: ReadFrom;
}

export function readFromOption(): Option {
  return new Option('--read-from <node>', 'from a Redis Cluster: read each shard from its master, a replica (which keeps the ' +
    'fork of a full sync off the master), or a replica when the shard has one')
    .choices(['master', 'replica', 'prefer-replica']).default('master');
}
