// A plain client connection to a Redis server (the sync's target, or the source for what a replica link
// cannot ask): commands are pipelined, their replies matched in order. Written for throughput: callers
// hand over already-encoded commands and how many replies they expect.
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { encodeCommand, type CommandArg } from '../resp/encode.js';
import { RespErrorReply, RespReplyReader, replyText, type RespValue } from '../resp/replies.js';
import { connectSocket, refuseIfTlsPort } from '../replica/link.js';
import type { RedisEndpoint } from '../replica/redis-url.js';

/** A connection failed or was refused; `retryable` says whether reconnecting may help. */
export class ConnectionError extends Error {
  override name = 'ConnectionError';
  constructor(message: string, readonly retryable: boolean, options?: ErrorOptions) {
    super(message, options);
  }
}

interface Waiting {
  count: number;
  bytes: number;
  replies: RespValue[];
  resolve: (replies: RespValue[]) => void;
  reject: (error: Error) => void;
}

export interface RedisConnectionOptions {
  endpoint: RedisEndpoint;
  tls?: ConnectionOptions;
  /** Give up when a reply is awaited and nothing arrives for this long (default 60 s). */
  timeoutMs?: number;
  /** Names the server in messages ("target", "source"). */
  role: string;
  /**
   * For a subscribed connection: each published message (["message", channel, payload] or ["pmessage",
   * pattern, channel, payload]), which no command asked for. Without it such a reply is a protocol error.
   */
  onMessage?: (message: RespValue[]) => void;
}

const MESSAGE = Buffer.from('message');
const PMESSAGE = Buffer.from('pmessage');

/** Whether a reply is a message a subscribed connection is sent (RESP2: an array naming its kind first). */
function isPublished(value: RespValue): value is RespValue[] {
  if (!Array.isArray(value) || !(value[0] instanceof Uint8Array)) return false;
  return Buffer.from(value[0].buffer, value[0].byteOffset, value[0].length).equals(value.length === 3 ? MESSAGE : PMESSAGE);
}

export class RedisConnection {
  private readonly replies = new RespReplyReader();
  private readonly waiting: Waiting[] = [];
  private head = 0;
  private failure: Error | null = null;
  private failureListener: ((error: Error) => void) | null = null;
  private unreplied = 0;
  /** The server has sent something: a reset before that may be a TLS port spoken to in plain text. */
  private heard = false;
  private drainWaiters: Array<() => void> = [];

  private constructor(private readonly socket: Socket, private readonly options: RedisConnectionOptions) {
    socket.on('timeout', () => this.fail(new ConnectionError(`no reply from the ${options.role} for ${this.timeoutMs} ms`, true)));
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', (err) => this.fail(new ConnectionError(`the ${options.role} connection failed: ${err.message}`, true, { cause: err })));
    socket.on('close', () => this.fail(new ConnectionError(`the ${options.role} closed the connection`, true)));
  }

  /** Connects and authenticates (AUTH with the URL's credentials). */
  static async open(options: RedisConnectionOptions): Promise<RedisConnection> {
    let socket: Socket;
    try {
      socket = await connectSocket({ endpoint: options.endpoint, tls: options.tls, timeoutMs: options.timeoutMs });
    } catch (err) {
      const e = err as Error & { retryable?: boolean };
      throw new ConnectionError(`${options.role}: ${e.message}`, e.retryable ?? true, { cause: err });
    }
    const connection = new RedisConnection(socket, options);
    // PING first (a server that wants AUTH answers it too): a TLS port spoken to in plain text closes
    // without a word, and no retry would cure that.
    const pong = await connection.call(['PING']).catch((e: Error) => e);
    if (pong instanceof Error) {
      if (!connection.heard) {
        await refuseIfTlsPort(options.endpoint, (message) => new ConnectionError(`${options.role}: ${message}`, false));
      }
      throw pong;
    }
    const { username, password } = options.endpoint;
    if (password !== undefined) {
      const auth = await connection.call(username ? ['AUTH', username, password] : ['AUTH', password]).catch((e: Error) => e);
      if (auth instanceof RespErrorReply || auth instanceof Error) {
        connection.close();
        const message = auth instanceof RespErrorReply ? auth.message : auth.message;
        throw new ConnectionError(`${options.role}: authentication failed: ${message}`, auth instanceof Error);
      }
    }
    return connection;
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? 60_000;
  }

