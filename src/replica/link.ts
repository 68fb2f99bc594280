// One connection to a master, as a replica: the handshake a real replica performs, PSYNC, then the
// replication stream cut into its parts (snapshot bytes, commands with their replication offsets).
// Reconnecting, checkpoints and delivery are the Replica's business (replica.ts).
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { EVENT_SIZE } from '../core/abi.js';
import * as r from '../core/resp-abi.js';
import type { EventBatch } from '../core/event-batch.js';
import { encodeCommand, type CommandArg } from '../resp/encode.js';
import { RespErrorReply, RespReplyReader, type RespValue } from '../resp/replies.js';
import { CommandBytes } from './events.js';
import type { RedisEndpoint } from './redis-url.js';
import { Spool } from './spool.js';

/** Why a link failed; `retryable` says whether reconnecting may help. */
export class ReplicaError extends Error {
  override name = 'ReplicaError';
  constructor(message: string, readonly retryable: boolean, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The connection was lost (reset, silent past the timeout, closed by the master): retryable, and what the
 * Replica adds where the stream stood to.
 */
export class LinkLostError extends ReplicaError {
  override name = 'LinkLostError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, true, options);
  }
}

/** A socket error as the loss of the connection, in words. */
function lostBy(err: Error): LinkLostError {
  const code = (err as NodeJS.ErrnoException).code;
  const what = code === 'ECONNRESET' ? 'the connection was reset (ECONNRESET)'
    : code === 'EPIPE' ? 'the connection broke (EPIPE)'
      : `the connection failed: ${err.message}`;
  return new LinkLostError(what, { cause: err });
}

export interface LinkOptions {
  endpoint: RedisEndpoint;
  /** TLS options (CA, client certificate, servername) for rediss:// endpoints. */
  tls?: ConnectionOptions;
  /** The port reported with REPLCONF listening-port (INFO replication shows it; default 0). */
  listeningPort?: number;
  /** The PSYNC command's name, for services that rename it (default PSYNC). */
  psyncCommand?: string;
  /**
   * Give up on a connection attempt, a handshake reply or a silent link after this long (default 60 s,
   * Redis's repl-timeout).
   */
  timeoutMs?: number;
  /** Where bytes received while the consumer is behind are kept (default the OS temp directory). */
  spoolDir?: string;
}

export interface LinkHandlers {
  /** A snapshot follows; `replid` is '' when the master took our PSYNC for SYNC (offsets then start at 0). */
  fullResync(replid: string, offset: number): void;
  continued(replid: string | null): void;
  rdbBegin(total: number | null): void;
  /**
   * Bytes of the snapshot. `owned`: a view of a socket (or spool) chunk nobody writes again, which may be
   * kept; else a view valid only during the call.
   */
  rdbData(bytes: Uint8Array, owned: boolean): void;
  rdbEnd(): void;
  /**
   * A complete command: its arguments' bounds start at source.bounds[at]; `name` lower-cased when the
   * reader knows it; the replication offsets of its first and last byte.
   */
  command(source: CommandBytes, at: number, argCount: number, name: string | undefined, firstOffset: number, offset: number): void;
  closed(error: Error | null): void;
}

/** A Buffer over the same memory (for its UTF-8 decoding). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

const EVENT_WORDS = EVENT_SIZE >> 2;
const TWO_32 = 2 ** 32;
const REPLID = /^[0-9a-f]{40}$/;
/** The length of a diskless snapshot's end mark. */
const EOF_MARK_BYTES = 40;
/** What a refused handshake suggests: a service that refuses replication is read in scan mode. */
const REFUSES_REPLICATION = ' (a service that refuses replication can be read with --source-mode scan)';
const RETRYABLE_PSYNC_ERRORS = ['NOMASTERLINK', 'LOADING', 'MASTERDOWN', 'TRYAGAIN', 'BUSY'];

export class ReplicaLink {
  private readonly replies = new RespReplyReader();
  private waiting: Array<{ resolve: (v: RespValue) => void; reject: (e: Error) => void }> = [];
  private streaming = false;
  private psyncName = 'PSYNC';
  /** The replication ID PSYNC asked to continue, or null when it asked for a full sync (`? -1`). */
  private askedReplid: string | null = null;
  private closedError: Error | null = null;
  // Flow control: while held, what the socket delivers goes to the spool, and is parsed once released.
  private readonly spool: Spool;
  private held = false;
  private socketClosed = false;
  private discarding = false;
  private finished = false;
  /** open() has resolved: from then on a close is reported to handlers.closed (before, open() rejects). */
  private opened = false;
  // Replication offsets: the stream offset (bytes read on this connection) where commands start, and
  // the replication offset just before it.
  private streamBase = 0;
  private replBase = 0;
  /** Command names by the ID the RESP core interned them under. */
  private readonly names: string[] = [];
  // A command read argument by argument (one too large to be read whole).
  /** Bytes given to the RESP reader so far. */
  private fed = 0;
  /** A diskless snapshot is being read: its end is where the bytes received end in the `$EOF:` mark. */
  private markedSnapshot = false;
  /** The consumer has read the RDB's own end (its EOF opcode and checksum) in the snapshot. */
  private snapshotEndRead = false;
  private args = new Uint8Array(1024);
  private argsLength = 0;
  private argEnds: number[] = [];
  private commandStart = 0;

