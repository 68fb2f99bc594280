// Real message brokers for live tests, like redis-server.ts: each start gets free loopback ports and a private
// temp directory, waits (with a timeout) until the broker answers its own protocol, and is stopped by PID.
// Nothing outside the temp directory is used: not /etc/rabbitmq, /var/lib/rabbitmq, the default epmd, nor a
// broker the system may run on 5672/4222.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * RabbitMQ's own scripts in Debian's package. Not /usr/sbin/rabbitmq-server: that wrapper re-runs them through
 * `su rabbitmq`, which resets HOME (so the Erlang cookie would be /var/lib/rabbitmq's) and hides the PID.
 */
const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';

function missing(what: string, found: boolean): boolean {
  if (!found && process.env.CI) throw new Error(`CI is set but ${what} is not installed (.ci/run installs it)`);
  return found;
}

/** True when rabbitmq-server is installed; in CI a missing server is a failure, never a skip. */
export function haveRabbitmq(): boolean {
  return missing('rabbitmq-server', existsSync(join(RABBITMQ_BIN, 'rabbitmq-server')) && spawnSync('epmd', ['-help']).error === undefined);
}

/** True when nats-server is installed; in CI a missing server is a failure, never a skip. */
export function haveNats(): boolean {
  return missing('nats-server', spawnSync('nats-server', ['--version']).status === 0);
}

/**
 * `n` distinct loopback ports the kernel just handed out (ephemeral range: apart from redis-server.ts's
 * 7400-7900). All are held until the last is chosen, so they differ; another process may still take one before
 * the broker binds it, which start* retries on other ports.
 */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A start failed because a port it chose was taken meanwhile (Erlang and Go spell it differently). */
const portTaken = (err: unknown) => /eaddrinuse|address already in use/i.test(String(err));

/** A spawned process: the tail of its output, and a promise of its exit. */
interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<void>;
  alive(): boolean;
}

function launch(cmd: string, args: string[], options: Parameters<typeof spawn>[2]): Proc {
  const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => { output = (output + d.toString()).slice(-8000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let failed = false; // could not be spawned: no 'close' may follow
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (err) => { failed = true; keep(Buffer.from(`${cmd}: ${err.message}\n`)); resolve(); });
  });
  return { child, output: () => output, exited, alive: () => !failed && child.exitCode === null && child.signalCode === null };
}

/** Waits for exit at most `ms`; then SIGKILLs the process group (detached children lead one) and waits. */
async function reap(p: Proc, ms: number): Promise<void> {
  const late = await Promise.race([p.exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), ms).unref())]);
  if (late && p.alive()) {
    try { process.kill(-p.child.pid!, 'SIGKILL'); } catch { p.child.kill('SIGKILL'); }
  }
  await p.exited;
}

/**
 * Polls `probe` (one connection attempt) until it returns true, the process exits, or `ms` pass; failures
 * carry the process output.
 */
async function ready(p: Proc, what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  let last = 'no connection yet';
  for (;;) {
    if (!p.alive()) throw new Error(`${what} exited (${p.child.exitCode ?? p.child.signalCode}) before it was ready\n${p.output()}`);
    try {
      if (await probe()) return;
      last = 'unexpected greeting';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${ms} ms (last: ${last})\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Connects to 127.0.0.1:port, optionally sends `hello`, and resolves with the first bytes the server sends. */
function greeting(port: number, hello?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => { if (hello) s.write(hello); });
    s.setTimeout(2000, () => { s.destroy(); reject(new Error('no greeting in 2000 ms')); });
    s.once('data', (d) => { s.destroy(); resolve(d); });
    s.once('error', reject);
    s.once('end', () => reject(new Error('closed without a greeting')));
  });
}