  /** Our end's address, and the server's: where a server that connects back to us would find us, and come from. */
  get addresses(): { local: string; remote: string } {
    return { local: this.socket.localAddress ?? '', remote: this.socket.remoteAddress ?? '' };
  }

  /** The TLS options it connected with ({} for rediss:// with the defaults); null for a plain connection. */
  get tls(): ConnectionOptions | null {
    return this.options.endpoint.tls ? this.options.tls ?? {} : null;
  }

  /** Bytes sent whose replies have not all arrived. */
  get inFlightBytes(): number {
    return this.unreplied;
  }

  /** One command; resolves with its reply (error replies included, as RespErrorReply). */
  async call(args: readonly CommandArg[]): Promise<RespValue> {
    return (await this.send(encodeCommand(args), 1))[0]!;
  }

  /** Like call, but an error reply rejects. */
  async ok(args: readonly CommandArg[]): Promise<RespValue> {
    const reply = await this.call(args);
    if (reply instanceof RespErrorReply) throw new ConnectionError(`${this.options.role}: ${String(args[0])} failed: ${reply.message}`, false);
    return reply;
  }

  /** INFO `section` as its fields (an error reply rejects, as ok() does). */
  async info(section: string): Promise<Map<string, string>> {
    const text = replyText(await this.ok(['INFO', section]));
    return new Map([...text.matchAll(/^([a-z_0-9]+):(.*?)\r?$/gm)].map((m) => [m[1]!, m[2]!]));
  }

  /** Sends encoded commands (in one piece or several) that will produce `count` replies; resolves with them, in order. */
  send(bytes: Uint8Array | readonly Uint8Array[], count: number): Promise<RespValue[]> {
    if (this.failure) return Promise.reject(this.failure);
    const parts = bytes instanceof Uint8Array ? [bytes] : bytes;
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    return new Promise((resolve, reject) => {
      if (this.pending === 0) this.socket.setTimeout(this.timeoutMs);
      this.waiting.push({ count, bytes: length, replies: [], resolve, reject });
      this.unreplied += length;
      this.socket.cork();
      for (const part of parts) this.socket.write(part);
      this.socket.uncork();
    });
  }

  /** Resolves once at most `bytes` are awaiting replies (bounded pipelining). */
  async below(bytes: number): Promise<void> {
    while (this.unreplied > bytes && !this.failure) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    if (this.failure) throw this.failure;
  }

  close(): void {
    this.failureListener = null;
    this.fail(new ConnectionError(`the ${this.options.role} connection was closed`, true));
  }

  /**
   * Calls `listener` once when the connection fails (closed by the server, reset, silent while a reply is
   * due), also while no command is waiting: an idle user learns it at once, not at its next command.
   * Not called for close().
   */
  onFailure(listener: (error: Error) => void): void {
    if (this.failure) queueMicrotask(() => listener(this.failure!));
    else this.failureListener = listener;
  }

  private get pending(): number {
    return this.waiting.length - this.head;
  }

  private read(chunk: Buffer): void {
    this.heard = true;
    let values: RespValue[];
    try {
      values = this.replies.write(chunk);
    } catch (err) {
      this.fail(new ConnectionError(`the ${this.options.role} sent bytes that are not RESP: ${(err as Error).message}`, false, { cause: err }));
      return;
    }
    for (const value of values) {
      if (this.options.onMessage && isPublished(value)) {
        this.options.onMessage(value);
        continue;
      }
      const group = this.waiting[this.head];
      if (!group) {
        this.fail(new ConnectionError(`the ${this.options.role} sent a reply nobody asked for`, false));
        return;
      }
      group.replies.push(value);
      if (group.replies.length < group.count) continue;
      this.waiting[this.head++] = undefined as unknown as Waiting;
      this.unreplied -= group.bytes;
      group.resolve(group.replies);
    }
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    if (this.pending === 0) this.socket.setTimeout(0);
    this.wakeDrainWaiters();
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.socket.destroy();
    for (let i = this.head; i < this.waiting.length; i++) this.waiting[i]!.reject(error);
    this.waiting.length = 0;
    this.head = 0;
    this.wakeDrainWaiters();
    this.failureListener?.(error);
    this.failureListener = null;
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }
}