  private constructor(private readonly socket: Socket, private readonly handlers: LinkHandlers, timeoutMs: number, spoolDir?: string) {
    this.spool = new Spool(spoolDir);
    this.watchReads(timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      this.lastReadMs = Date.now();
      this.heard = true;
      this.read(chunk);
    });
    socket.on('error', (err) => { this.closedError ??= tlsRefusal(err, socket) ?? (err instanceof ReplicaError ? err : lostBy(err)); });
    socket.on('close', () => {
      clearInterval(this.readWatch);
      this.onClose();
    });
  }

  private lastReadMs = Date.now();
  /** The master has sent something: a reset before that may be a TLS port spoken to in plain text. */
  private heard = false;
  private readWatch: ReturnType<typeof setInterval> | undefined;

  /**
   * Closes the link when the master has sent nothing for `timeoutMs` (it sends keepalives while it has
   * nothing else). Only reads count: the socket's own idle timeout would be reset by our ACKs.
   */
  private watchReads(timeoutMs: number): void {
    this.readWatch = setInterval(() => {
      if (Date.now() - this.lastReadMs > timeoutMs) {
        this.socket.destroy(new LinkLostError(`no data from the master for ${timeoutMs} ms`));
      }
    }, Math.min(Math.max(timeoutMs / 4, 10), 1000));
    this.readWatch.unref();
  }

  /**
   * Connects, performs the handshake and sends PSYNC: from `from` (replid and the offset of the last
   * byte consumed) or `? -1` for a full sync. Resolves once PSYNC is sent; the handlers hear the rest.
   */
  static async open(options: LinkOptions, from: { replid: string; offset: number } | null, handlers: LinkHandlers): Promise<ReplicaLink> {
    const socket = await connectSocket(options);
    const link = new ReplicaLink(socket, handlers, options.timeoutMs ?? 60_000, options.spoolDir);
    try {
      await link.handshake(options);
      link.psync(options.psyncCommand ?? 'PSYNC', from);
      link.opened = true;
    } catch (err) {
      socket.destroy();
      if (!link.heard) await refuseIfTlsPort(options.endpoint, (message) => new ReplicaError(message, false));
      throw err;
    }
    return link;
  }

  /** Tells the master how far we have read (REPLCONF ACK). */
  ack(offset: number): void {
    if (!this.socket.destroyed) this.socket.write(encodeCommand(['REPLCONF', 'ACK', offset]));
  }

  /** Bytes received and not parsed yet (kept in the spool file). */
  get spooledBytes(): number {
    return this.spool.size;
  }

  /** Stops parsing: the socket is still read at line rate, into the spool, until release(). */
  hold(): void {
    this.held = true;
  }

  /** Parses what was spooled (on a later turn of the event loop), then the socket's data as it comes. */
  release(): void {
    this.held = false;
    setImmediate(() => this.drain());
  }

  /** Closes now; what is spooled is dropped (the next link resumes from the last boundary parsed). */
  close(error?: Error): void {
    if (error) this.closedError ??= error;
    this.discarding = true;
    this.socket.destroy();
    if (this.socketClosed) this.finish();
  }