export interface Rabbitmq {
  port: number;
  nodeName: string;
  /** amqp://guest:guest@127.0.0.1:PORT (guest may log in from loopback only: the default, and enough here). */
  url: string;
  /** No plugins are enabled, so no management HTTP API: administer through ctl(). */
  managementless: true;
  dir: string;
  /** Runs `rabbitmqctl -n NODE ...args`; resolves with its stdout, rejects with its output when it fails. */
  ctl(...args: string[]): Promise<string>;
  /**
   * Stops the node (rabbitmqctl stop) and starts it again: same node name, port and data, so durable queues stay.
   * `downMs`: how long it stays stopped before it starts again (an outage); `whileDown` runs once it is
   * stopped (the start waits for it too).
   */
  restart(downMs?: number, whileDown?: () => Promise<void> | void): Promise<void>;
  /** Stops the node and its epmd, and removes the directory. */
  stop(): Promise<void>;
}

/** The rabbitmq user, when we are root: the server runs as it (as Debian runs it), never as root. */
function rabbitmqOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('id', ['-u', 'rabbitmq'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'rabbitmq'], { encoding: 'utf8' });
  return r.status === 0 && g.status === 0 ? { uid: Number(r.stdout), gid: Number(g.stdout) } : undefined;
}

function chownTree(path: string, owner: { uid: number; gid: number }): void {
  chownSync(path, owner.uid, owner.gid);
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.isDirectory()) chownTree(join(path, e.name), owner);
    else chownSync(join(path, e.name), owner.uid, owner.gid);
  }
}

/**
 * Starts a RabbitMQ node on free loopback ports (AMQP, Erlang distribution, and an epmd of its own, so nodes of
 * parallel tests never share one) with every file in a fresh directory. Ready when the AMQP port answers the
 * protocol header with connection.start (the listener opens last in the boot): about 5-10 s.
 */
export async function startRabbitmq(options: { startTimeoutMs?: number } = {}, attempt = 1): Promise<Rabbitmq> {
  const timeout = options.startTimeoutMs ?? 60_000;
  const dir = mkdtempSync(join(tmpdir(), 'redistap-rabbitmq-'));
  const [port, distPort, epmdPort] = await freePorts(3) as [number, number, number];
  const nodeName = `redistap${randomBytes(4).toString('hex')}@localhost`;
  const owner = rabbitmqOwner();
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(join(dir, 'rabbitmq.conf'), '');
  writeFileSync(join(dir, 'rabbitmq-env.conf'), ''); // instead of /etc/rabbitmq/rabbitmq-env.conf
  // The server and rabbitmqctl both read the Erlang cookie from $HOME/.erlang.cookie (mode 0400, or Erlang
  // refuses it). We write it and run both as the same user (root could read it too, but one user is simpler).
  writeFileSync(join(dir, '.erlang.cookie'), randomBytes(16).toString('hex'), { mode: 0o400 });
  mkdirSync(join(dir, 'mnesia'));
  mkdirSync(join(dir, 'log'));
  if (owner) chownTree(dir, owner);

  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(RABBITMQ_|ERL_)/.test(k)));
  Object.assign(env, {
    HOME: dir,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_LOGS: '-', // the log on stdout: it is the output a failed start reports
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    // erl starts a daemon epmd of its own unless told not to; ours (below) is one we can stop by PID.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-start_epmd false',
  });
  const as = { env, cwd: dir, ...owner };

  // epmd in the foreground, our child, listening on loopback only.
  const epmd = launch('epmd', ['-port', String(epmdPort), '-address', '127.0.0.1'], as);
  let node: Proc | undefined;

  const ctl = (...args: string[]) => new Promise<string>((resolve, reject) => {
    execFile(join(RABBITMQ_BIN, 'rabbitmqctl'), ['-n', nodeName, ...args], { ...as, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`rabbitmqctl ${args.join(' ')} failed (${err.code ?? err.signal}): ${stdout}${stderr}`));
      else resolve(stdout);
    });
  });

  const boot = async () => {
    // detached: the script's process group holds beam.smp too, for the SIGKILL of last resort.
    const p = launch(join(RABBITMQ_BIN, 'rabbitmq-server'), [], { ...as, detached: true });
    node = p;
    // AMQP 0-9-1 protocol header; the answer is a method frame (type 1) on channel 0: connection.start.
    const header = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
    await ready(p, `rabbitmq-server on port ${port}`, timeout, async () => (await greeting(port, header))[0] === 1);
  };

  const halt = async () => {
    const p = node;
    node = undefined;
    if (!p) return;
    if (p.alive()) {
      // A clean stop, so durable data is on disk for restart(); SIGTERM if rabbitmqctl cannot reach the node.
      await ctl('stop').catch(() => { if (p.alive()) process.kill(p.child.pid!, 'SIGTERM'); });
    }
    await reap(p, 30_000);
  };

  const stop = async () => {
    await halt();
    if (epmd.alive()) epmd.child.kill('SIGTERM');
    await reap(epmd, 5_000);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await ready(epmd, `epmd on port ${epmdPort}`, 10_000, async () => { await greeting(epmdPort, Buffer.from([0, 1, 0x6e])); return true; });
    await boot();
  } catch (err) {
    await stop();
    if (portTaken(err) && attempt < 3) return startRabbitmq(options, attempt + 1);
    throw err;
  }
  return {
    port, nodeName, url: `amqp://guest:guest@127.0.0.1:${port}`, managementless: true, dir, ctl, stop,
    restart: async (downMs = 0, whileDown?: () => Promise<void> | void) => {
      await halt();
      await outage(downMs, whileDown);
      await boot();
    },
  };
}

