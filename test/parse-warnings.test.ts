// `redistap parse` says once, on stderr, what a file holds that the output cannot be trusted to rebuild:
// keys that appear twice in one db (Redis refuses the file: a live redis-server is the judge of which
// hand-made files those are) and module values a format leaves out.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuplicateKeys } from '../src/rdb/duplicate-keys.js';
import { fixture } from './helpers/fixtures.js';
import { handmade, str } from './helpers/handmade-rdb.js';
import { freePort, haveRedisServer, startRedisServer } from './helpers/redis-server.js';

const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'redistap-warnings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], input: Uint8Array) {
  const r = spawnSync(process.execPath, [MAIN, ...args, '-'], { input, encoding: 'latin1' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const FORMATS = [['jsonl'], ['jsonl', '--min-size', '1'], ['csv'], ['resp'], ['keys']].map((a) => [a.join(' '), ['--format', ...a]] as const);
const selectDb = (db: number) => [0xfe, db];
const set = (key: string, value: string) => [0, ...str(key), ...str(value)];

// db 0: "a" again, and "b" again in a second section of db 0; db 3: "x" three times. "c" is in both dbs,
// which is no duplicate.
const duplicated = handmade(
  selectDb(0), set('a', '1'), set('b', '2'), set('c', '3'), set('a', '4'),
  selectDb(3), set('x', '5'), set('c', '6'), set('x', '7'), set('x', '8'),
  selectDb(0), set('b', '9'),
);
const sameNameOtherDbs = handmade(selectDb(0), set('a', '1'), set('c', '2'), selectDb(3), set('a', '3'), set('c', '4'));

/** A directory holding `rdb` as dump.rdb. */
function dumpDir(rdb: Uint8Array): string {
  const where = mkdtempSync(join(dir, 'server-'));
  writeFileSync(join(where, 'dump.rdb'), rdb);
  return where;
}

describe('keys that appear twice in one db', () => {
  it.skipIf(!haveRedisServer())('are what redis-server refuses to load (and the same name in two dbs is not)', async () => {
    // It loads the file before it serves, and panics; spawned here so that its whole log is kept.
    const refused = spawnSync('redis-server', ['--port', String(await freePort()), '--bind', '127.0.0.1', '--dir', dumpDir(duplicated), '--save', ''],
      { encoding: 'utf8', timeout: 20_000 });
    expect(refused.stdout).toMatch(/RDB has duplicated key 'a' in DB 0[^]*Duplicated key found in RDB file/);
    const server = await startRedisServer([], { dir: dumpDir(sameNameOtherDbs) });
    await server.stop();
  });

  it.each(FORMATS)('%s: every copy is written, with one warning that counts them per db', (_label, args) => {
    const r = run(['parse', ...args], duplicated);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('redistap: warning: 4 keys repeat one written before in the same db (2 in db 0, 2 in db 3): '
      + 'every copy was written, but Redis refuses to load such a file ("Duplicated key found in RDB file")\n');
    // Every copy is in the output: 11 keys, each key name once per copy.
    const copies = (name: string) => (args.includes('keys') ? r.stdout.split('\n').filter((l) => l === name).length
      : args.includes('resp') ? r.stdout.split(`\r\n$1\r\n${name}\r\n`).length - 1
        : r.stdout.split(args.includes('csv') ? `,string,${name},` : `"key":"${name}"`).length - 1);
    expect(['a', 'b', 'c', 'x'].map(copies)).toEqual([2, 2, 2, 3]);
  });

  it.each(FORMATS)('%s: the same name in different dbs is no warning', (_label, args) => {
    const r = run(['parse', ...args], sameNameOtherDbs);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });

  it.each([['jsonl'], ['csv']])('%s: among thousands of keys too', (format) => {
    const keys = Array.from({ length: 5000 }, (_, i) => set(`key:${i}`, 'v'));
    const file = handmade(selectDb(0), ...keys, set('key:0', 'again'), set('key:4321', 'again'), selectDb(9), ...keys.slice(0, 2000), set('key:1999', 'again'));
    const r = run(['parse', '--format', format], file);
    expect(r.stderr).toMatch(/warning: 3 keys repeat one written before in the same db \(2 in db 0, 1 in db 9\)/);
  });

  it('among the selected keys only', () => {
    expect(run(['parse', '--db', '0', '--key', '^a$'], duplicated).stderr).toMatch(/warning: 1 keys repeat one written before in the same db \(1 in db 0\)/);
    expect(run(['parse', '--db', '3', '--format', 'csv'], duplicated).stderr).toMatch(/warning: 2 keys repeat .* \(2 in db 3\)/);
    expect(run(['parse', '--key', '^c$'], duplicated).stderr).toBe('');
  });
});

describe('module values', () => {
  // A module value (MODULE_2): a 64-bit module ID (9 name characters of 6 bits, 10 version bits), then
  // the module's own opcodes: an unsigned integer (2) 5, then EOF (0).
  const CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const id = [...'testmodul'].reduce((n, c) => (n << 6n) | BigInt(CHARSET.indexOf(c)), 0n) << 10n | 1n;
  const idBytes = Array.from({ length: 8 }, (_, i) => Number((id >> BigInt(56 - 8 * i)) & 0xffn));
  const moduleValue = (key: string) => [7, ...str(key), 0x81, ...idBytes, 2, 5, 0];
  const file = handmade(selectDb(0), moduleValue('m1'), set('s', 'v'), moduleValue('m2'));

  it.each([
    ['jsonl', ['--format', 'jsonl'], 'the canonical format has no line for them'],
    ['jsonl --min-size 1', ['--format', 'jsonl', '--min-size', '1'], 'the canonical format has no line for them'],
    ['resp', ['--format', 'resp'], 'no command rebuilds them'],
  ])('%s leaves them out with one warning that counts them', (_label, args, why) => {
    const r = run(['parse', ...args], file);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`redistap: warning: 2 module value(s) left out: ${why}\n`);
    expect(r.stdout).toMatch(/\bs\b/);
    expect(r.stdout).not.toMatch(/m1|m2/);
  });

  it.each([['csv'], ['keys']])('%s lists them, without a warning', (format) => {
    const r = run(['parse', '--format', format], file);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/m1[^]*m2/);
  });

  it('a selection without them warns of nothing', () => {
    expect(run(['parse', '--type', 'string'], file).stderr).toBe('');
    expect(run(['parse', '--key', '^s$'], file).stderr).toBe('');
  });

  it('counts the module value of a file written by Redis with a module (librdb module.rdb, one key)', () => {
    const f = fixture('pub-librdb-module');
    const r = spawnSync(process.execPath, [MAIN, 'parse', f.path], { encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('redistap: warning: 1 module value(s) left out: the canonical format has no line for them\n');
  });
});

describe('DuplicateKeys', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  it('finds the repeats among thousands of keys, per db, whatever the order of dbs', () => {
    const d = new DuplicateKeys();
    for (let i = 0; i < 5000; i++) d.add(0, bytes(`user:${i}`));
    for (let i = 0; i < 3000; i++) d.add(1, bytes(`user:${i}`)); // the same names in db 1: no repeat
    d.add(0, bytes('user:17'));
    d.add(0, bytes('user:4999'));
    d.add(1, bytes('user:2999'));
    d.add(0, bytes('user:5000')); // new
    expect(d.perDb()).toEqual(new Map([[0, 2], [1, 1]]));
    // Asked again after more keys: the earlier ones still count.
    d.add(0, bytes('user:5000'));
    d.add(2, bytes('user:17'));
    expect(d.perDb()).toEqual(new Map([[0, 3], [1, 1]]));
  });

  it('compares every byte of a key, also inside a larger buffer', () => {
    const d = new DuplicateKeys();
    const buffer = bytes('xxabcabdyy');
    d.add(0, buffer, 2, 5); // abc
    d.add(0, buffer, 5, 8); // abd
    d.add(0, bytes('ab'));
    d.add(0, new Uint8Array(0));
    expect(d.perDb()).toEqual(new Map());
    d.add(0, bytes('abc'));
    d.add(0, new Uint8Array(0));
    expect(d.perDb()).toEqual(new Map([[0, 2]]));
  });
});

describe('a duplicate-key check that does not cover every key', () => {
  // "a" four keys on: past a cap of 3 keys (set for the test; the product's is 4,194,304), so not counted.
  const past = handmade(selectDb(0), set('a', '1'), set('b', '2'), set('c', '3'), set('d', '4'), set('a', '5'));

  it.each(FORMATS)('%s: says once, on stderr, that it covered only the first keys', (_label, args) => {
    const r = spawnSync(process.execPath, [MAIN, 'parse', ...args, '-'], {
      input: past, encoding: 'latin1', env: { ...process.env, REDISTAP_TEST_DUPLICATE_KEYS_CAP: '3' },
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('redistap: warning: the duplicate-key check covered only the first 3 keys: the keys after them were not checked\n');
  });

  it('says nothing when the keys are within the cap', () => {
    const r = spawnSync(process.execPath, [MAIN, 'parse', '-'], {
      input: past, encoding: 'latin1', env: { ...process.env, REDISTAP_TEST_DUPLICATE_KEYS_CAP: '5' },
    });
    expect(r.stderr).toContain('1 keys repeat one written before');
    expect(r.stderr).not.toContain('duplicate-key check');
  });
});
