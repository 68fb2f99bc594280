// `sync` in scan mode, through the built CLI, from a redis-server started here as a managed service is
// (SYNC, PSYNC and REPLCONF renamed away) into a plain one: auto mode picks scan; a workload of every type
// runs during the copy and after it, with UNLINK, EXPIRE, a FLUSHDB, a MOVE, a key set 10,000 times and
// a 50 MB hash changed 1,000 times; the notification connection is killed, the sync SIGKILLed and
// started again. Once a marker written last is on the target, the target's keyspace (without the sync's
// own keys) must be the source's, as the shared canonical dumper reads both.
import { existsSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { unexpired } from './helpers/keyspace.js';
import { haveRedisServer, sharedTool, type RedisClient } from './helpers/redis-server.js';
import { caughtUp, client, later, server, stopAll, syncedKeyspace, url, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { binaryRound, writeRound, writeUntil } from './helpers/sync-workload.js';

afterEach(stopAll);

const MANAGED = ['--rename-command', 'SYNC', '', '--rename-command', 'PSYNC', '', '--rename-command', 'REPLCONF', ''];

interface JsonLine { type: string; phase?: string; detail?: string; message?: string }

function sync(source: { port: number }, target: { port: number }): CliProcess {
  const p = cli(['sync', url(source), url(target), '--json']);
  later({ stop: async () => { if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exit; } } });
  return p;
}

const lines = (p: CliProcess) => p.lines.flatMap((l) => { try { return [JSON.parse(l) as JsonLine]; } catch { return []; } });
const phases = (p: CliProcess) => lines(p).filter((e) => e.type === 'phase');

function alive(p: CliProcess): void {
  if (p.child.exitCode !== null) throw new Error(`sync exited (${p.child.exitCode}): ${p.err()}`);
}

async function streaming(p: CliProcess, count = 1): Promise<void> {
  await waitFor('sync streaming', () => { alive(p); return phases(p).filter((e) => e.phase === 'streaming').length >= count; }, 90_000);
}

function comparable(port: number): string[] {
  return withoutEntriesRead(unexpired(syncedKeyspace(port)));
}

describe.skipIf(!haveRedisServer())('sync --source-mode (scan)', () => {
  beforeAll(() => {
    if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) throw new Error('dist/cli/main.js is missing: run `npm run build --silent` first');
  });

  it('auto picks scan; every type during and after the copy, deletions, a FLUSHDB, a hot key, a 50 MB hash, the subscription killed, SIGKILL and a restart: the target ends as the source', async () => {
    const [src, dst] = await Promise.all([server(MANAGED), server()]);
    const source = await client(src);
    const target = await client(dst);
    const db2 = await client(src);
    await db2.ok('SELECT', 2);
    const other = await client(src);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    for (let r = 0; r < 20; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    let stop = false;
    const writer = writeUntil(source, db2, () => stop, 20);
    try {
      let p = sync(src, dst);
      await streaming(p);
      expect(phases(p).some((e) => e.detail?.startsWith('source mode: scan (it refuses REPLCONF') === true)).toBe(true);

      // db 5: keys, an UNLINK and an EXPIRE; once the target has them, a FLUSHDB (only it can remove them there).
      await other.ok('SELECT', 5);
      for (let i = 0; i < 50; i++) await other.ok('SET', `d:${i}`, i);
      await other.ok('UNLINK', 'd:1');
      await other.ok('EXPIRE', 'd:3', 1);
      await target.ok('SELECT', 5);
      await waitFor('db 5 on the target', async () => String(await target.call('GET', 'd:49')) === '49');
      await other.ok('FLUSHDB');
      await other.ok('SET', 'd:after-flush', 'x');
      await other.ok('MOVE', 'd:after-flush', 6);
      await other.ok('SELECT', 0);
      await target.ok('SELECT', 0);
      await streaming(p, 2); // the flush: everything copied again

      // The workload stops; one key set 10,000 times in a row, a 50 MB hash (500 fields of 100 KB) changed
      // 1,000 times in one MULTI/EXEC: the source counts the DUMPs that read them.
      stop = true;
      expect(await writer).toBeGreaterThan(0);
      await caughtUp(source, [target]);
      let dumpsBefore = await calls(source, 'dump');
      await Promise.all(Array.from({ length: 10_000 }, (_, i) => other.ok('SET', 'w:hot', i)));
      await caughtUp(source, [target]);
      // As fast as a small key reads, it is read as often: how often depends on the machine (printed only).
      console.log(`w:hot set 10,000 times: the source ran ${await calls(source, 'dump') - dumpsBefore} DUMPs (with the marker's)`);
      dumpsBefore = await calls(source, 'dump');
      await other.ok('HSET', 'w:big', ...Array.from({ length: 500 }, (_, i) => [`f${i}`, 'h'.repeat(100 << 10)]).flat());
      await other.ok('MULTI');
      await Promise.all(Array.from({ length: 1000 }, () => other.ok('HINCRBY', 'w:big', 'changes', 1)));
      await other.ok('EXEC');
      await caughtUp(source, [target]);
      const dumps = await calls(source, 'dump') - dumpsBefore;
      console.log(`w:big (50 MB) written 1,001 times: the source ran ${dumps} DUMPs (with the marker's)`);
      // Its 1,000 changes come in one MULTI/EXEC: their notifications arrive together, read as one.
      expect(dumps).toBeLessThan(10);

      await source.ok('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await streaming(p, 3);
      expect(lines(p).some((e) => e.type === 'warning' && /link down: the source \(keyspace notifications\) closed the connection/.test(e.message ?? ''))).toBe(true);
      for (let i = 0; i < 20; i++) await other.ok('SET', `e:${i}`, i);
      p.child.kill('SIGKILL');
      expect(await p.exit).toBeNull();
      p = sync(src, dst);
      await streaming(p);
      // Keys the restart copied, deleted while streaming: by DEL, RENAME, EXPIRE 0, and expiring.
      await other.ok('DEL', 'e:1', 'e:2');
      await other.ok('RENAME', 'e:3', 'e:renamed');
      await other.ok('EXPIRE', 'e:4', 0);
      await other.ok('PEXPIRE', 'e:5', 100);
      for (let r = 0; r < 20; r++) await Promise.all([writeRound(source, 1000 + r), binaryRound(db2, 1000 + r)]);
      await waitFor('e:5 expired', async () => Number(await other.call('EXISTS', 'e:5')) === 0);
      await caughtUp(source, [target]);
      await target.ok('SELECT', 0);
      expect(Number(await target.call('EXISTS', 'e:1', 'e:2', 'e:3', 'e:4', 'e:5'))).toBe(0);
      expect(String(await target.call('GET', 'e:renamed'))).toBe('3');
      const expected = comparable(src.port);
      expect(expected.length).toBeGreaterThan(20);
      expect(comparable(dst.port)).toEqual(expected);
      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
    } finally {
      stop = true;
      await writer.catch(() => undefined);
    }
  }, 180_000);
});

/** Calls of `command` the server has run (INFO commandstats). */
async function calls(server: RedisClient, command: string): Promise<number> {
  const info = String(await server.ok('INFO', 'commandstats'));
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}
