// A master behind Redis Sentinel as a pipeline's source: a Replica of the master the sentinels name,
// which asks them again before every reconnection (the master killed: the promoted one is found) and is
// moved when they announce a failover (+switch-master: a demoted master would otherwise keep forwarding
// its new master's stream under its old replication ID). The checkpoint goes with it: the promoted master
// continues the stream with PSYNC. With --read-from replica (or prefer-replica) the node read is a
// replica the sentinels know healthy: it forwards its master's stream, and is left, with a new one chosen,
// when it is gone, promoted, or is the master they demoted.
import type { ReadFrom, ShardRef, Source } from '../pipeline/source.js';
import type { Checkpoint, ReplicaEvent } from './events.js';
import { Replica, type ReplicaBacklog, type ReplicaOptions } from './replica.js';
import type { ConnectionOptions } from 'node:tls';
import { withBackoff } from '../node/backoff.js';
import { ConnectionError } from '../sync/connection.js';
import { sentinelNode } from './sentinel.js';
import { SentinelWatch } from './sentinel-watch.js';

export class SentinelSource implements Source {
  private readonly replica: Replica;
  private readonly watch: SentinelWatch;
  private readonly how: { sentinelUrl: string; readFrom: ReadFrom; tls?: ConnectionOptions; timeoutMs?: number };
  private readonly abort = new AbortController();

  /** `options.url`: the node of `sentinelUrl` to read now (sentinelNode). */
  constructor(options: Omit<ReplicaOptions, 'checkpoint' | 'signal'>, sentinelUrl: string, checkpoint: Checkpoint | null, readFrom: ReadFrom = 'master') {
    const { tls, timeoutMs } = options;
    this.how = { sentinelUrl, readFrom, tls, timeoutMs };
    this.replica = new Replica({
      ...options, checkpoint,
      // The sentinels answered (they named the node): that node not answering is one they are about to
      // fail over, waited for as a link lost later is (until maxRetryTimeMs), not the end of the source.
      reconnect: { ...options.reconnect, waitForMaster: true, relocate: () => this.nodeToRead() },
    });
    this.watch = new SentinelWatch(sentinelUrl, tls, (to, from) => {
      if (readFrom === 'master') this.replica.relink(`the sentinels switched the master to ${to}`, to);
      else if (this.replica.node === to || this.replica.node === from) this.replica.relink(`the sentinels switched the master from ${from} to ${to}: reading another replica`);
    });
  }

  /**
   * The node to read next. With --read-from replica, while the sentinels know no replica that is up (one
   * just promoted, the demoted master not yet back as a replica), asked again with backoff: the master is
   * never read instead.
   */
  private async nodeToRead(): Promise<string> {
    const { sentinelUrl, readFrom, tls, timeoutMs } = this.how;
    return withBackoff(() => sentinelNode(sentinelUrl, readFrom, this.replica.node, tls, timeoutMs),
      (err) => readFrom === 'replica' && err instanceof ConnectionError && err.retryable, { signal: this.abort.signal });
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
    this.abort.abort();
    this.watch.stop();
    this.replica.stop();
  }
}
