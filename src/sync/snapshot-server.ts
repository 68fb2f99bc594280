// The sync's `copy: 'replication'`: the target loads the source's snapshot with its own replica code, as
// fast as Redis's own replica loads it. The target, told REPLICAOF <this process>, connects here; we answer
// its handshake (PING, AUTH, REPLCONF) and its PSYNC with +FULLRESYNC, then send the snapshot's bytes
// framed with an end mark, as a diskless master does (newlines until the first byte, which keep the
// target from timing out while the source prepares it). The snapshot goes to one connection: from the
// target's address, authenticated with a secret made for this copy (the target is given it as its
// masteruser/masterauth); any other connection is answered with an error and closed, and the server
// keeps waiting for the target. With a certificate it serves TLS (a target with tls-replication yes).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import tls, { type SecureContextOptions } from 'node:tls';
import { RespReplyReader, replyText, type RespValue } from '../resp/replies.js';

/** Replication IDs announced here begin with "redistap" in hex: a target left a replica of us is told by it. */
export const SNAPSHOT_REPLID_PREFIX = '7265646973746170';
/** The user name the target authenticates with (where it has masteruser: Redis 6.0+, Valkey). */
export const SNAPSHOT_USER = 'redistap-copy';
/** Secrets made here begin with it: a target left with one as its masterauth is told by it. */
export const SNAPSHOT_SECRET_PREFIX = 'redistap-copy-';

/** How the target's link failed, or why it never came. */
export class SnapshotServerError extends Error {
  override name = 'SnapshotServerError';
}

const MARK_BYTES = 40;
/** How often a newline tells the target we are alive while the snapshot has not begun (as masters do). */
const KEEPALIVE_MS = 1000;
/** What a connection may send before it has authenticated (a replica's PING and AUTH take ~100 bytes). */
const MAX_HANDSHAKE_BYTES = 4096;

/** Strips IPv4-mapped IPv6 ("::ffff:127.0.0.1") so that both sides of a comparison spell an address alike. */
function plainAddress(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/, '');
}

