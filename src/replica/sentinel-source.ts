// A master behind Redis Sentinel as a pipeline's source: a Replica of the master the sentinels name,
// which asks them again before every reconnection (the master killed: the promoted one is found) and is
// moved when they announce a failover (+switch-master: a demoted master would otherwise keep forwarding
// its new master's stream under its old replication ID). The checkpoint goes with it: the promoted master
// continues the stream with PSYNC.
import type { ShardRef, Source } from '../pipeline/source.js';
import type { Checkpoint, ReplicaEvent } from './events.js';
import { Replica, type ReplicaBacklog, type ReplicaOptions } from './replica.js';
import { sentinelMaster } from './sentinel.js';
import { SentinelWatch } from './sentinel-watch.js';

export class SentinelSource implements Source {
  private readonly replica: Replica;
  private readonly watch: SentinelWatch;

  /** `options.url`: the master the sentinels of `sentinelUrl` name now. */
  constructor(options: Omit<ReplicaOptions, 'checkpoint' | 'signal'>, sentinelUrl: string, checkpoint: Checkpoint | null) {
    const { tls, timeoutMs } = options;
    this.replica = new Replica({
      ...options, checkpoint,
      // The sentinels answered (they named the master): that master not answering is one they are about
      // to fail over, waited for as a link lost later is (until maxRetryTimeMs), not the end of the source.
      reconnect: { ...options.reconnect, waitForMaster: true, relocate: () => sentinelMaster(sentinelUrl, tls, timeoutMs) },
    });
    this.watch = new SentinelWatch(sentinelUrl, tls, (address) => this.replica.relink(`the sentinels switched the master to ${address}`, address));
  }

  get backlog(): ReplicaBacklog {
    return this.replica.backlog;
  }

  async run(handle: (event: ReplicaEvent, shard?: ShardRef) => void | Promise<void>): Promise<void> {
    this.watch.start();
    try {
      await this.replica.run(handle);
    } finally {
      this.watch.stop();
    }
  }

  stop(): void {
    this.watch.stop();
    this.replica.stop();
  }
}
