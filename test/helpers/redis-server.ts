// Real redis-server processes for tests: started on a free loopback port with a private directory,
// stopped by PID. A tiny binary-safe RESP2 client talks to them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Reply = string | number | Buffer | null | Reply[] | { error: string };

/** Credentials for AUTH: a password (the default user's), or an ACL user and its password. */
export interface RedisAuth {
  username?: string;
  password: string;
}

export const isError = (r: Reply): r is { error: string } => r !== null && typeof r === 'object' && 'error' in r;

/** True when redis-server is installed; in CI a missing server is a failure, never a skip. */
export function haveRedisServer(): boolean {
  const found = spawnSync('redis-server', ['--version']).status === 0;
  if (!found && process.env.CI) throw new Error('CI is set but redis-server is not installed (.ci/run installs it)');
  return found;
}

function encode(args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one reply at pos: [reply, end] or null when incomplete. */
/**
 * The reply at `pos` and where it ends; or, when `buf` does not hold all of it yet, how many bytes it
 * needs at least (a bulk string's header says its length: a 50 MB reply is not parsed again at every chunk).
 */
function parseReply(buf: Buffer, pos: number): [Reply, number] | number {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return buf.length + 1;
  const line = buf.toString('latin1', pos + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buf[pos]!)) {
    case '+': return [line, next];
    case '-': return [{ error: line }, next];
    case ':': return [Number(line), next];
    case '$': {
      const n = Number(line);
      if (n < 0) return [null, next];
      return buf.length < next + n + 2 ? next + n + 2 : [buf.subarray(next, next + n), next + n + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, at);
        if (typeof r === 'number') return r;
        items.push(r[0]);
        at = r[1];
      }
      return [items, at];
    }
    default: throw new Error(`unexpected reply byte ${buf[pos]}`);
  }
}

