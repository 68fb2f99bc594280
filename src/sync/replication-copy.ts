// The sync's copy through the replication protocol (`copy: 'replication'`): for the copy the target becomes
// a replica of this process (SnapshotServer) and loads the source's snapshot with its own replica code,
// which no stream of commands can match for speed. Once loaded it is promoted back (REPLICAOF NO ONE), and
// the writes are applied to it as after any copy. The load replaces the target's whole dataset.
// Only the target may take the snapshot: for the copy its masteruser/masterauth are a secret made for it
// (which SnapshotServer asks for), and its link is TLS (tls-replication) when we reach it with TLS;
// afterwards these settings are what they were. A process killed during the copy cannot restore them;
// the next start recognises the secret by its prefix and clears it.
import { RespErrorReply, replyText } from '../resp/replies.js';
import { ConnectionError, type RedisConnection } from './connection.js';
import { SNAPSHOT_REPLID_PREFIX, SNAPSHOT_SECRET_PREFIX, SNAPSHOT_USER, SnapshotServer, SnapshotServerError } from './snapshot-server.js';

/** How long the target may take to connect back and ask for the snapshot. */
const ATTACH_TIMEOUT_MS = 10_000;
const LOAD_POLL_MS = 25;

/** Keys in all of the target's databases (INFO keyspace). */
export async function targetKeyCount(target: RedisConnection): Promise<number> {
  const info = replyText(await target.ok(['INFO', 'keyspace']));
  return [...info.matchAll(/^db\d+:keys=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function promote(target: RedisConnection): Promise<void> {
  await target.ok(['REPLICAOF', 'NO', 'ONE']);
}

/**
 * The target's settings for a link to its master that a copy changes (CONFIG GET/SET): null where the
 * server has no such setting (masteruser before Redis 6, tls-replication without TLS), or refused to say.
 */
interface LinkSettings {
  masteruser: string | null;
  masterauth: string | null;
  'tls-replication': string | null;
}

const LINK_SETTINGS = ['masteruser', 'masterauth', 'tls-replication'] as const;

/** The target's link settings; `tolerant`: a refused CONFIG GET gives nulls instead of failing. */
async function linkSettings(target: RedisConnection, tolerant: boolean): Promise<LinkSettings> {
  const settings: LinkSettings = { masteruser: null, masterauth: null, 'tls-replication': null };
  for (const name of LINK_SETTINGS) {
    const reply = tolerant ? await target.call(['CONFIG', 'GET', name]) : await target.ok(['CONFIG', 'GET', name]);
    settings[name] = Array.isArray(reply) && reply.length >= 2 ? replyText(reply[1]!) : null;
  }
  return settings;
}

/** Sets each setting that is not null. */
async function setLinkSettings(target: RedisConnection, settings: LinkSettings): Promise<void> {
  for (const name of LINK_SETTINGS) {
    const value = settings[name];
    if (value !== null) await target.ok(['CONFIG', 'SET', name, value]);
  }
}

export class ReplicationCopy {
  /** `port`: where the target was told to replicate from (the server stops listening once it is attached). */
  private constructor(private readonly target: RedisConnection, private readonly server: SnapshotServer,
    private readonly saved: LinkSettings, private readonly port: number) {}

  /**
   * A target left a replica of us by an interrupted copy (this process's, or one killed) is made a master
   * again. Told by the replication ID we gave it, or, before it loaded anything, by a copy under way; and
   * only once that copy is dead (its link down, no snapshot coming), never under a live one. Returns true
   * when it was: what it holds then is an incomplete copy. A masterauth such a copy gave it (and its
   * masteruser) is cleared: what they were before is known only to the process that set them.
   */
  static async reclaim(target: RedisConnection, copyUnderWay: boolean, warn: (message: string) => void): Promise<boolean> {
    const info = await target.info('replication');
    const ours = info.get('master_replid')?.startsWith(SNAPSHOT_REPLID_PREFIX) ?? false;
    const dead = info.get('master_link_status') === 'down' && info.get('master_sync_in_progress') === '0';
    const replica = info.get('role') === 'slave' && (ours || copyUnderWay) && dead;
    // A user without CONFIG could not have run such a copy: nothing of ours to clear then.
    const settings = await linkSettings(target, true);
    // Never under a live copy (another sync's, whose lease lapses while its target loads).
    const secretLeft = (settings.masterauth?.startsWith(SNAPSHOT_SECRET_PREFIX) ?? false) && (info.get('role') !== 'slave' || dead);
    if (replica) await promote(target);
    if (secretLeft) await setLinkSettings(target, { masteruser: settings.masteruser === null ? null : '', masterauth: '', 'tls-replication': null });
    const cleared = 'the masteruser/masterauth it was given for that copy (what it had before was lost with the interrupted ' +
      'process: set them again if it needs them)';
    if (replica) warn(`the target was still a replica of an interrupted --copy replication: made it a master again${secretLeft ? `, and cleared ${cleared}` : ''}; copying again`);
    else if (secretLeft) warn(`the target still had ${cleared.replace('it was given', 'an interrupted --copy replication gave it')}: cleared them`);
    return replica;
  }

  /**
   * Makes the target a replica of a SnapshotServer of ours and waits until it asks for the snapshot.
   * `ownKeys`: keys of this sync the target may hold (its state key); any other key would be lost.
   */
  static async start(target: RedisConnection, ownKeys: number): Promise<ReplicationCopy> {
    const info = await target.info('replication');
    if (info.get('role') === 'slave') {
      throw new ConnectionError(`the target is a replica of ${info.get('master_host')}:${info.get('master_port')}: ` +
        'sync into a master (REPLICAOF NO ONE first, if that is what you mean)', false);
    }
    const others = await targetKeyCount(target) - ownKeys;
    if (others > 0) {
      throw new ConnectionError(`--copy replication replaces the target's whole dataset, and it holds ${others} key(s) this sync does not own ` +
        '(another sync\'s checkpoint?): empty it, or use --copy restore', false);
    }
    const saved = await linkSettings(target, false).catch((err: Error) => {
      throw new ConnectionError(`--copy replication gives the target a password for its link to redistap (CONFIG SET masterauth), ` +
        `and ${err.message.replace(/^target: /, '')}: use --copy restore`, false);
    });
    // The target's link to us is as private as ours to it: TLS when we reach it with TLS.
    const tls = target.tls;
    if (tls && (tls.cert === undefined || tls.key === undefined)) {
      throw new ConnectionError('the target is reached over TLS (rediss://), so its link to redistap for --copy replication is TLS too: ' +
        'redistap serves it with the certificate of --target-tls-cert and --target-tls-key (targetTls.cert/key), which must be ' +
        'signed by a CA the target trusts (its tls-ca-cert-file) and allowed for a server; give them, or use --copy restore', false);
    }
    if (tls && saved['tls-replication'] === null) {
      throw new ConnectionError('the target is reached over TLS but has no tls-replication setting (TLS ends in a proxy?): ' +
        'its link to redistap could not be encrypted; use --copy restore', false);
    }
    const { local, remote } = target.addresses;
    const server = await SnapshotServer.listen(local, remote, tls ? { cert: tls.cert, key: tls.key } : undefined).catch((err: Error) => {
      throw new ConnectionError(err.message, false);
    });
    const port = server.port;
    try {
      await setLinkSettings(target, {
        masteruser: saved.masteruser === null ? null : SNAPSHOT_USER,
        masterauth: server.secret,
        'tls-replication': saved['tls-replication'] === null ? null : tls ? 'yes' : 'no',
      });
      const reply = await target.call(['REPLICAOF', server.host, port]);
      if (reply instanceof RespErrorReply) {
        throw new ConnectionError(`the target refused REPLICAOF, which --copy replication needs (${reply.message}): use --copy restore`, false);
      }
      await server.attached(ATTACH_TIMEOUT_MS);
    } catch (err) {
      server.close();
      await promote(target).catch(() => undefined);
      await setLinkSettings(target, saved).catch(() => undefined);
      throw err instanceof SnapshotServerError ? new ConnectionError(err.message, false) : err;
    }
    return new ReplicationCopy(target, server, saved, port);
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
      const info = await this.target.info('replication');
      if (info.get('master_link_status') === 'up' && info.get('master_sync_in_progress') === '0') break;
      await new Promise((resolve) => setTimeout(resolve, LOAD_POLL_MS));
    }
    await this.restore();
    return targetKeyCount(this.target);
  }

  /**
   * Gives up on this copy (stopped, or a new snapshot coming): the target is made a master again, as long
   * as it is still a replica of ours. A sync woken after it lost the target (frozen past its lease) finds
   * it a replica of another sync's copy, or a master that sync made it: it leaves both alone.
   */
  async abandon(): Promise<void> {
    this.server.close();
    const info = await this.target.info('replication');
    if (info.get('role') === 'slave' && info.get('master_port') === String(this.port)) await this.restore();
  }

  /** The target a master again, with the masteruser/masterauth it had. */
  private async restore(): Promise<void> {
    await promote(this.target);
    this.server.close();
    await setLinkSettings(this.target, this.saved);
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