/** A broker kept down: `whileDown` runs, and at least `downMs` pass. */
async function outage(downMs: number, whileDown?: () => Promise<void> | void): Promise<void> {
  await Promise.all([whileDown?.(), new Promise((r) => setTimeout(r, downMs))]);
}

export interface Nats {
  port: number;
  /** nats://127.0.0.1:PORT */
  url: string;
  /** The JetStream store directory (kept by restart, removed by stop). */
  dir: string;
  /** The server's process id (to freeze it with SIGSTOP, say); it changes with each restart. */
  readonly pid: number;
  /**
   * SIGTERM, then the same server again: same port and store, so streams and their messages stay.
   * `downMs` and `whileDown` as RabbitMQ's restart: an outage.
   */
  restart(downMs?: number, whileDown?: () => Promise<void> | void): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts nats-server with JetStream on a free loopback port, storing in a fresh directory. Ready when a client
 * connection gets the INFO line (JetStream is up before the server accepts clients): well under a second.
 */
export async function startNats(options: { maxPayload?: number; startTimeoutMs?: number } = {}, attempt = 1): Promise<Nats> {
  const dir = mkdtempSync(join(tmpdir(), 'redistap-nats-'));
  const [port] = await freePorts(1) as [number];
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir];
  if (options.maxPayload !== undefined) {
    // max_payload has no command-line flag.
    writeFileSync(join(dir, 'nats.conf'), `max_payload: ${options.maxPayload}\n`);
    args.push('-c', join(dir, 'nats.conf'));
  }
  let server: Proc | undefined;
  const boot = async () => {
    const p = launch('nats-server', args, {});
    server = p;
    await ready(p, `nats-server on port ${port}`, options.startTimeoutMs ?? 10_000,
      async () => (await greeting(port)).toString('latin1').startsWith('INFO '));
  };
  const halt = async () => {
    const p = server;
    server = undefined;
    if (!p) return;
    if (p.alive()) p.child.kill('SIGTERM');
    await reap(p, 10_000);
  };
  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await boot();
  } catch (err) {
    await stop();
    if (portTaken(err) && attempt < 3) return startNats(options, attempt + 1);
    throw err;
  }
  return {
    port, url: `nats://127.0.0.1:${port}`, dir, stop,
    get pid() { return server!.child.pid!; },
    restart: async (downMs = 0, whileDown?: () => Promise<void> | void) => {
      await halt();
      await outage(downMs, whileDown);
      await boot();
    },
  };
}
