// The sync's copy through the replication protocol (`copy: 'replication'`): for the copy the target becomes
// a replica of this process (SnapshotServer) and loads the source's snapshot with its own replica code,
// which no stream of commands can match for speed. Once loaded it is promoted back (REPLICAOF NO ONE), and
// the writes are applied to it as after any copy. The load replaces the target's whole dataset.
import { RespErrorReply, replyText } from '../resp/replies.js';
import { ConnectionError, type RedisConnection } from './connection.js';
import { SNAPSHOT_REPLID_PREFIX, SnapshotServer, SnapshotServerError } from './snapshot-server.js';

/** How long the target may take to connect back and ask for the snapshot. */
const ATTACH_TIMEOUT_MS = 10_000;
const LOAD_POLL_MS = 25;

function infoFields(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^([a-z_0-9]+):(.*?)\r?$/gm)].map((m) => [m[1]!, m[2]!]));
}

async function replicationInfo(target: RedisConnection): Promise<Map<string, string>> {
  return infoFields(replyText(await target.ok(['INFO', 'replication'])));
}

/** Keys in all of the target's databases (INFO keyspace). */
export async function targetKeyCount(target: RedisConnection): Promise<number> {
  const info = replyText(await target.ok(['INFO', 'keyspace']));
  return [...info.matchAll(/^db\d+:keys=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function promote(target: RedisConnection): Promise<void> {
  await target.ok(['REPLICAOF', 'NO', 'ONE']);
}

export class ReplicationCopy {
  private constructor(private readonly target: RedisConnection, private readonly server: SnapshotServer) {}

  /**
   * A target left a replica of us by an interrupted copy (this process's, or one killed) is made a master
   * again. Told by the replication ID we gave it, or, before it loaded anything, by a copy under way.
   * Returns true when it was: what it holds then is an incomplete copy.
   */
  static async reclaim(target: RedisConnection, copyUnderWay: boolean): Promise<boolean> {
    const info = await replicationInfo(target);
    if (info.get('role') !== 'slave') return false;
    const ours = info.get('master_replid')?.startsWith(SNAPSHOT_REPLID_PREFIX) ?? false;
    if (!ours && !(copyUnderWay && info.get('master_link_status') === 'down')) return false;
    await promote(target);
    return true;
  }

  /**
   * Makes the target a replica of a SnapshotServer of ours and waits until it asks for the snapshot.
   * `ownKeys`: keys of this sync the target may hold (its state key); any other key would be lost.
   */
  static async start(target: RedisConnection, ownKeys: number): Promise<ReplicationCopy> {
    const info = await replicationInfo(target);
    if (info.get('role') === 'slave') {
      throw new ConnectionError(`the target is a replica of ${info.get('master_host')}:${info.get('master_port')}: ` +
        'sync into a master (REPLICAOF NO ONE first, if that is what you mean)', false);
    }
    const others = await targetKeyCount(target) - ownKeys;
    if (others > 0) {
      throw new ConnectionError(`--copy replication replaces the target's whole dataset, and it holds ${others} key(s) this sync does not own ` +
        '(another sync\'s checkpoint?): empty it, or use --copy restore', false);
    }
    const { local, remote } = target.addresses;
    const server = await SnapshotServer.listen(local, remote).catch((err: Error) => {
      throw new ConnectionError(err.message, false);
    });
    try {
      const reply = await target.call(['REPLICAOF', server.host, server.port]);
      if (reply instanceof RespErrorReply) {
        throw new ConnectionError(`the target refused REPLICAOF, which --copy replication needs (${reply.message}): use --copy restore`, false);
      }
      await server.attached(ATTACH_TIMEOUT_MS);
    } catch (err) {
      server.close();
      await promote(target).catch(() => undefined);
      throw err instanceof SnapshotServerError ? new ConnectionError(err.message, false) : err;
    }
    return new ReplicationCopy(target, server);
  }

  /** The snapshot's next bytes, as the source sent them; resolves when more may be sent. */
  forward(bytes: Uint8Array): Promise<void> | undefined {
    return this.server.write(bytes)?.catch((err: Error) => this.explain(err));
  }

  /** The snapshot is complete: waits until the target has loaded it, promotes it; resolves with its key count. */
  async finish(): Promise<number> {
    this.server.end();
    for (;;) {
      if (this.server.failure) await this.explain(this.server.failure);
      const info = await replicationInfo(this.target);
      if (info.get('master_link_status') === 'up' && info.get('master_sync_in_progress') === '0') break;
      await new Promise((resolve) => setTimeout(resolve, LOAD_POLL_MS));
    }
    await promote(this.target);
    this.server.close();
    return targetKeyCount(this.target);
  }

  /** Gives up on this copy (stopped, or a new snapshot coming): the target is made a master again. */
  async abandon(): Promise<void> {
    this.server.close();
    await promote(this.target);
  }

  /**
   * A dropped replication link: when the target itself is gone (restarted) the sync retries; when it is
   * there, it refused the snapshot (a module it lacks...), which another copy would not change.
   */
  private async explain(error: Error): Promise<never> {
    await this.target.ok(['INFO', 'server']); // answered while loading, unlike PING
    throw new ConnectionError(`${error.message}; use --copy restore if it cannot load the source's snapshot`, false);
  }
}
