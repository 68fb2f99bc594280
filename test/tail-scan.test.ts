// `tail` in scan mode, through the built CLI, against redis-servers started here as a managed service
// is: SYNC, PSYNC and REPLCONF renamed away (and in one case CONFIG too, notify-keyspace-events then set
// in the server's configuration, as a provider's parameter group does). A workload of every type runs
// during the scan and after it; once the writes stop and a marker written last is in the file, the key
// states the lines hold (helpers/scan-lines.ts) must be the source's keyspace, as the shared canonical
// dumper reads it.
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { canonicalDump, unexpired } from './helpers/keyspace.js';
import { haveRedisServer, sharedTool, type RedisClient } from './helpers/redis-server.js';
import { ScanLines } from './helpers/scan-lines.js';
import { client, later, server, stopAll, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { binaryRound, writeRound, writeUntil } from './helpers/sync-workload.js';

afterEach(stopAll);

/** What a managed service refuses: replication. */
const MANAGED = ['--rename-command', 'SYNC', '', '--rename-command', 'PSYNC', '', '--rename-command', 'REPLCONF', ''];

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'redistap-tail-scan-'));
  later({ stop: () => rmSync(dir, { recursive: true, force: true }) });
  return dir;
}

/** The built CLI tailing the server at `port` into `file`; killed after the test. */
function tail(port: number, file: string, extra: string[] = []): CliProcess {
  const p = cli(['tail', `redis://127.0.0.1:${port}`, '-o', file, ...extra]);
  later({ stop: async () => { if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exit; } } });
  return p;
}

function alive(p: CliProcess): void {
  if (p.child.exitCode !== null) throw new Error(`tail exited (${p.child.exitCode}): ${p.err()}`);
}

/** Writes a marker last and waits until the lines hold it: every change before it was read after it changed. */
async function markerIn(source: RedisClient, lines: ScanLines, p: CliProcess): Promise<void> {
  const token = `marker-${Date.now()}-${Math.random()}`;
  await source.ok('SET', 'w:marker', token);
  await waitFor('the marker in the file', () => { alive(p); return lines.update().line(0, 'w:marker')?.includes(token) === true; }, 60_000);
  await new Promise((r) => setTimeout(r, 300)); // the workload's short TTLs (≤ 150 ms) have run out
}

/** The canonical dump made comparable: keys whose TTL passed left out, entries_read only as present. */
function comparable(lines: string[]): string[] {
  return withoutEntriesRead(unexpired(lines)).sort();
}

/** The lines' keyspace equals the source's (read after the marker, so both have the same writes). */
function converged(lines: ScanLines, port: number): void {
  const expected = comparable(canonicalDump(port));
  expect(expected.length).toBeGreaterThan(20);
  const got = comparable([...lines.update().keys.values()]);
  expect(got.length).toBe(expected.length);
  expect(got).toEqual(expected);
}

async function db2Client(port: number): Promise<RedisClient> {
  const c = await client({ port });
  await c.ok('SELECT', 2);
  return c;
}

/**
 * Keys in db 5, an UNLINK, an EXPIRE, then (once the lines hold them, so that only the flush can remove
 * them) a FLUSHDB of db 5; then a key set there and moved to db 6.
 */
async function deletions(port: number, lines: ScanLines, p: CliProcess): Promise<void> {
  const c = await client({ port });
  await c.ok('SELECT', 5);
  for (let i = 0; i < 50; i++) await c.ok('SET', `d:${i}`, i);
  await c.ok('UNLINK', 'd:1', 'd:2');
  await c.ok('EXPIRE', 'd:3', 1);
  await c.ok('PEXPIRE', 'd:4', 3_600_000);
  await waitFor('db 5 in the lines', () => { alive(p); return lines.update().line(5, 'd:49') !== undefined && lines.line(5, 'd:4')?.includes('"expire_ms":null') === false; });
  await c.ok('FLUSHDB');
  await c.ok('SET', 'd:after-flush', 'x');
  await c.ok('MOVE', 'd:after-flush', 6);
}

