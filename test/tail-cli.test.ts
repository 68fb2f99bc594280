// `redistap tail` as a user runs it against a real redis-server: the snapshot as canonical lines, then
// the writes; Ctrl-C stops it with the position saved; the next run resumes from it with PSYNC.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { keyspace } from './helpers/replica-events.js';

const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;

interface TailRun { out: string; err: string; code: number | null }

/**
 * Runs tail until it exits (killed after `ms`: a failure); `watch` sees its stdout and stderr as they
 * grow, and may act (signal it, write to the server). A rejection of what it returns fails the run.
 */
function runTail(args: string[], watch: (out: string, err: string, child: ChildProcess) => Promise<void> | void = () => {}, ms = 20_000) {
  return new Promise<TailRun>((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'tail', ...args]);
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`tail timed out; stderr: ${err}`)); }, ms);
    const check = () => { void Promise.resolve(watch(out, err, child)).catch(reject); };
    child.stdout.on('data', (d) => { out += d; check(); });
    child.stderr.on('data', (d) => { err += d; check(); });
    child.on('exit', (code) => { clearTimeout(timer); resolve({ out, err, code }); });
  });
}

/** Runs tail until `ready(stdout)` (or `readyErr(stderr)`), then SIGINT; resolves with its output and exit code. */
function tailUntil(args: string[], ready: (out: string) => boolean, during: () => Promise<void>, readyErr: (err: string) => boolean = () => false) {
  let started = false;
  let signalled = false;
  return runTail(args, async (out, err, child) => {
    if (!signalled && (ready(out) || readyErr(err))) {
      signalled = true;
      child.kill('SIGINT');
    }
    if (!started && err.includes('connected to')) {
      started = true;
      await during();
    }
  });
}

/**
 * Runs tail with -o FILE until it has written what `done` looks for there: once its standard error has
 * `ready`, runs `during`, then watches FILE and sends SIGINT (the position is saved) once `done(FILE)` holds.
 */
function tailToFile(args: string[], file: string, ready: string, during: () => Promise<void>, done: (text: string) => boolean) {
  let started = false;
  return runTail(args, async (_out, err, child) => {
    if (started || !err.includes(ready)) return;
    started = true;
    await during();
    while (child.exitCode === null && !done(existsSync(file) ? readFileSync(file, 'utf8') : '')) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
  });
}