export class RedisClient {
  /** Bytes received and not yet parsed, and how many the next reply needs at least before parsing again. */
  private chunks: Buffer[] = [];
  private size = 0;
  private need = 0;
  private waiting: Array<(r: Reply) => void> = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d) => {
      this.chunks.push(d);
      this.size += d.length;
      if (this.size < this.need) return;
      let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      this.need = 0;
      while (this.waiting.length && buf.length > 0) {
        const r = parseReply(buf, 0);
        if (typeof r === 'number') {
          this.need = r;
          break;
        }
        buf = buf.subarray(r[1]);
        this.waiting.shift()!(r[0]);
      }
      this.chunks = buf.length > 0 ? [buf] : [];
      this.size = buf.length;
    });
  }

  /** Connects to 127.0.0.1:port; with `auth`, sends AUTH first (an error reply rejects). */
  static async connect(port: number, auth?: RedisAuth): Promise<RedisClient> {
    const client = await new Promise<RedisClient>((resolve, reject) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => resolve(new RedisClient(s)));
      s.once('error', reject);
    });
    if (auth) {
      const r = await client.call('AUTH', ...(auth.username ? [auth.username] : []), auth.password);
      if (isError(r)) {
        client.close();
        throw new Error(`AUTH: ${r.error}`);
      }
    }
    return client;
  }

  call(...args: Array<string | Buffer | number>): Promise<Reply> {
    this.socket.write(encode(args.map((a) => (typeof a === 'number' ? String(a) : a))));
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Like call, but an error reply rejects. */
  async ok(...args: Array<string | Buffer | number>): Promise<Reply> {
    const r = await this.call(...args);
    if (isError(r)) throw new Error(`${args[0]}: ${r.error}`);
    return r;
  }

  /** One field of INFO `section` (e.g. 'replication', 'master_repl_offset'); throws if it is absent. */
  async info(section: string, field: string): Promise<string> {
    const value = new RegExp(`^${field}:(.*?)\r?$`, 'm').exec(String(await this.ok('INFO', section)))?.[1];
    if (value === undefined) throw new Error(`INFO ${section} has no ${field}`);
    return value;
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface RedisServer {
  port: number;
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
  /** Stops the process (SIGTERM: a clean shutdown) and starts it again on the same port, in the same directory. */
  restart(): Promise<RedisServer>;
}

/** True when nothing listens on this loopback port now. */
export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

/** A loopback port nothing listens on now (for a second listener, e.g. --tls-port). */
export async function freePort(): Promise<number> {
  let port = 7400 + Math.floor(Math.random() * 500);
  while (!(await portFree(port))) port++;
  return port;
}

export interface StartOptions {
  /** The server requires AUTH (--requirepass, ACL users): the readiness check authenticates with this. */
  auth?: RedisAuth;
  /** Give up (and stop the process) if it does not answer PING within this long (default 10 s). */
  startTimeoutMs?: number;
  /** The server binary (default: redis-server from the PATH). */
  binary?: string;
  /** Listen here (default: a free port). */
  port?: number;
  /** Use this directory (default: a fresh one); it is removed by stop(). */
  dir?: string;
}

/** Rejects if `p` does not settle within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Starts redis-server on a free loopback port in a fresh directory; extra args are config options. Waits,
 * at most `startTimeoutMs`, for PONG (after AUTH when `auth` is given); an error reply other than LOADING
 * (e.g. NOAUTH: the server wants a password) or the process exiting fails at once, with its output.
 */
export async function startRedisServer(extra: string[] = [], options: StartOptions = {}): Promise<RedisServer> {
  const port = options.port ?? await freePort();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'redistap-test-'));
  const child = spawn(options.binary ?? 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => { output = (output + d.toString()).slice(-4000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  /** Its output read to the end (after 'exit', 'close' comes once the pipes are drained). */
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const halt = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM');
    await exited;
  };
  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  const restart = async () => {
    await halt();
    return startRedisServer(extra, { ...options, port, dir });
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  let last = 'no connection yet';
  for (;;) {
    let fatal: string | null = null;
    /** Another server has the port (it answered, or ours could not bind it): two starts chose it at once. */
    let taken = false;
    if (child.exitCode !== null || child.signalCode !== null) {
      fatal = `it exited (${child.exitCode ?? child.signalCode})`;
      await within(closed, 2000, 'its output').catch(() => undefined);
      // Another start bound the port first (it was free when chosen): a race, not a failure.
      taken = /Address already in use/.test(output);
    } else {
      try {
        const c = await within(RedisClient.connect(port), 1000, 'connect');
        try {
          const r = options.auth ? await within(c.call('AUTH', ...(options.auth.username ? [options.auth.username] : []), options.auth.password), 1000, 'AUTH') : 'OK';
          const pong = isError(r) ? r : await within(c.call('PING'), 1000, 'PING');
          if (pong === 'PONG') {
            const pid = /process_id:(\d+)/.exec(String(await within(c.call('INFO', 'server'), 1000, 'INFO')))?.[1];
            if (Number(pid) === child.pid) break;
            [taken, fatal] = [true, `another server (pid ${pid}) answers on port ${port}`];
          } else {
            last = isError(pong) ? pong.error : `PING answered ${JSON.stringify(pong)}`;
            if (!last.startsWith('LOADING')) fatal = last + (last.startsWith('NOAUTH') ? ' (give startRedisServer the password: options.auth)' : '');
          }
        } finally {
          c.close();
        }
      } catch (err) {
        last = (err as Error).message;
      }
    }
    if (!fatal && Date.now() > deadline) fatal = `no PONG within ${options.startTimeoutMs ?? 10_000} ms (last: ${last})`;
    if (fatal) {
      await stop();
      if (taken && options.port === undefined) return startRedisServer(extra, options); // on another free port
      throw new Error(`redis-server on port ${port} did not start: ${fatal}\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, dir, process: child, stop, restart };
}

/** Runs one of the shared tools (../shared/tools/NAME) with arguments; returns its stdout. */
export function sharedTool(name: string, args: string[]): string {
  const path = new URL(`../../../shared/tools/${name}`, import.meta.url).pathname;
  const r = spawnSync(process.execPath, [path, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
  return r.stdout;
}
