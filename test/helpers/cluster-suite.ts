// A real Redis Cluster shared by the tests of a describe block: started before them, with a ClusterWriter
// to it, and both stopped after them.
import { afterAll, beforeAll } from 'vitest';
import { ClusterWriter } from './cluster-writer.js';
import { startRedisCluster, type ClusterOptions, type RedisCluster } from './redis-cluster.js';

export interface ClusterSuite {
  cluster: RedisCluster;
  writer: ClusterWriter;
}

/** Call inside describe: the fields are set once its beforeAll has run. */
export function clusterSuite(options?: ClusterOptions): ClusterSuite {
  const suite = {} as ClusterSuite;
  beforeAll(async () => {
    suite.cluster = await startRedisCluster(options);
    suite.writer = new ClusterWriter(suite.cluster.nodes.map((n) => n.port));
  }, 60_000);
  afterAll(async () => {
    suite.writer?.close();
    await suite.cluster?.stop();
  });
  return suite;
}
