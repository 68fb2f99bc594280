// `redistap tail -o FILE --checkpoint F` killed with SIGKILL again and again while a client INCRs: the
// checkpoint records how much of FILE it covers and each run first cuts FILE to that, so FILE ends with
// the snapshot's keys and every INCR exactly once. A real redis-server on loopback; the kills come at
// moments chosen by what the run has done (written lines, saved a checkpoint), and the assertion counts
// lines against the INCRs the server acknowledged.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;
const KEYS = 1000;

const size = (path: string): number => { try { return statSync(path).size; } catch { return 0; } };
const text = (path: string): string => { try { return readFileSync(path, 'utf8'); } catch { return ''; } };

/** Resolves once `done()` holds (checked every 10 ms); rejects after `ms`. */
async function until(done: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!haveRedisServer())('tail -o FILE --checkpoint F, killed 20 times under load', () => {
  let server: RedisServer;
  let client: RedisClient;
  const dir = mkdtempSync(join(tmpdir(), 'redistap-exactly-once-'));
  const file = join(dir, 'changes.jsonl');
  const pos = join(dir, 'tail.pos');

  beforeAll(async () => {
    server = await startRedisServer(['--repl-diskless-sync-delay', '0', '--repl-backlog-size', '64mb']);
    client = await RedisClient.connect(server.port);
    for (let i = 0; i < KEYS; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => client.ok('SET', `key:${i + k}`, 'v')));
    }
  });

  afterAll(async () => {
    client?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends with the snapshot and every INCR exactly once in FILE', async () => {
    const args = [MAIN, 'tail', `redis://127.0.0.1:${server.port}`, '-o', file, '--checkpoint', pos];
    let stderr = '';
    const start = (): ChildProcess => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (d) => { stderr += d; });
      return child;
    };
    const exited = (child: ChildProcess) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });

    // The load: INCRs, 10 in flight, a pause after each batch (a steady stream, not a flood), counted as
    // the server acknowledges them.
    let issued = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        const replies = await Promise.all(Array.from({ length: 10 }, () => client.ok('INCR', 'counter')));
        issued += replies.length;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();

    for (let run = 0; run < 20; run++) {
      const child = start();
      const from = size(file);
      const running = (done: () => boolean) => () => {
        if (child.exitCode !== null) throw new Error(`run ${run} exited (${child.exitCode}): ${stderr.slice(-500)}`);
        return done();
      };
      if (run % 2 === 0) {
        // Killed once it has written past what it started from: lines no checkpoint covers yet.
        await until(running(() => size(file) > from + 2000), `run ${run} to write`);
      } else {
        // Killed just after it saved a checkpoint.
        const before = text(pos);
        await until(running(() => text(pos) !== before && size(file) > from), `run ${run} to save a checkpoint`);
      }
      child.kill('SIGKILL');
      await exited(child);
    }
    loading = false;
    await load;
    expect(Number(await client.ok('GET', 'counter'))).toBe(issued);

    // A last run catches up with the master's offset (its checkpoint says so), and stops cleanly.
    const end = Number(await client.info('replication', 'master_repl_offset'));
    const last = start();
    await until(() => (JSON.parse(text(pos)).offset ?? -1) >= end, 'the last run to catch up');
    last.kill('SIGINT');
    await exited(last);

    const lines = text(file).trim().split('\n').map((l) => JSON.parse(l));
    const entries = lines.filter((l) => 'key' in l);
    const commands = lines.filter((l) => 'cmd' in l);
    // The snapshot once: its keys, and the counter as the INCRs before it left it (if any came before).
    const counter = entries.find((e) => e.key === 'counter');
    expect(entries.filter((e) => e !== counter).map((e) => e.key).sort()).toEqual(Array.from({ length: KEYS }, (_, i) => `key:${i}`).sort());
    expect(Number(counter?.value ?? 0) + commands.length).toBe(issued);
    expect(commands.every((c) => c.cmd[0] === 'INCR')).toBe(true);
    // Each at its own offset, in order: no write twice, none missing between the first and the last.
    expect(commands.every((c, i) => i === 0 || c.offset > commands[i - 1].offset)).toBe(true);
    expect(stderr).toContain('resumed');
    expect(stderr).not.toMatch(/full sync from .* \(the master could not continue/);
  }, 240_000);
});
