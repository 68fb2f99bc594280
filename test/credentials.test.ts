// Passwords: never shown in a message, never needed on the command line (REDISCLI_AUTH for tail,
// REDISTAP_SOURCE_PASSWORD / REDISTAP_TARGET_PASSWORD for sync, or a --password-file), and the ACL rules
// README lists for each command are enough: live ACL users with exactly those rules tail and sync, and a
// user without one of them is refused with a message naming the command.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../src/replica/redis-url.js';
import { Replica } from '../src/replica/replica.js';
import { sync } from '../src/sync/sync.js';
import { cli } from './helpers/cli-process.js';
import { haveRedisServer, type RedisClient, type RedisServer } from './helpers/redis-server.js';
import { caughtUp, client, server, startSync, stopAll, syncedKeyspace, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { writeRound, writeThroughCopy } from './helpers/sync-workload.js';
import { populateMixed } from './helpers/mixed-data.js';

const live = haveRedisServer();
const SECRET = 'S3cr3t';
// Characters a URL must percent-encode.
const PASSWORD = 'p@ss:w/rd %';

// The rules README lists, word for word.
const TAIL_RULES = ['+psync', '+replconf'];
const SOURCE_RULES = ['+psync', '+replconf', '+info'];
const SOURCE_FILTER_RULES = ['+command'];
const TARGET_RULES = ['~*', '+@write', '+get', '+scan', '+select', '+info', '+multi', '+exec', '+watch', '+eval', '+pttl'];
const TARGET_REPLICATION_RULES = ['+replicaof', '+config|get', '+config|set'];

let files: string;
beforeAll(() => {
  files = mkdtempSync(join(tmpdir(), 'redistap-credentials-'));
});
afterAll(() => rmSync(files, { recursive: true, force: true }));
afterEach(stopAll);

function passwordFile(name: string, password: string): string {
  const file = join(files, name);
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return file;
}

async function user(c: RedisClient, name: string, rules: string[]): Promise<void> {
  await c.ok('ACL', 'SETUSER', name, 'reset', 'on', `>${PASSWORD}`, ...rules);
}

const at = (name: string, s: RedisServer) => `redis://${name}@127.0.0.1:${s.port}`;

describe('a URL with a password', () => {
  it.each([
    'redis://:S3cr3t@127.0.0.1:99999',
    'redis://user:S3cr3t@[::1',
    'http://user:S3cr3t@example.com',
    'redis://user:p@ss:S3cr3t@host:1:2',
  ])('%s: no error of the library carries the password (message, stack), nor does the CLI', async (bad) => {
    const makers = [
      () => parseRedisUrl(bad),
      () => new Replica({ url: bad }),
      () => sync({ source: bad, target: 'redis://127.0.0.1:1' }),
      () => sync({ source: 'redis://127.0.0.1:1', target: bad }),
    ];
    for (const make of makers) {
      let error: Error | undefined;
      try {
        make();
      } catch (err) {
        error = err as Error;
      }
      expect(error).toBeInstanceOf(TypeError);
      expect(error!.message).toContain('://***@');
      expect(`${error!.message}\n${error!.stack}`).not.toContain(SECRET);
    }
    for (const args of [['tail', bad], ['sync', bad, 'redis://127.0.0.1:1'], ['sync', 'redis://127.0.0.1:1', bad]]) {
      const run = cli(args);
      expect(await run.exit).toBe(2);
      expect(run.err()).toContain('://***@');
      expect(run.err()).not.toContain(SECRET);
    }
  }, 30_000);
});

describe.skipIf(!live)('passwords from the environment or a file, and the least ACL rules', () => {
  it(`tail as an ACL user with ${TAIL_RULES.join(' ')}: the password from REDISCLI_AUTH, then from --password-file`, async () => {
    const master = await server(['--repl-diskless-sync-delay', '0']);
    const admin = await client(master);
    await user(admin, 'tailer', TAIL_RULES);
    for (const [how, args, env] of [
      ['REDISCLI_AUTH', [], { REDISCLI_AUTH: PASSWORD }],
      ['--password-file', ['--password-file', passwordFile('tail.pw', PASSWORD)], {}],
    ] as const) {
      const tail = cli(['tail', at('tailer', master), '--no-rdb', ...args], env);
      try {
        await waitFor(`the full sync (${how})`, () => /full sync done/.test(tail.err()));
        await admin.ok('SET', 'written', how);
        await waitFor(`the write (${how})`, () => tail.lines.some((l) => l.includes(`"${how}"`)));
      } finally {
        tail.child.kill('SIGTERM');
      }
      expect(await tail.exit).toBe(0);
      expect(tail.err()).not.toContain('link down');
    }
    // A password in the URL and a file too is refused, as is a wrong one.
    const twice = cli(['tail', `redis://tailer:${encodeURIComponent(PASSWORD)}@127.0.0.1:${master.port}`, '--password-file', passwordFile('tail.pw', PASSWORD)]);
    expect(await twice.exit).toBe(2);
    expect(twice.err()).toBe('redistap: --password-file: the URL has a password too: leave it out of the URL\n');
  }, 60_000);

  it(`sync with a source user (${SOURCE_RULES.join(' ')}) and a target user (${TARGET_RULES.join(' ')}): passwords from ` +
    'REDISTAP_SOURCE_PASSWORD / REDISTAP_TARGET_PASSWORD, then from the password files; copy, writes, resume', async () => {
    const [src, dst] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server()]);
    const source = await client(src);
    const target = await client(dst);
    await user(source, 'reader', SOURCE_RULES);
    await user(target, 'writer', TARGET_RULES);
    await source.ok('SELECT', 3);
    await populateMixed(source, 31, 1);
    await source.ok('SELECT', 0);
    const args = ['sync', at('reader', src), at('writer', dst), '--json'];
    const first = cli(args, { REDISTAP_SOURCE_PASSWORD: PASSWORD, REDISTAP_TARGET_PASSWORD: PASSWORD });
    let round = 0;
    // Until the copy is done (a minute at most: a count of rounds would depend on how fast they go).
    const deadline = Date.now() + 60_000;
    while (!first.lines.some((l) => /"phase":"streaming"/.test(l))) {
      await writeRound(source, round++);
      if (first.lines.some((l) => /"phase":"failed"/.test(l)) || Date.now() > deadline) {
        throw new Error(`the copy failed: ${first.lines.join('\n')}\n${first.err()}`);
      }
    }
    for (const end = round + 50; round < end; round++) await writeRound(source, round);
    await caughtUp(source, [target]);
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);
    for (const end = round + 50; round < end; round++) await writeRound(source, round);
    const second = cli([...args, '--source-password-file', passwordFile('src.pw', PASSWORD), '--target-password-file', passwordFile('dst.pw', PASSWORD)]);
    try {
      await waitFor('the resumed sync', () => second.lines.some((l) => /"phase":"streaming".*"detail":"resumed/.test(l)), 30_000);
      for (const end = round + 50; round < end; round++) await writeRound(source, round);
      await caughtUp(source, [target]);
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await second.exit).toBe(0);
    expect(withoutEntriesRead(syncedKeyspace(dst.port))).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
    expect([...first.lines, ...second.lines].filter((l) => /"type":"warning"/.test(l))).toEqual([]);
  }, 120_000);

  it(`--copy replication with the target user also given ${TARGET_REPLICATION_RULES.join(' ')}; --prefix with the source user also given ${SOURCE_FILTER_RULES.join(' ')}`, async () => {
    const [src, dst, filtered] = await Promise.all([server(['--repl-diskless-sync-delay', '0']), server(), server()]);
    const source = await client(src);
    await user(source, 'reader', [...SOURCE_RULES, ...SOURCE_FILTER_RULES]);
    await user(await client(dst), 'writer', [...TARGET_RULES, ...TARGET_REPLICATION_RULES]);
    await user(await client(filtered), 'writer', TARGET_RULES);
    await populateMixed(source, 32, 1);
    const credentials = (name: string, s: RedisServer) => `redis://${name}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${s.port}`;
    const copy = startSync(src, dst, { source: credentials('reader', src), target: credentials('writer', dst), copy: 'replication' });
    const subset = startSync(src, filtered, { source: credentials('reader', src), target: credentials('writer', filtered), prefixes: ['w:'] });
    await writeThroughCopy(source, copy.sync, copy.events, 20);
    await waitFor('the filtered sync', () => subset.sync.status.phase === 'streaming' || subset.sync.status.phase === 'failed');
    expect(subset.events.filter((e) => e.type === 'phase' && e.phase === 'failed')).toEqual([]);
    await caughtUp(source, [await client(dst), await client(filtered)]);
    expect(withoutEntriesRead(syncedKeyspace(dst.port))).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
    const prefixed = withoutEntriesRead(syncedKeyspace(src.port)).filter((l) => l.includes('"key":"w:'));
    expect(withoutEntriesRead(syncedKeyspace(filtered.port))).toEqual(prefixed);
    expect([...copy.events, ...subset.events].filter((e) => e.type === 'warning')).toEqual([]);
  }, 120_000);

  it('a user without one of the rules is refused, the message naming the command', async () => {
    const [src, dst] = await Promise.all([server(), server()]);
    const source = await client(src);
    const target = await client(dst);
    await user(source, 'reader', SOURCE_RULES);
    await user(source, 'no-info', SOURCE_RULES.filter((r) => r !== '+info'));
    await user(target, 'writer', TARGET_RULES);
    await user(target, 'no-get', TARGET_RULES.filter((r) => r !== '+get'));
    const url = (name: string, s: RedisServer) => `redis://${name}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${s.port}`;
    const withoutInfo = startSync(src, dst, { source: url('no-info', src), target: url('writer', dst) }).sync;
    await expect(withoutInfo.done).rejects.toThrow(/^source: INFO failed: NOPERM .*'info'/);
    const withoutGet = startSync(src, dst, { source: url('reader', src), target: url('no-get', dst) }).sync;
    await expect(withoutGet.done).rejects.toThrow(/^target: GET failed: NOPERM .*'get'/);
    await writeRound(source, 0); // nothing reached the target
    expect(syncedKeyspace(dst.port)).toEqual([]);
  }, 60_000);
});