/** Runs `command` on a pseudo-terminal (util-linux `script`) until its output has `until`; resolves with it. */
function onTerminal(command: string, until: string, ms = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null']);
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out; output: ${out.slice(-500)}`)); }, ms);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes(until)) child.kill('SIGTERM');
    });
    child.on('exit', () => { clearTimeout(timer); resolve(out); });
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
    const replid = await client.info('replication', 'master_replid');
    expect(lines.slice(0, 4)).toEqual([
      { event: 'full-sync-start', replid, offset: expect.any(Number), reason: 'no-checkpoint' },
      { event: 'flush', db: null, cause: 'full-sync' },
      { db: 0, key: 'before', type: 'string', expire_ms: null, value: 'snapshot' },
      { event: 'full-sync-end', replid, offset: lines[0].offset },
    ]);
    expect(lines[4]).toMatchObject({ replid, db: 0, cmd: ['SET', 'first', 'write'] });
    const saved = JSON.parse(readFileSync(pos, 'utf8'));
    expect(saved).toMatchObject({ replid, db: 0 });
    expect(saved.offset).toBeGreaterThanOrEqual(lines[4].offset);

    await client.ok('SET', 'second', Buffer.from([0xff, 0x00]));
    const second = await tailUntil([url, '--checkpoint', pos, '--no-rdb'], (out) => out.includes('"third"'), async () => {
      await client.ok('SET', 'third', 'x');
    });
    expect(second.code).toBe(0);
    expect(second.err).toContain('resumed');
    const resumed = second.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(resumed[0]).toEqual({ event: 'resumed', replid, offset: saved.offset });
    expect(resumed.slice(1).map((l) => l.cmd)).toEqual([
      ['SET', 'second', { b64: '/wA=' }],
      ['SET', 'third', 'x'],
    ]);
  }, 60_000);

  it('prints control lines from which a consumer of stdout alone rebuilds the master, across a restart without data', async () => {
    const master = await startRedisServer(['--repl-diskless-sync-delay', '0']);
    let restarted: RedisServer | undefined;
    try {
      const c = await RedisClient.connect(master.port);
      await c.ok('SET', 'a', '1');
      await c.ok('SET', 'b', '2');
      let phase = 0;
      const r = await runTail([`redis://127.0.0.1:${master.port}`], async (out, err, child) => {
        const syncs = err.split('full sync done').length - 1;
        if (phase === 0 && syncs === 1) {
          phase = 1;
          await c.ok('SET', 'c', '3');
          await c.ok('MULTI');
          await c.ok('SET', 'd', '4');
          await c.ok('DEL', 'a');
          await c.ok('EXEC');
          await c.ok('FLUSHALL');
          await c.ok('SET', 'e', '5');
          await c.ok('SELECT', '1');
          await c.ok('SET', 'f', '6');
          c.close();
          // The master comes back without its data, under a new replication ID.
          restarted = await master.restart();
        } else if (phase === 1 && syncs === 2) {
          phase = 2;
          const c2 = await RedisClient.connect(restarted!.port);
          await c2.ok('SET', 'g', '7');
          await c2.ok('MULTI');
          await c2.ok('SET', 'h', '8');
          await c2.ok('SET', 'i', '9');
          await c2.ok('EXEC');
          c2.close();
        } else if (phase === 2 && out.includes('"i"') && out.lastIndexOf('"event":"exec"') > out.indexOf('"i"')) {
          phase = 3;
          child.kill('SIGINT');
        }
      }, 40_000);
      expect(r.code).toBe(0);

      // The consumer: strings only (all this test writes), applied as the lines say.
      const state = new Map<string, string>();
      let block: { commands: number; lines: Array<{ db: number; cmd: string[] }> } | null = null;
      const apply = (db: number, [name, ...args]: string[]) => {
        if (name === 'SET') state.set(`${db}/${args[0]}`, args[1]!);
        else if (name === 'DEL') for (const k of args) state.delete(`${db}/${k}`);
        else if (name === 'FLUSHALL') state.clear();
      };
      const reasons: string[] = [];
      for (const line of r.out.trim().split('\n').map((l) => JSON.parse(l))) {
        if (line.event === 'full-sync-start') {
          reasons.push(line.reason);
          state.clear();
        } else if (line.event === 'multi') {
          block = { commands: line.commands, lines: [] };
        } else if (line.event === 'exec') {
          expect(block!.lines.length).toBe(block!.commands);
          for (const l of block!.lines) apply(l.db, l.cmd);
          block = null;
        } else if (line.cmd) {
          if (block) block.lines.push(line);
          else apply(line.db, line.cmd);
        } else if (line.key) {
          state.set(`${line.db}/${line.key}`, line.value);
        }
      }
      expect(reasons).toEqual(['no-checkpoint', 'resync']);
      const expected = keyspace(restarted!.port).map((l) => JSON.parse(l)).map((e) => [`${e.db}/${e.key}`, e.value]);
      expect([...state].sort()).toEqual(expected.sort());
      expect([...state].sort()).toEqual([['0/g', '7'], ['0/h', '8'], ['0/i', '9']]);
    } finally {
      await (restarted ?? master).stop();
    }
  }, 60_000);

  it('continues on a promoted replica after a failover: PSYNC, a replid-changed line, and every write once', async () => {
    const a = await startRedisServer(['--repl-diskless-sync-delay', '0']);
    const b = await startRedisServer(['--replicaof', '127.0.0.1', String(a.port), '--repl-diskless-sync-delay', '0']);
    const ca = await RedisClient.connect(a.port);
    const cb = await RedisClient.connect(b.port);
    try {
      while ((await cb.info('replication', 'master_link_status')) !== 'up') await new Promise((r) => setTimeout(r, 50));
      await ca.ok('SET', 'a:0', 'snapshot');
      const file = join(dir, 'failover.jsonl');
      const cp = join(dir, 'failover.pos');
      const first = await tailToFile([`redis://127.0.0.1:${a.port}`, '-o', file, '--checkpoint', cp], file, 'full sync done', async () => {
        await ca.ok('SET', 'a:1', '1');
        await ca.ok('SET', 'a:2', '2');
      }, (text) => text.includes('"a:2"'));
      expect(first.code).toBe(0);
      const firstText = readFileSync(file, 'utf8');
      const saved = JSON.parse(readFileSync(cp, 'utf8'));
      const oldId = await ca.info('replication', 'master_replid');
      expect(saved.replid).toBe(oldId);

      // A write while tail is stopped, which B has too; then the failover: A goes, B is promoted. B keeps A's
      // history under A's ID (master_replid2) and takes a new one.
      await ca.ok('SET', 'gap', '1');
      const aOffset = Number(await ca.info('replication', 'master_repl_offset'));
      while (Number(await cb.info('replication', 'master_repl_offset')) < aOffset) await new Promise((r) => setTimeout(r, 20));
      ca.close();
      await a.stop();
      await cb.ok('REPLICAOF', 'NO', 'ONE');
      const newId = await cb.info('replication', 'master_replid');
      expect(await cb.info('replication', 'master_replid2')).toBe(oldId);
      expect(newId).not.toBe(oldId);
      await cb.ok('SET', 'b:1', '1');

      const second = await tailToFile([`redis://127.0.0.1:${b.port}`, '-o', file, '--checkpoint', cp], file, 'resumed', async () => {
        await cb.ok('SET', 'b:2', '2');
      }, (text) => text.includes('"b:2"'));
      expect(second.code).toBe(0);
      expect(second.err).toContain(`replication ID changed from ${oldId} to ${newId} at offset ${saved.offset}`);
      const text = readFileSync(file, 'utf8');
      expect(text.startsWith(firstText)).toBe(true);
      // The second run: no full sync; the new ID, then the resume, as docs/tail-jsonl.md spells them.
      const lines = text.slice(firstText.length).trim().split('\n');
      expect(lines.slice(0, 2)).toEqual([
        `{"event":"replid-changed","from":"${oldId}","to":"${newId}","offset":${saved.offset}}`,
        `{"event":"resumed","replid":"${newId}","offset":${saved.offset}}`,
      ]);
      expect(lines.slice(2).map((l) => JSON.parse(l))).toEqual([
        { replid: newId, offset: expect.any(Number), db: 0, cmd: ['SET', 'gap', '1'] },
        { replid: newId, offset: expect.any(Number), db: 0, cmd: ['SET', 'b:1', '1'] },
        { replid: newId, offset: expect.any(Number), db: 0, cmd: ['SET', 'b:2', '2'] },
      ]);
      // Across both runs: the snapshot and every write exactly once, offsets growing.
      const all = text.trim().split('\n').map((l) => JSON.parse(l));
      expect(all.filter((l) => l.key).map((l) => l.key)).toEqual(['a:0']);
      expect(all.filter((l) => l.cmd).map((l) => l.cmd[1])).toEqual(['a:1', 'a:2', 'gap', 'b:1', 'b:2']);
      const offsets = all.filter((l) => l.cmd).map((l) => l.offset);
      expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
      expect(offsets[2]).toBeGreaterThan(saved.offset);
    } finally {
      ca.close();
      cb.close();
      await a.stop();
      await b.stop();
    }
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

  it('refuses an -o FILE its checkpoint does not cover, before connecting', async () => {
    const file = join(dir, 'kept.jsonl');
    writeFileSync(file, '{"db":0}\n');
    const fresh = await runTail(['redis://127.0.0.1:1', '-o', file, '--checkpoint', join(dir, 'new.pos')]);
    expect(fresh.code).toBe(2);
    expect(fresh.err).toContain(`${file} is not empty and ${join(dir, 'new.pos')} does not exist yet`);
    const plain = join(dir, 'plain.pos');
    writeFileSync(plain, JSON.stringify({ replid: 'a'.repeat(40), offset: 5, db: 0 }));
    const withoutOutput = await runTail(['redis://127.0.0.1:1', '-o', file, '--checkpoint', plain]);
    expect(withoutOutput.code).toBe(2);
    expect(withoutOutput.err).toContain(`${plain} was saved without -o`);
    expect(readFileSync(file, 'utf8')).toBe('{"db":0}\n');
  });

  it('keeps one checkpoint to one tail and one selection; a checkpoint saved before selections were recorded resumes', async () => {
    const url = `redis://127.0.0.1:${server.port}`;
    const file = join(dir, 'route.jsonl');
    const cp = join(dir, 'route.pos');
    // A second tail on the checkpoint while the first runs: refused, naming the first, and the first's file not cut.
    let second: Promise<TailRun> | undefined;
    let fileBefore = '';
    const first = await runTail([url, '--prefix', 'route:', '-o', file, '--checkpoint', cp], async (_out, err, child) => {
      if (second || !err.includes('full sync done')) return;
      second = (async () => {
        while (!readFileSync(file, 'utf8').includes('"full-sync-end"')) await new Promise((resolve) => setTimeout(resolve, 20));
        fileBefore = readFileSync(file, 'utf8');
        return runTail([url, '-o', file, '--checkpoint', cp]);
      })();
      await second;
      child.kill('SIGINT');
    });
    expect(first.code).toBe(0);
    const refused = await second!;
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(`${cp} is in use by another tail (pid `);
    expect(fileBefore).toContain('"full-sync-end"');
    expect(readFileSync(file, 'utf8')).toBe(fileBefore);

    // Another selection: refused, saying what differs; the same one resumes.
    const other = await runTail([url, '--prefix', 'other:', '-o', file, '--checkpoint', cp]);
    expect(other.code).toBe(2);
    expect(other.err).toContain(`the position (${cp}) was saved with other options: `);
    expect(other.err).toContain('"prefixes":["route:"]');
    expect(other.err).toContain('give a new checkpoint file');
    const same = await tailUntil([url, '--prefix', 'route:', '-o', file, '--checkpoint', cp], () => false, async () => {
      await client.ok('SET', 'route:k', 'v');
    }, (err) => err.includes('resumed'));
    expect(same.code).toBe(0);

    // A checkpoint of an earlier version: a position without a route.
    const old = join(dir, 'old.pos');
    const replid = await client.info('replication', 'master_replid');
    const offset = Number(await client.info('replication', 'master_repl_offset'));
    writeFileSync(old, JSON.stringify({ replid, offset, db: 0 }));
    const resumed = await tailUntil([url, '--checkpoint', old, '--prefix', 'route:'], (out) => out.includes('"route:old"'), async () => {
      await client.ok('SET', 'route:old', 'v');
    });
    expect(resumed.code).toBe(0);
    expect(resumed.out.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { event: 'resumed', replid, offset },
      { replid, offset: expect.any(Number), db: 0, cmd: ['SET', 'route:old', 'v'] },
    ]);
  });

  it('ends at once (exit 2, one line) when the first connection fails: a closed port, an unknown host', async () => {
    const port = await freePort();
    const closed = await runTail([`redis://127.0.0.1:${port}`]);
    expect(closed.code).toBe(2);
    expect(closed.err).toMatch(new RegExp(`^redistap: cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\\n$`));
    const unknown = await runTail(['redis://no-such-host.invalid:6379']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^redistap: cannot connect to no-such-host\.invalid:6379: [^\n]*\n$/);
  });

  it('with --wait retries the first connection until the server is there, then syncs', async () => {
    const port = await freePort();
    let late: Promise<RedisServer> | undefined;
    let stopped = false;
    try {
      const r = await runTail([`redis://127.0.0.1:${port}`, '--wait'], async (out, err, child) => {
        if (!late && err.includes('link down: cannot connect')) late = startRedisServer([], { port });
        // Once only: a second SIGINT ends tail at once, by the signal (exit code null).
        if (!stopped && err.includes('full sync done')) {
          stopped = true;
          child.kill('SIGINT');
        }
      });
      expect(r.code).toBe(0);
      const lines = r.err.trim().split('\n');
      expect(lines[0]).toMatch(/^redistap: link down: cannot connect to .*; reconnecting in \d+ ms$/);
      expect(lines.at(-1)).toMatch(/^redistap: full sync done: 0 keys, \d+ bytes$/);
    } finally {
      await (await late)?.stop();
    }
  });

  it('prints only what --events, --db, --prefix, --key and --command select; MULTI blocks with their selected writes', async () => {
    const own = await startRedisServer(['--repl-diskless-sync-delay', '0']);
    try {
      const c = await RedisClient.connect(own.port);
      await c.ok('SET', 'a:before', '1');
      await c.ok('HSET', 'a:hash', 'f', '1');
      await c.ok('SET', 'b:before', '1');
      const url = `redis://127.0.0.1:${own.port}`;
      const r = await tailUntil([url, '--events', '$', '--prefix', 'a:', '--db', '0,2'], (out) => out.includes('"a:last"'), async () => {
        await c.ok('SET', 'a:x', '1'); // string, a: → in
        await c.ok('HSET', 'a:hash', 'g', '2'); // hash → out
        await c.ok('SET', 'b:x', '1'); // b: → out
        await c.ok('MULTI');
        await c.ok('INCR', 'a:n'); // in
        await c.ok('LPUSH', 'a:list', 'v'); // list → out
        await c.ok('APPEND', 'a:n2', 'z'); // in
        await c.ok('EXEC');
        await c.ok('MULTI');
        await c.ok('SADD', 'a:set', 'm'); // set: a block with nothing selected prints nothing
        await c.ok('EXEC');
        await c.ok('SELECT', 1);
        await c.ok('SET', 'a:db1', '1'); // db 1 → out
        await c.ok('SELECT', 2);
        await c.ok('SET', 'a:db2', '1'); // db 2 → in
        await c.ok('SELECT', 0);
        await c.ok('DEL', 'a:x'); // generic → out
        await c.ok('SET', 'a:last', '1');
      });
      c.close();
      expect(r.code).toBe(0);
      const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.filter((l) => l.key !== undefined).map((l) => l.key)).toEqual(['a:before']);
      expect(lines.filter((l) => l.cmd || l.event === 'multi' || l.event === 'exec').map((l) => l.cmd ?? [l.event, l.commands])).toEqual([
        ['SET', 'a:x', '1'],
        ['multi', 2], ['INCR', 'a:n'], ['APPEND', 'a:n2', 'z'], ['exec', undefined],
        ['SET', 'a:db2', '1'],
        ['SET', 'a:last', '1'],
      ]);
      const only = await tailUntil([url, '--no-rdb', '--command', 'incr', '--key', '^k$'], (out) => out.includes('"INCR","k"'), async () => {
        const d = await RedisClient.connect(own.port);
        await d.ok('SET', 'k', '1');
        await d.ok('INCR', 'kk');
        await d.ok('INCR', 'k');
        await d.ok('INCR', 'end'); // not selected: its line never comes, so the test stops on the next one
        await d.ok('SET', 'k', '2');
        d.close();
      });
      expect(only.out.trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.cmd).map((l) => l.cmd)).toEqual([['INCR', 'k']]);
    } finally {
      await own.stop();
    }
  });

  it('says why the link went down (--timeout), and gives up after --max-retry-time (exit 2)', async () => {
    // The master pings every second while idle, so only a stopped master leaves the link silent for 3 s.
    const frozen = await startRedisServer(['--repl-diskless-sync-delay', '0', '--repl-ping-replica-period', '1']);
    const pid = frozen.process.pid!;
    try {
      const url = `redis://127.0.0.1:${frozen.port}`;
      // Once the snapshot is in, the master stops (SIGSTOP): the link goes silent, attempts time out.
      const r = await runTail([url, '--no-rdb', '--timeout', '3', '--max-retry-time', '2'], (_out, err) => {
        if (err.includes('full sync done') && !err.includes('link down')) process.kill(pid, 'SIGSTOP');
      });
      expect(r.code).toBe(2);
      const lines = r.err.trim().split('\n');
      expect(lines).toContainEqual(expect.stringMatching(/^redistap: link down: no data from the master for 3000 ms at offset \d+; reconnecting in \d+ ms$/));
      expect(lines.at(-1)).toMatch(/^redistap: gave up after \d+ s without a working link: /);
    } finally {
      process.kill(pid, 'SIGCONT');
      await frozen.stop();
    }
  });

  it('shows a progress line for a long full sync on a terminal only, and clears it when the sync ends', async () => {
    // ~110 MB of keys: the snapshot takes a few seconds to arrive, past the second before the line shows.
    const big = await startRedisServer(['--enable-debug-command', 'yes', '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']);
    try {
      const c = await RedisClient.connect(big.port);
      await c.ok('DEBUG', 'POPULATE', '3000000', 'key', '100');
      c.close();
      const url = `redis://127.0.0.1:${big.port}`;
      const shown = await onTerminal(`${process.execPath} ${MAIN} tail ${url} --no-rdb`, 'full sync done');
      expect(shown).toMatch(/full sync \d+\.\d MB \(\d+\.\d MB\/s\)/);
      // The line is erased (ESC [2K) before the note that ends the sync.
      expect(shown.indexOf('\x1b[2K')).toBeGreaterThan(shown.lastIndexOf('MB/s)'));
      expect(shown.indexOf('\x1b[2K')).toBeLessThan(shown.indexOf('redistap: full sync done'));
      const piped = await tailUntil([url, '--no-rdb'], () => false, async () => {}, (err) => err.includes('full sync done'));
      expect(piped.err).toContain('full sync done');
      expect(piped.err).not.toContain('MB/s');
    } finally {
      await big.stop();
    }
  }, 90_000);
});