  private async handshake(options: LinkOptions): Promise<void> {
    const { username, password } = options.endpoint;
    const pong = await this.call(['PING']);
    // A master that requires AUTH answers PING with NOAUTH (or NOPERM); Redis's replicas go on to AUTH.
    if (pong instanceof RespErrorReply && !(password !== undefined && /^(NOAUTH|NOPERM)/.test(pong.message))) {
      throw new ReplicaError(`the master refused PING: ${pong.message}`, /^(LOADING|BUSY)/.test(pong.message));
    }
    if (password !== undefined) {
      const auth = await this.call(username ? ['AUTH', username, password] : ['AUTH', password]);
      if (auth instanceof RespErrorReply) throw new ReplicaError(`authentication failed: ${auth.message}`, false);
    }
    const port = await this.call(['REPLCONF', 'listening-port', options.listeningPort ?? 0]);
    if (port instanceof RespErrorReply) throw new ReplicaError(`REPLCONF listening-port failed: ${port.message}${REFUSES_REPLICATION}`, false);
    // capa eof: we read diskless snapshots; capa psync2: we follow replication ID changes (failover).
    const capa = await this.call(['REPLCONF', 'capa', 'eof', 'capa', 'psync2']);
    if (capa instanceof RespErrorReply) throw new ReplicaError(`REPLCONF capa failed: ${capa.message}${REFUSES_REPLICATION}`, false);
  }

  private psync(command: string, from: { replid: string; offset: number } | null): void {
    this.psyncName = command;
    this.replies.raw.setMode('replication');
    this.streaming = true;
    this.replBase = from?.offset ?? 0;
    // A position without a replication ID (from a SYNC-style transfer) cannot be continued from.
    this.askedReplid = from?.replid || null;
    this.socket.write(encodeCommand(this.askedReplid ? [command, this.askedReplid, from!.offset + 1] : [command, '?', -1]));
  }

  private call(args: CommandArg[]): Promise<RespValue> {
    return new Promise((resolve, reject) => {
      if (this.closedError || this.socket.destroyed) {
        reject(this.closedError ?? new ReplicaError('the connection closed during the handshake', true));
        return;
      }
      this.waiting.push({ resolve, reject });
      this.socket.write(encodeCommand(args));
    });
  }

  private read(chunk: Buffer): void {
    if (this.discarding) return;
    if (this.streaming && (this.held || this.spool.size > 0)) {
      try {
        this.spool.append(chunk);
      } catch (err) {
        this.close(new ReplicaError(`cannot keep the stream in the spool file: ${(err as Error).message}`, true));
      }
      return;
    }
    this.parse(chunk);
  }

  private parse(chunk: Uint8Array): void {
    this.fed += chunk.length;
    try {
      if (!this.streaming) {
        for (const reply of this.replies.write(chunk)) this.waiting.shift()?.resolve(reply);
      } else {
        this.replies.raw.write(chunk, (batch) => this.stream(batch));
        this.checkEndMark();
      }
    } catch (err) {
      this.close(err as Error);
    }
  }

  /**
   * The consumer read the RDB's end in a snapshot: what follows it must be the `$EOF:` mark (checked as
   * soon as the 40 bytes after it are here, not once the link times out waiting for a mark that never comes).
   */
  snapshotEnded(): void {
    this.snapshotEndRead = true;
  }

  /** The reader holds back the last 40 bytes of a diskless snapshot; past the RDB's end they must be the mark. */
  private checkEndMark(): void {
    if (this.markedSnapshot && this.snapshotEndRead && this.fed - this.replies.raw.consumed >= EOF_MARK_BYTES) {
      throw new ReplicaError('the 40 bytes after the end of the snapshot\'s RDB are not the $EOF: mark the master announced', false);
    }
  }

  private drain(): void {
    while (!this.held && !this.discarding) {
      const chunk = this.spool.read();
      if (!chunk) break;
      this.parse(chunk);
    }
    // A master that closed the link had its last bytes parsed before the link reports itself closed.
    if (this.socketClosed && this.spool.size === 0) this.finish();
  }

  private stream(b: EventBatch): void {
    for (let i = 0; i < b.count;) {
      if (b.kind(i) === r.RE_WHOLE_COMMAND) i = this.wholeCommands(b, i);
      else this.event(b, i++);
    }
  }

  private event(b: EventBatch, i: number): void {
    switch (b.kind(i)) {
      case r.RE_RDB_DATA:
        this.rdbData(b.view(i));
        break;
      case r.RE_COMMAND:
        this.argsLength = 0;
        this.argEnds = [];
        this.commandStart = b.n2(i);
        break;
      case r.RE_CHUNK:
        this.append(b.view(i));
        break;
      case r.RE_VALUE:
        if (b.aux(i) === r.T_ERROR) throw this.psyncError(b.text(i));
        if (!(b.flags(i) & r.RF_CHUNKED)) this.append(b.view(i));
        this.argEnds.push(this.argsLength);
        break;
      case r.RE_AGGREGATE_END:
        this.commandByElement(b.n2(i));
        break;
      case r.RE_PSYNC:
        this.psyncReply(b.aux(i), b.text(i), b.n2(i));
        break;
      case r.RE_RDB_BEGIN:
        this.markedSnapshot = b.n1(i) < 0;
        this.handlers.rdbBegin(b.n1(i) >= 0 ? b.n1(i) : null);
        break;
      case r.RE_RDB_END:
        this.markedSnapshot = false;
        this.streamBase = b.n2(i);
        this.handlers.rdbEnd();
        break;
    }
  }

