// Real redis-server processes for tests: started on a free loopback port with a private directory,
// stopped by PID. A tiny binary-safe RESP2 client talks to them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Reply = string | number | Buffer | null | Reply[] | { error: string };

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
function parseReply(buf: Buffer, pos: number): [Reply, number] | null {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const line = buf.toString('latin1', pos + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buf[pos]!)) {
    case '+': return [line, next];
    case '-': return [{ error: line }, next];
    case ':': return [Number(line), next];
    case '$': {
      const n = Number(line);
      if (n < 0) return [null, next];
      return buf.length < next + n + 2 ? null : [buf.subarray(next, next + n), next + n + 2];
    }
    case '*': {
      const n = Number(line);
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, at);
        if (!r) return null;
        items.push(r[0]);
        at = r[1];
      }
      return [items, at];
    }
    default: throw new Error(`unexpected reply byte ${buf[pos]}`);
  }
}

export class RedisClient {
  private buf = Buffer.alloc(0);
  private waiting: Array<(r: Reply) => void> = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const r = this.waiting.length ? parseReply(this.buf, 0) : null;
        if (!r) break;
        this.buf = this.buf.subarray(r[1]);
        this.waiting.shift()!(r[0]);
      }
    });
  }

  static connect(port: number): Promise<RedisClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => resolve(new RedisClient(s)));
      s.once('error', reject);
    });
  }

  call(...args: Array<string | Buffer | number>): Promise<Reply> {
    this.socket.write(encode(args.map((a) => (typeof a === 'number' ? String(a) : a))));
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Like call, but an error reply rejects. */
  async ok(...args: Array<string | Buffer | number>): Promise<Reply> {
    const r = await this.call(...args);
    if (r && typeof r === 'object' && 'error' in r) throw new Error(`${args[0]}: ${r.error}`);
    return r;
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
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

/** Starts redis-server on a free loopback port in a fresh directory; extra args are config options. */
export async function startRedisServer(extra: string[] = []): Promise<RedisServer> {
  let port = 7400 + Math.floor(Math.random() * 500);
  while (!(await portFree(port))) port++;
  const dir = mkdtempSync(join(tmpdir(), 'redistap-test-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no', ...extra], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    try {
      const c = await RedisClient.connect(port);
      const pong = await c.call('PING');
      c.close();
      if (pong === 'PONG') break;
    } catch {
      if (i > 100 || child.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port, dir, process: child,
    async stop() {
      if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs one of the shared tools (../shared/tools/NAME) with arguments; returns its stdout. */
export function sharedTool(name: string, args: string[]): string {
  const path = new URL(`../../../shared/tools/${name}`, import.meta.url).pathname;
  const r = spawnSync(process.execPath, [path, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
  return r.stdout;
}
