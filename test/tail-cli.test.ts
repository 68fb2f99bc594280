// `redistap tail` as a user runs it against a real redis-server: the snapshot as canonical lines, then
// the writes; Ctrl-C stops it with the position saved; the next run resumes from it with PSYNC.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;

/** Runs tail until `ready(stdout)`, then SIGINT; resolves with its output and exit code. */
function tailUntil(args: string[], ready: (out: string) => boolean, during: () => Promise<void>) {
  return new Promise<{ out: string; err: string; code: number | null }>((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'tail', ...args]);
    let out = '';
    let err = '';
    let started = false;
    let signalled = false;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`tail timed out; stderr: ${err}`)); }, 20_000);
    const check = () => {
      if (!started && err.includes('connected to')) {
        started = true;
        during().catch(reject);
      }
      if (!signalled && ready(out)) {
        signalled = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.on('data', (d) => { out += d; check(); });
    child.stderr.on('data', (d) => { err += d; check(); });
    child.on('exit', (code) => { clearTimeout(timer); resolve({ out, err, code }); });
  });
}

describe.skipIf(!haveRedisServer())('redistap tail', () => {
  let server: RedisServer;
  let client: RedisClient;
  const dir = mkdtempSync(join(tmpdir(), 'redistap-tail-'));
  const pos = join(dir, 'tail.pos');

  beforeAll(async () => {
    server = await startRedisServer(['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']);
    client = await RedisClient.connect(server.port);
    await client.ok('SET', 'before', 'snapshot');
  });

  afterAll(async () => {
    client?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the snapshot and the writes, saves its position on Ctrl-C, and resumes from it', async () => {
    const url = `redis://127.0.0.1:${server.port}`;
    const first = await tailUntil([url, '--checkpoint', pos], (out) => out.includes('"first"'), async () => {
      await client.ok('SET', 'first', 'write');
    });
    expect(first.code).toBe(0);
    const lines = first.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ db: 0, key: 'before', type: 'string', expire_ms: null, value: 'snapshot' });
    const replid = await client.info('replication', 'master_replid');
    expect(lines[1]).toMatchObject({ replid, db: 0, cmd: ['SET', 'first', 'write'] });
    const saved = JSON.parse(readFileSync(pos, 'utf8'));
    expect(saved).toMatchObject({ replid, db: 0 });
    expect(saved.offset).toBeGreaterThanOrEqual(lines[1].offset);

    await client.ok('SET', 'second', Buffer.from([0xff, 0x00]));
    const second = await tailUntil([url, '--checkpoint', pos, '--no-rdb'], (out) => out.includes('"third"'), async () => {
      await client.ok('SET', 'third', 'x');
    });
    expect(second.code).toBe(0);
    expect(second.err).toContain('resumed');
    expect(second.out.trim().split('\n').map((l) => JSON.parse(l).cmd)).toEqual([
      ['SET', 'second', { b64: '/wA=' }],
      ['SET', 'third', 'x'],
    ]);
  }, 60_000);

  it('explains a URL it cannot use', async () => {
    const r = await tailUntil(['http://localhost'], () => false, async () => {});
    expect(r.code).toBe(2);
    expect(r.err).toContain('unsupported scheme http:');
  });

  it('explains a --buffer it cannot use', async () => {
    const r = await tailUntil(['redis://127.0.0.1:1', '--buffer', '0'], () => false, async () => {});
    expect(r.code).toBe(2);
    expect(r.err).toContain('--buffer expects a positive number of MiB, got "0"');
  });
});