  /**
   * Snapshot bytes fed in this call are handed over as a view of the chunk they came in (no copy needed
   * to keep them); bytes the reader held back from an earlier chunk, as the view into its memory.
   */
  private rdbData(view: Uint8Array): void {
    const { chunk, start, address } = this.replies.raw.feeding;
    const at = view.byteOffset - address;
    if (at >= 0 && start + at + view.length <= chunk.length) {
      this.handlers.rdbData(chunk.subarray(start + at, start + at + view.length), true);
    } else {
      this.handlers.rdbData(view, false);
    }
  }

  /**
   * The run of whole commands that starts at event `from`; returns the index of the event after it. Their
   * argument bounds are copied once for the run; their bytes are the chunk being parsed (no copy), but
   * for a command begun in an earlier chunk, which gets a copy of its own.
   */
  private wholeCommands(b: EventBatch, from: number): number {
    let end = from + 1;
    while (end < b.count && b.kind(end) === r.RE_WHOLE_COMMAND) end++;
    const tableStart = b.n1Low(from);
    const bounds = b.copyWords(tableStart, b.n1Low(end - 1) + 8 * b.aux(end - 1));
    const { chunk, start, address } = this.replies.raw.feeding;
    const toReplication = this.replBase - this.streamBase;
    const words = b.words;
    let fromChunk: CommandBytes | null = null;
    for (let i = from, at = b.record(from); i < end; i++, at += EVENT_WORDS) {
      const ptr = words[at + 1]!;
      const len = words[at + 2]!;
      const source = ptr >= address
        ? (fromChunk ??= new CommandBytes(asBuffer(chunk), bounds, address - start))
        : new CommandBytes(asBuffer(b.copyBytes(ptr, ptr + len)), bounds, ptr);
      const table = (words[at + 4]! - tableStart) >>> 2;
      const id = words[at + 5]!;
      const name = id === 0 ? undefined : (this.names[id] ??= source.text(table).toLowerCase());
      const first = words[at + 7]! * TWO_32 + words[at + 6]! + toReplication;
      this.handlers.command(source, table, words[at + 3]!, name, first + 1, first + len);
    }
    return end;
  }

  /** A command read argument by argument is complete; `end` is the stream offset after it. */
  private commandByElement(end: number): void {
    const ends = this.argEnds;
    const bounds = new Uint32Array(2 * ends.length);
    for (let k = 0; k < ends.length; k++) {
      bounds[2 * k] = k === 0 ? 0 : ends[k - 1]!;
      bounds[2 * k + 1] = ends[k]!;
    }
    const source = new CommandBytes(Buffer.from(this.args.subarray(0, this.argsLength)), bounds, 0);
    this.handlers.command(source, 0, ends.length, undefined, this.replicationOffset(this.commandStart) + 1, this.replicationOffset(end));
  }

  private replicationOffset(streamOffset: number): number {
    return this.replBase + (streamOffset - this.streamBase);
  }

  /**
   * The master's answer to PSYNC. One that does not answer what was asked (+CONTINUE to a request for a
   * full sync: a dataset without its snapshot) or that names no replication ID is a protocol error, which
   * asking again would not cure.
   */
  private psyncReply(kind: number, text: string, end: number): void {
    const words = text.split(' ');
    const malformed = () => new ReplicaError(`malformed reply to ${this.psyncName}: +${text}`, false);
    if (kind === r.PSYNC_FULLRESYNC) {
      const offset = Number(words[2]);
      if (words.length !== 3 || !REPLID.test(words[1]!) || !(Number.isSafeInteger(offset) && offset >= 0)) throw malformed();
      this.replBase = offset;
      this.handlers.fullResync(words[1]!, offset);
    } else if (kind === r.PSYNC_SYNC) {
      this.replBase = 0;
      this.handlers.fullResync('', 0);
    } else {
      if (!this.askedReplid) {
        throw new ReplicaError(`the master answered ${this.psyncName} ? -1 (a request for a full sync) with +${text}: ` +
          'continuing needs a dataset this replica does not have (a proxy or master that does not speak PSYNC correctly)', false);
      }
      if (words.length > 2 || (words.length === 2 && !REPLID.test(words[1]!))) throw malformed();
      this.streamBase = end;
      this.handlers.continued(words[1] ?? null);
    }
  }

