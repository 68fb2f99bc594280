// Real Redis Sentinel for tests: Debian's redis-sentinel, each on a free loopback port with its own
// config file (a sentinel rewrites it as it learns), monitoring a master the test started. Stopped by PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isError, RedisClient } from './redis-server.js';

/** True when redis-sentinel is installed; in CI a missing one is a failure, never a skip. */
export function haveRedisSentinel(): boolean {
  const found = spawnSync('redis-sentinel', ['--version']).status === 0;
  if (!found && process.env.CI) throw new Error('CI is set but redis-sentinel is not installed (.ci/run installs it)');
  return found;
}

export interface Sentinels {
  ports: number[];
  /** redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,.../<name> */
  url: string;
  /** Where the sentinels say the master is now (its port), once a quorum of them agrees. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts `count` sentinels monitoring 127.0.0.1:`masterPort` as `name` (down after 1 s, quorum 2). */
export async function startSentinels(masterPort: number, name = 'mymaster', count = 3): Promise<Sentinels> {
  const processes: Array<{ child: ChildProcess; dir: string }> = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const { child, dir } of processes) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        process.kill(child.pid!, 'SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'redistap-sentinel-'));
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(conf, [
        `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'daemonize no',
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
      ].join('\n') + '\n');
      const child = spawn('redis-sentinel', [conf], { stdio: 'ignore' });
      processes.push({ child, dir });
      ports.push(port);
      await until(`sentinel ${port} to answer`, async () => {
        const c = await RedisClient.connect(port).catch(() => null);
        if (!c) return false;
        const pong = await c.call('PING');
        c.close();
        return pong === 'PONG';
      });
    }
    // Each sentinel knows the others (hello messages every 2 s) before a failover can have a quorum.
    for (const port of ports) {
      await until(`sentinel ${port} to know the others`, async () => {
        const c = await RedisClient.connect(port);
        const master = await c.call('SENTINEL', 'MASTER', name);
        c.close();
        if (isError(master)) return false;
        const fields = master as Buffer[];
        const at = fields.findIndex((f) => String(f) === 'num-other-sentinels');
        return Number(String(fields[at + 1])) === count - 1;
      }, 30_000);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const masterNow = async () => {
    const addresses = await Promise.all(ports.map(async (port) => {
      const c = await RedisClient.connect(port);
      const reply = await c.call('SENTINEL', 'get-master-addr-by-name', name);
      c.close();
      return Array.isArray(reply) ? Number(String(reply[1])) : null;
    }));
    const counts = new Map<number, number>();
    for (const p of addresses) if (p !== null) counts.set(p, (counts.get(p) ?? 0) + 1);
    const agreed = [...counts].find(([, n]) => n >= 2);
    if (!agreed) throw new Error(`the sentinels do not agree on the master: ${JSON.stringify(addresses)}`);
    return agreed[0];
  };
  return { ports, url: `redis+sentinel://${ports.map((p) => `127.0.0.1:${p}`).join(',')}/${name}`, masterPort: masterNow, stop };
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`sentinel: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