describe.skipIf(!haveRedisServer())('tail --source-mode', () => {
  beforeAll(() => {
    if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) throw new Error('dist/cli/main.js is missing: run `npm run build --silent` first');
  });

  it('auto picks replication on a normal server and scan on one that refuses REPLCONF and PSYNC, saying which', async () => {
    const [normal, managed] = await Promise.all([server(), server(MANAGED)]);
    const dir = scratchDir();
    const a = tail(normal.port, join(dir, 'a.jsonl'));
    const b = tail(managed.port, join(dir, 'b.jsonl'));
    await waitFor('both to say their mode', () => a.err().includes('source mode') && b.err().includes('source mode'));
    expect(a.err()).toContain('source mode: replication');
    a.child.kill('SIGUSR1');
    await waitFor('SIGUSR1 refused', () => a.err().includes('SIGUSR1 asks for a rescan, which only scan mode does'));
    expect(b.err()).toMatch(/source mode: scan \(it refuses REPLCONF: ERR unknown command/);
    // Asked for replication, the managed server refuses it (the link's handshake says why).
    const c = tail(managed.port, join(dir, 'c.jsonl'), ['--source-mode', 'replication']);
    expect(await c.exit).toBe(2);
    expect(c.err()).toMatch(/REPLCONF listening-port failed: ERR unknown command/);
  });

  it('a workload of every type during the scan and after it, deletions, a FLUSHDB, a hot key and a 50 MB hash: the lines end as the source\'s keyspace', async () => {
    const src = await server(MANAGED);
    const source = await client(src);
    const db2 = await db2Client(src.port);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    for (let r = 0; r < 20; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    await source.ok('EVAL', "for i = 1, 20000 do redis.call('SET', 'bulk:' .. i, i) end", 0);
    const file = join(scratchDir(), 'tail.jsonl');
    const lines = new ScanLines(file);
    let stop = false;
    const writer = writeUntil(source, db2, () => stop, 20);
    try {
      const p = tail(src.port, file, ['--source-mode', 'scan']);
      await waitFor('the snapshot done', () => { alive(p); return p.err().includes('snapshot done'); }, 60_000);
      await deletions(src.port, lines, p);
      // One key set 10,000 times in a row (pipelined), and a 50 MB hash (500 fields of 100 KB) changed 1,000 times.
      const hot = await client(src);
      await Promise.all(Array.from({ length: 10_000 }, (_, i) => hot.ok('SET', 'w:hot', i)));
      const field = 'h'.repeat(100 << 10);
      await hot.ok('HSET', 'w:big', ...Array.from({ length: 500 }, (_, i) => [`f${i}`, field]).flat());
      await hot.ok('MULTI');
      await Promise.all(Array.from({ length: 1000 }, () => hot.ok('HINCRBY', 'w:big', 'changes', 1)));
      await hot.ok('EXEC');
      stop = true;
      expect(await writer).toBeGreaterThan(0);
      await markerIn(source, lines, p);
      converged(lines, src.port);

      const hotReads = lines.upserts.get('0 "w:hot"') ?? 0;
      const bigReads = lines.upserts.get('0 "w:big"') ?? 0;
      // A small key is read as fast as it can be: how often depends on the machine (printed only).
      console.log(`w:hot set 10,000 times, read ${hotReads} times; w:big (50 MB) changed 1,001 times, read ${bigReads} times`);
      expect(hotReads).toBeGreaterThan(0);
      // Its 1,000 changes came in one MULTI/EXEC: their notifications arrive together, read as one.
      expect(bigReads).toBeGreaterThan(0);
      expect(bigReads).toBeLessThan(10);
      expect(lines.fullSyncs).toEqual(['no-checkpoint', 'rescan']); // the FLUSHDB: everything read again
      expect(lines.line(5, 'd:0')).toBeUndefined();
      expect(lines.line(6, 'd:after-flush')).toBeDefined();
      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
    } finally {
      stop = true;
      await writer.catch(() => undefined);
    }
    // notify-keyspace-events is put back as it was.
    expect(String((await source.ok('CONFIG', 'GET', 'notify-keyspace-events') as unknown[])[1])).toBe('');
  }, 180_000);

  it('faults: the notification connection killed, a rescan asked (SIGUSR1), tail SIGKILLed and restarted from its checkpoint: each time read again, and the lines still end as the source\'s keyspace', async () => {
    const src = await server(MANAGED);
    const source = await client(src);
    const db2 = await db2Client(src.port);
    sharedTool('rdb-fixture-populate', ['--port', String(src.port), '--profile', 'full']);
    for (let r = 0; r < 20; r++) await Promise.all([writeRound(source, r), binaryRound(db2, r)]);
    const dir = scratchDir();
    const file = join(dir, 'tail.jsonl');
    const args = ['--source-mode', 'scan', '--checkpoint', join(dir, 'tail.pos')];
    const lines = new ScanLines(file);
    let stop = false;
    const writer = writeUntil(source, db2, () => stop, 20);
    try {
      let p = tail(src.port, file, args);
      await waitFor('the snapshot done', () => { alive(p); return p.err().includes('snapshot done'); });
      await waitFor('changes read', () => (lines.update().counts.get('upsert') ?? 0) > 200);
      await source.ok('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await waitFor('a new snapshot', () => { alive(p); return lines.update().fullSyncs.length === 2; });
      expect(p.err()).toMatch(/link down: the source \(keyspace notifications\) closed the connection; reconnecting/);
      await waitFor('changes read', () => (lines.update().counts.get('upsert') ?? 0) > 400);
      p.child.kill('SIGUSR1'); // a rescan, asked
      await waitFor('the rescan asked for', () => { alive(p); return lines.update().fullSyncs.length === 3; });
      await new Promise((r) => setTimeout(r, 1500)); // the checkpoint saved
      p.child.kill('SIGKILL');
      expect(await p.exit).toBeNull();
      p = tail(src.port, file, args);
      await waitFor('the restart\'s snapshot done', () => { alive(p); return p.err().includes('snapshot done'); });
      stop = true;
      expect(await writer).toBeGreaterThan(0);
      await markerIn(source, lines, p);
      converged(lines, src.port);
      expect(lines.fullSyncs).toEqual(['no-checkpoint', 'rescan', 'rescan', 'resync']);
      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
    } finally {
      stop = true;
      await writer.catch(() => undefined);
    }
  }, 120_000);

  it('CONFIG refused, notify-keyspace-events set in the configuration: says it cannot read the setting, checks it with a probe key (none left behind), and converges', async () => {
    const src = await server([...MANAGED, '--rename-command', 'CONFIG', '', '--notify-keyspace-events', 'KEA']);
    const source = await client(src);
    for (let r = 0; r < 20; r++) await writeRound(source, r);
    const file = join(scratchDir(), 'tail.jsonl');
    const lines = new ScanLines(file);
    const p = tail(src.port, file);
    await waitFor('the snapshot done', () => { alive(p); return p.err().includes('snapshot done'); });
    expect(p.err()).toMatch(/notify-keyspace-events cannot be read \(CONFIG GET: ERR unknown command.*\); a probe key was notified, so notifications are on: make sure the setting includes every letter of Eg\$lshzxet/);
    for (let r = 20; r < 60; r++) await writeRound(source, r);
    await markerIn(source, lines, p);
    converged(lines, src.port);
    expect(lines.counts.get('upsert') ?? 0).toBeGreaterThan(100);
    expect(lines.line(0, 'redistap:probe:')).toBeUndefined();
    expect([...lines.keys.keys()].filter((k) => k.includes('redistap:probe:'))).toEqual([]);
  }, 60_000);

  it('--prefix, and a db holding no key it matches (every SCAN page of it empty): the changes after the snapshot are read in their own db', async () => {
    const src = await server(MANAGED);
    const source = await client(src);
    await source.ok('SET', 'p:a', '1');
    const db3 = await client(src);
    await db3.ok('SELECT', 3);
    for (let i = 0; i < 20; i++) await db3.ok('SET', `other:${i}`, i);
    const file = join(scratchDir(), 'tail.jsonl');
    const lines = new ScanLines(file);
    const p = tail(src.port, file, ['--prefix', 'p:']);
    await waitFor('the snapshot done', () => { alive(p); return p.err().includes('snapshot done: 1 keys'); });
    await source.ok('SET', 'p:b', '2');
    await waitFor('p:b read', () => { alive(p); lines.update(); return (lines.counts.get('upsert') ?? 0) + (lines.counts.get('delete') ?? 0) > 0; });
    expect(lines.counts.get('delete')).toBeUndefined();
    expect(lines.line(0, 'p:b')).toBe('{"db":0,"key":"p:b","type":"string","expire_ms":null,"value":"2"}');
  });

  it('CONFIG refused and keyspace notifications off: stops at once (exit 2), saying the setting to make', async () => {
    const src = await server([...MANAGED, '--rename-command', 'CONFIG', '']);
    const p = tail(src.port, join(scratchDir(), 'tail.jsonl'));
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/keyspace notifications are off: notify-keyspace-events cannot be read \(CONFIG GET: .*\), and the probe key redistap:probe:[0-9a-f]{16} written was not notified within 3 s\. Set notify-keyspace-events to include Eg\$lshzxet \(e\.g\. KEA\)/);
  });
});