  private psyncError(message: string): ReplicaError {
    const code = message.split(' ', 1)[0]!;
    // Managed services rename PSYNC; Redis answers a command it does not know with "unknown command".
    const hint = /unknown command/i.test(message) ? ' (if the service renamed PSYNC, give its name: psyncCommand, tail --psync-command; ' +
      'if it refuses replication, read it with --source-mode scan)' : '';
    return new ReplicaError(`the master refused ${this.psyncName}: ${message}${hint}`, RETRYABLE_PSYNC_ERRORS.includes(code));
  }

  private append(bytes: Uint8Array): void {
    if (this.argsLength + bytes.length > this.args.length) {
      const grown = new Uint8Array(Math.max(this.args.length * 2, this.argsLength + bytes.length));
      grown.set(this.args.subarray(0, this.argsLength));
      this.args = grown;
    }
    this.args.set(bytes, this.argsLength);
    this.argsLength += bytes.length;
  }

  private onClose(): void {
    this.socketClosed = true;
    for (const w of this.waiting) w.reject(this.closedError ?? new ReplicaError('the connection closed during the handshake', true));
    this.waiting = [];
    if (this.discarding || this.spool.size === 0) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.spool.close();
    if (this.opened) this.handlers.closed(this.closedError);
  }
}

/**
 * Connects (TLS for rediss://), giving up after options.timeoutMs. The connected socket has no idle
 * timeout: each user watches what silence means to it (a link its reads, a client its awaited replies).
 */
export function connectSocket(options: LinkOptions): Promise<Socket> {
  const { host, port, tls } = options.endpoint;
  const timeout = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const socket: Socket = tls
      ? tlsConnect({ host, port, servername: isIP(host) ? undefined : host, ...options.tls }, () => ready())
      : netConnect({ host, port }, () => ready());
    const tooLong = () => socket.destroy(new Error(`timed out after ${timeout} ms`));
    const ready = () => {
      socket.off('error', failed);
      socket.off('timeout', tooLong);
      socket.setTimeout(0);
      socket.setNoDelay(true);
      resolve(socket);
    };
    const failed = (err: Error) => reject(tlsRefusal(err, socket, `cannot connect to ${host}:${port}: `)
      ?? new ReplicaError(`cannot connect to ${host}:${port}: ${err.message}`, true));
    socket.once('error', failed);
    socket.setTimeout(timeout, tooLong);
  });
}

/**
 * Whether host:port completes a TLS handshake. A server that closed a plain connection without a word
 * may be a TLS port (redis:// where rediss:// was meant): retrying would never cure that.
 */
async function speaksTls(endpoint: RedisEndpoint): Promise<boolean> {
  try {
    (await connectSocket({ endpoint: { ...endpoint, tls: true }, tls: { rejectUnauthorized: false }, timeoutMs: 2000 })).destroy();
    return true;
  } catch {
    return false;
  }
}

/** For a plain endpoint that closed without a word: throws the error `make` builds when it speaks TLS. */
export async function refuseIfTlsPort(endpoint: RedisEndpoint, make: (message: string) => Error): Promise<void> {
  if (endpoint.tls || !(await speaksTls(endpoint))) return;
  throw make(`${endpoint.host}:${endpoint.port} speaks TLS: use a rediss:// URL`);
}

/**
 * A TLS failure that reconnecting cannot cure, as a non-retryable ReplicaError (else null): the master's
 * certificate failed verification (unknown CA, expired, name mismatch: Node sets authorizationError), or
 * the master refused our client certificate (a certificate alert; with TLS 1.3 it arrives only after the
 * handshake, on the first read).
 */
function tlsRefusal(err: Error, socket: Socket, prefix = ''): ReplicaError | null {
  const verify = (socket as Partial<TLSSocket>).authorizationError;
  if (verify) {
    return new ReplicaError(`${prefix}the master's TLS certificate failed verification (${String(verify)}: ${err.message}); ` +
      'give the CA that signed it as tls.ca', false, { cause: err });
  }
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (/^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_(CERTIFICATE_\w+|BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|UNKNOWN_CA|ACCESS_DENIED)$/.test(code)) {
    return new ReplicaError(`${prefix}the master refused our TLS client certificate (${code}); ` +
      'give one its tls-ca-cert-file accepts as tls.cert and tls.key', false, { cause: err });
  }
  return null;
}
