// The redistap command as a user runs it: output equals the fixtures' oracle, filters select the same
// lines as filtering the oracle, errors are one clear line with a non-zero exit code.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture } from './helpers/fixtures.js';

const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;

function run(args: string[], input?: Buffer) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { input, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '').sort();

describe('redistap parse', () => {
  const full = fixture('redis-7.2.6-full');
  const oracle = [...full.expected!].sort();

  it('writes the canonical lines of every key', () => {
    const r = run(['parse', full.path, '--format', 'jsonl']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(lines(r.stdout)).toEqual(oracle);
  });

  it('reads standard input with -', () => {
    const r = run(['parse', '-'], readFileSync(full.path));
    expect(lines(r.stdout)).toEqual(oracle);
  });

  it('writes to a file with --output', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'redistap-cli-')), 'out.jsonl');
    expect(run(['parse', full.path, '-o', out]).code).toBe(0);
    expect(lines(readFileSync(out, 'utf8'))).toEqual(oracle);
  });

  it('selects databases, types and keys like filtering the oracle', () => {
    const pick = (pred: (o: { db: number; type: string; key: unknown }) => boolean) =>
      oracle.filter((l) => pred(JSON.parse(l)));
    expect(lines(run(['parse', full.path, '--db', '0,15']).stdout)).toEqual(pick((o) => o.db === 0 || o.db === 15));
    expect(lines(run(['parse', full.path, '--type', 'hash', '--type', 'zset']).stdout))
      .toEqual(pick((o) => o.type === 'hash' || o.type === 'zset'));
    expect(lines(run(['parse', full.path, '--key', '^list:', '--db', '0']).stdout))
      .toEqual(pick((o) => o.db === 0 && typeof o.key === 'string' && /^list:/.test(o.key)));
  });

  it('rejects a wrong checksum with the offset, and reads the file with --no-checksum', () => {
    const f = fixture('pub-librdb-invalid_chksum_v8');
    const bad = run(['parse', f.path]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^redistap: CRC64 checksum mismatch.*at byte offset 201\n$/);
    const ok = run(['parse', f.path, '--no-checksum']);
    expect(ok.code).toBe(0);
    expect(lines(ok.stdout)).toEqual([...f.expected!].sort());
  });

  it('reports a truncated file with the offset where it ends', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'redistap-cli-')), 'cut.rdb');
    writeFileSync(path, readFileSync(full.path).subarray(0, 10_000));
    const r = run(['parse', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/input ended in the middle of the RDB data.*at byte offset 10000/);
  });

  it('explains bad arguments and missing files in one line', () => {
    expect(run(['parse', '/nonexistent.rdb']).stderr).toBe('redistap: cannot open /nonexistent.rdb: no such file\n');
    const t = run(['parse', full.path, '--type', 'blob']);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/--type expects one of string, list, set, zset, hash, stream, module, got "blob"/);
    expect(run(['parse', full.path, '--format', 'xml']).stderr).toMatch(/Allowed choices are jsonl/);
  });

  it('teaches in --help', () => {
    const h = run(['parse', '--help']).stdout;
    expect(h).toMatch(/--no-checksum/);
    expect(h).toMatch(/Examples:/);
  });
});

describe('redistap summary', () => {
  it('summarizes the bundled sample (438 keys written by scripts/make-sample.mjs)', () => {
    const r = run(['summary', new URL('../samples/sample.rdb', import.meta.url).pathname]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/RDB version\s+10 \(written by Redis 7\.0\.15\)/);
    expect(r.stdout).toMatch(/Keys\s+438 \(120 with an expire time\)/);
    expect(r.stdout).toMatch(/db 0\s+428\n\s+db 1\s+10/);
    expect(r.stdout).toMatch(/hash\s+200/);
  });
});

describe('redistap sync: the command line', () => {
  it.each([
    [['--db-map', '0-1'], /--db-map expects source:target pairs such as 0:1, got "0-1"/],
    [['--db', 'x'], /--db expects database numbers, got "x"/],
    [['--rename', 'x'], /--rename wants s\/pattern\/replacement\//],
    [['--rename', 's/a/b/q'], /unknown flags "q"/],
    [['--rename', 's/a/b/'], /redistap renames a fixed prefix/],
    [['--max-in-flight', '0'], /--max-in-flight expects a positive number/],
    [['--copy', 'replication', '--prefix', 'a:'], /--copy replication copies the whole dataset as it is: it cannot be combined with --db, --db-map, --prefix/],
    [['--source-tls-ca', '/etc/hostname'], /--source-tls-ca is for TLS: use a rediss:\/\/ URL \(got redis:\/\/\)/],
    [['--target-tls-cert', '/etc/hostname'], /--target-tls-cert is for TLS/],
  ])('%j is refused with a one-line error (exit 2)', (extra, message) => {
    const r = run(['sync', 'redis://127.0.0.1:1', 'redis://127.0.0.1:2', ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it.each([
    [['sync', 'redis://127.0.0.1:1', 'redis://127.0.0.1:2', '--copy', 'rsync'], /argument 'rsync' is invalid. Allowed choices are restore, replication/],
    [['tail', 'redis://127.0.0.1:1', '--bogus'], /unknown option '--bogus'/],
    [['sync', 'redis://127.0.0.1:1'], /missing required argument 'target-url'/],
    [['nosuch'], /unknown command 'nosuch'/],
  ])('a usage error %j exits 2, like every refusal', (args, message) => {
    const r = run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('--help and --version exit 0', () => {
    expect(run(['sync', '--help']).code).toBe(0);
    expect(run(['--version'])).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });

  it.each([
    [['--source-tls-cert', '/etc/hostname'], /--source-tls-cert and --source-tls-key go together/],
    [['--source-tls-ca', '/nonexistent/ca.pem'], /--source-tls-ca: cannot read \/nonexistent\/ca\.pem: ENOENT/],
  ])('with a rediss:// source, %j is refused with a one-line error (exit 2)', (extra, message) => {
    const r = run(['sync', 'rediss://127.0.0.1:1', 'redis://127.0.0.1:2', ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('a status reader that goes away (| head -1) stops it cleanly', () => {
    // Nothing listens on port 1: with --wait the sync keeps retrying and reporting, until its output closes.
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${MAIN}" sync redis://127.0.0.1:1 redis://127.0.0.1:1 --wait --json | head -1`],
      { encoding: 'utf8', timeout: 20_000 });
    expect(r.stdout).toMatch(/^\{"time":"[^"]+","type":"warning","message":"source: cannot connect to 127\.0\.0\.1:1/);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
