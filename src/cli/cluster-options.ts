// What tail, publish and sync take for a Redis Cluster source, or a master behind Sentinel: which node
// of each shard (of the master's group) is read.
import { Option } from 'commander';
import type { ReadFrom } from '../pipeline/source.js';

export interface ClusterFlags {
  readFrom: ReadFrom;
}

export function readFromOption(): Option {
  return new Option('--read-from <node>', 'from a Redis Cluster or through Sentinel: read each shard (the master\'s group) from ' +
    'its master, a replica (which keeps the fork of a full sync off the master), or a replica when there is one up')
    .choices(['master', 'replica', 'prefer-replica']).default('master');
}