function sameText(given: RespValue | undefined, expected: Buffer): boolean {
  const bytes = given instanceof Uint8Array ? Buffer.from(given.buffer, given.byteOffset, given.byteLength) : Buffer.alloc(0);
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

export class SnapshotServer {
  /** The replication ID the target is given (it keeps it as its own until promoted). */
  readonly replid = SNAPSHOT_REPLID_PREFIX + randomBytes(12).toString('hex');
  /** The password the target must AUTH with (as its masterauth), with SNAPSHOT_USER or alone. */
  readonly secret = SNAPSHOT_SECRET_PREFIX + randomBytes(24).toString('hex');
  private readonly mark = Buffer.from(randomBytes(MARK_BYTES / 2).toString('hex'), 'latin1');
  /** The authenticated target's connection. */
  private replica: net.Socket | null = null;
  /** Connections that have not authenticated yet (closed once the target has). */
  private readonly strangers = new Set<net.Socket>();
  private failed: SnapshotServerError | null = null;
  private onAttached: (() => void) | null = null;
  private onFailure: ((error: SnapshotServerError) => void) | null = null;
  /** Why the last connection that was not the target's was refused. */
  private refused: string | null = null;
  private answered = false;
  private begun = false;
  private keepalive: ReturnType<typeof setInterval> | null = null;
  private ended = false;

  private constructor(private readonly server: net.Server, private readonly peer: string) {
    if (server instanceof tls.Server) {
      server.on('secureConnection', (socket) => this.accept(socket));
      server.on('tlsClientError', (err) => {
        this.refused = `a TLS handshake failed (${err.message}): does the target trust redistap's certificate (--target-tls-cert)?`;
      });
    } else server.on('connection', (socket) => this.accept(socket));
  }

  /** Listens on `host` (an ephemeral port) for one connection from address `peer`; with TLS when given a certificate and its key. */
  static listen(host: string, peer: string, certificate?: Pick<SecureContextOptions, 'cert' | 'key'>): Promise<SnapshotServer> {
    return new Promise((resolve, reject) => {
      const server = certificate ? tls.createServer(certificate) : net.createServer();
      server.once('error', (err) => reject(new SnapshotServerError(`cannot listen on ${host} for the target: ${err.message}`)));
      server.listen(0, host, () => resolve(new SnapshotServer(server, plainAddress(peer))));
    });
  }

  /** Why the target's link failed (or that it was closed); null while it works. */
  get failure(): SnapshotServerError | null {
    return this.failed;
  }

  get host(): string {
    return (this.server.address() as net.AddressInfo).address;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Resolves once the target has asked for the snapshot and been answered; rejects after `timeoutMs`. */
  attached(timeoutMs: number): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.answered) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const refused = this.refused ? ` (${this.refused})` : '';
        reject(new SnapshotServerError(`the target did not connect to ${this.host}:${this.port} within ${timeoutMs / 1000} s${refused}; ` +
          'it must be able to reach this machine for --copy replication (use --copy restore otherwise)'));
      }, timeoutMs);
      this.onAttached = () => {
        clearTimeout(timer);
        resolve();
      };
      this.whenFailed((error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Calls `handler` once, if the target's link fails before close(). */
  whenFailed(handler: (error: SnapshotServerError) => void): void {
    if (this.failed) handler(this.failed);
    else {
      const before = this.onFailure;
      this.onFailure = (error) => {
        before?.(error);
        handler(error);
      };
    }
  }

  /** Sends the next snapshot bytes; resolves once the socket can take more (backpressure). */
  write(bytes: Uint8Array): Promise<void> | undefined {
    if (this.failed) return Promise.reject(this.failed);
    this.begin();
    if (this.replica!.write(bytes)) return undefined;
    return new Promise((resolve, reject) => {
      this.replica!.once('drain', resolve);
      this.whenFailed(reject);
    });
  }

  /** The snapshot is complete: the end mark tells the target so. */
  end(): void {
    this.begin();
    this.ended = true;
    this.replica?.write(this.mark);
  }

  /** The bulk header with the end mark, before the first byte: from then on a newline would be data. */
  private begin(): void {
    if (this.begun) return;
    this.begun = true;
    this.stopKeepalive();
    this.replica?.write(`$EOF:${this.mark.toString('latin1')}\r\n`);
  }

  private stopKeepalive(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = null;
  }

  /** Stops listening and drops the link (after the target was promoted, or to give up). */
  close(): void {
    this.onFailure = null;
    this.stopKeepalive();
    this.failed ??= new SnapshotServerError('the snapshot link was closed');
    this.server.close();
    this.replica?.destroy();
    for (const socket of this.strangers) socket.destroy();
  }

  private accept(socket: net.Socket): void {
    const from = plainAddress(socket.remoteAddress);
    if (from !== this.peer) {
      this.refused = `a connection came from ${from}, not the target's address ${this.peer}: refused`;
      socket.destroy();
      return;
    }
    this.strangers.add(socket);
    socket.setNoDelay(true);
    const commands = new RespReplyReader();
    let unauthenticatedBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      // After PSYNC a replica sends only REPLCONF ACKs, and newlines while it loads: nothing to answer.
      if ((this.answered && socket === this.replica) || socket.writableEnded) return;
      if (socket !== this.replica && (unauthenticatedBytes += chunk.length) > MAX_HANDSHAKE_BYTES) {
        this.refuse(socket, null, 'a connection sent more than a handshake without authenticating: refused');
        return;
      }
      let received: RespValue[];
      try {
        received = commands.write(chunk);
      } catch {
        if (socket === this.replica) this.fail('the target sent bytes that are not RESP on its replication link (is tls-replication on? use --copy restore)');
        else this.refuse(socket, null, 'a connection sent bytes that are not RESP (TLS? the target\'s tls-replication must be off)');
        return;
      }
      for (const command of received) {
        if (socket.writableEnded || (this.answered && socket === this.replica)) break;
        if (socket === this.replica) this.answer(command);
        else this.authenticate(socket, command);
      }
    });
    socket.on('error', (err) => {
      if (socket === this.replica) this.fail(`the target's replication link failed: ${err.message}`);
    });
    socket.on('close', () => {
      this.strangers.delete(socket);
      if (socket !== this.replica) return;
      this.fail(this.ended
        ? 'the target dropped its replication link after the snapshot: it could not load it (its log says why)'
        : 'the target dropped its replication link during the snapshot');
    });
  }

  /**
   * A connection's first commands: PING (a replica's first, before AUTH) is answered; AUTH with the secret
   * makes it the target's link; anything else is answered with an error and the connection closed.
   */
  private authenticate(socket: net.Socket, command: RespValue): void {
    const args = Array.isArray(command) ? command : [command];
    const name = replyText(args[0] ?? null).toUpperCase();
    if (name === 'PING') {
      socket.write('+PONG\r\n');
      return;
    }
    if (name !== 'AUTH') {
      this.refuse(socket, '-NOAUTH Authentication required.', 'a connection sent a command without authenticating: refused');
      return;
    }
    const secret = Buffer.from(this.secret, 'latin1');
    const valid = args.length === 2 ? sameText(args[1], secret)
      : args.length === 3 && sameText(args[1], Buffer.from(SNAPSHOT_USER, 'latin1')) && sameText(args[2], secret);
    if (!valid) {
      this.refuse(socket, '-WRONGPASS invalid username-password pair or user is disabled.', 'a connection authenticated without the copy\'s secret: refused');
      return;
    }
    socket.write('+OK\r\n');
    this.strangers.delete(socket);
    this.replica = socket;
    this.server.close(); // one target, one connection
    for (const other of this.strangers) other.destroy();
  }

  private refuse(socket: net.Socket, reply: string | null, why: string): void {
    this.refused = why;
    if (reply) socket.end(`${reply}\r\n`, () => socket.destroy());
    else socket.destroy();
  }

  /** The target's handshake after AUTH: REPLCONF ..., PSYNC. */
  private answer(command: RespValue): void {
    const args = Array.isArray(command) ? command : [command];
    const name = replyText(args[0] ?? null).toUpperCase();
    const socket = this.replica!;
    if (name === 'PING' || name === 'REPLCONF') socket.write(name === 'PING' ? '+PONG\r\n' : '+OK\r\n');
    else if (name === 'PSYNC') {
      this.answered = true;
      socket.write(`+FULLRESYNC ${this.replid} 0\r\n`);
      this.keepalive = setInterval(() => socket.write('\n'), KEEPALIVE_MS);
      const attached = this.onAttached;
      this.onAttached = null;
      attached?.();
    } else socket.write(`-ERR redistap serves a snapshot here, not ${name}\r\n`);
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.stopKeepalive();
    this.failed = new SnapshotServerError(message);
    this.replica?.destroy();
    const handler = this.onFailure;
    this.onFailure = null;
    handler?.(this.failed);
  }
}
