// `redistap parse` on a cut file: what the file holds whole before the cut is written, in every format, and
// then the error with the offset where the input ended (exit 2). The expectation comes from the whole file's
// output (the fixtures' is the writing server's own data, rdb-fixtures.test.ts): its lines (commands, rows)
// up to those of the last key that ends at or before the cut. Where each key ends in the file is the end
// of its value span (helpers/keyspace.ts), which rdb-value-spans.test.ts proves by loading every span into
// a live server as a DUMP payload.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './helpers/fixtures.js';
import { spansOf, type Span } from './helpers/keyspace.js';
import { populateMixed } from './helpers/mixed-data.js';
import { haveRedisServer, RedisClient, sharedTool, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'redistap-cut-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], input?: Uint8Array) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { input, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** A piece of output and the key it belongs to (an index into the file's keys; -1: before every key). */
interface Unit { bytes: Buffer; key: number }

const FORMATS: Array<[string, string[]]> = [
  ['jsonl', ['--format', 'jsonl']],
  ['jsonl through entries (--min-size)', ['--format', 'jsonl', '--min-size', '1']],
  ['csv', ['--format', 'csv']],
  ['resp', ['--format', 'resp']],
  ['keys', ['--format', 'keys']],
];

/** Splits `out` after each newline. */
function lines(out: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let at = 0; at < out.length;) {
    const nl = out.indexOf(0x0a, at);
    parts.push(out.subarray(at, nl + 1));
    at = nl + 1;
  }
  return parts;
}

/** RESP arrays of bulk strings: each command's bytes and its arguments. */
function commands(out: Buffer): Array<{ bytes: Buffer; args: Buffer[] }> {
  const list: Array<{ bytes: Buffer; args: Buffer[] }> = [];
  for (let at = 0; at < out.length;) {
    const start = at;
    const header = (end: number) => Number(out.toString('latin1', at + 1, end));
    let nl = out.indexOf('\r\n', at);
    const n = header(nl);
    at = nl + 2;
    const args: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      nl = out.indexOf('\r\n', at);
      const len = header(nl);
      args.push(out.subarray(nl + 2, nl + 2 + len));
      at = nl + 2 + len + 2;
    }
    list.push({ bytes: out.subarray(start, at), args });
  }
  return list;
}

const NEWLINE = Buffer.from('\n');

/** The whole output cut into units, each given the key it belongs to; together they are the output. */
function unitsOf(format: string, out: Buffer, keys: Span[]): Unit[] {
  const units = unitsIn(format, out, keys);
  expect(Buffer.concat(units.map((u) => u.bytes)).equals(out)).toBe(true);
  return units;
}

/**
 * keys: each key's name and a newline, in file order; csv: a header, then one row per key. jsonl and resp
 * leave some keys out (module values, empty collections): each line or command is matched to the next key
 * of that name (and db) in file order; a SELECT belongs to the key after it.
 */
function unitsIn(format: string, out: Buffer, keys: Span[]): Unit[] {
  if (format === 'keys') return keys.map((k, i) => ({ bytes: Buffer.concat([k.key, NEWLINE]), key: i }));
  if (format === 'csv') {
    const rows = lines(out);
    expect(rows.length - 1).toBe(keys.length);
    return rows.map((bytes, i) => ({ bytes, key: i - 1 }));
  }
  let next = 0;
  const matchKey = (db: number | null, key: Buffer) => {
    while (next < keys.length && !(Buffer.from(keys[next]!.key).equals(key) && (db === null || keys[next]!.db === db))) next++;
    expect(next, `output for ${key.toString()} matches no key after the previous one`).toBeLessThan(keys.length);
    return next;
  };
  if (format === 'resp') {
    const units: Unit[] = [];
    let selects: Buffer[] = [];
    for (const c of commands(out)) {
      const name = c.args[0]!.toString();
      if (name === 'SELECT') { selects.push(c.bytes); continue; }
      const key = matchKey(null, c.args[name === 'XGROUP' ? 2 : 1]!);
      for (const s of selects) units.push({ bytes: s, key });
      selects = [];
      units.push({ bytes: c.bytes, key });
    }
    expect(selects).toEqual([]);
    return units;
  }
  return lines(out).map((bytes) => {
    const o = JSON.parse(bytes.toString()) as { db: number; key: string | { b64: string } };
    return { bytes, key: matchKey(o.db, typeof o.key === 'string' ? Buffer.from(o.key) : Buffer.from(o.key.b64, 'base64')) };
  });
}

/** What a file cut at `cut` must print: the units of the keys that end at or before it. */
function expectedAt(units: Unit[], keys: Span[], cut: number): Buffer {
  const whole = keys.filter((k) => k.end <= cut).length;
  return Buffer.concat(units.filter((u) => u.key < whole).map((u) => u.bytes));
}

/** Cut points: in the header, one byte before and exactly at a key's end, inside the largest value, after the last key, in the checksum. */
function cutsOf(size: number, keys: Span[]): number[] {
  const mid = keys[Math.floor(keys.length / 2)]!;
  const largest = keys.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
  const last = keys[keys.length - 1]!;
  return [5, mid.end - 1, mid.end, Math.floor((largest.start + largest.end) / 2), last.end, size - 3];
}

describe.each([
  ['redis-7.4.1-full-nocompress'], // every type, RDB 12
  ['redis-2.4.18-full'], // zipmaps, ziplists, RDB 4
  ['pub-librdb-stream_v13'], // streams with consumer groups, RDB 13
])('%s cut short', (name) => {
  const f = fixture(name);
  const data = readFileSync(f.path);

  it.each(FORMATS)('%s: the keys it holds whole, then the error with the offset (exit 2)', async (_label, args) => {
    const keys = await spansOf(data);
    const whole = run(['parse', f.path, ...args]);
    expect(whole.code, whole.stderr).toBe(0);
    const units = unitsOf(args[1]!, whole.stdout, keys);

    for (const cut of cutsOf(data.length, keys)) {
      const path = join(dir, `${name}-${cut}.rdb`);
      writeFileSync(path, data.subarray(0, cut));
      const r = run(['parse', path, ...args]);
      expect(r.stderr, `cut at ${cut}`).toMatch(new RegExp(`^redistap: the input ended in the middle of the RDB data .* at byte offset ${cut}\\n$`));
      expect(r.code).toBe(2);
      const want = expectedAt(units, keys, cut);
      expect(r.stdout.length, `cut at ${cut}: bytes written`).toBe(want.length);
      expect(r.stdout.equals(want), `cut at ${cut}`).toBe(true);
    }
  });
});

describe('a damaged file', () => {
  const data = readFileSync(fixture('redis-7.4.1-full-nocompress').path);

  it.each(FORMATS)('%s: the keys before the damage, then the error with its offset', async (_label, args) => {
    const keys = await spansOf(data);
    const whole = run(['parse', '-', ...args], data);
    const units = unitsOf(args[1]!, whole.stdout, keys);
    // A key in the middle whose record starts with its type byte: the byte becomes an unknown type.
    const k = keys.findIndex((key, i) => i > keys.length / 2 && data[keys[i - 1]!.end] === key.type);
    const at = keys[k - 1]!.end;
    const damaged = Buffer.from(data);
    damaged[at] = 0xee;
    const r = run(['parse', '-', ...args], damaged);
    expect(r.stderr).toMatch(new RegExp(`^redistap: unknown value type or opcode 238 .* at byte offset ${at}\\n$`));
    expect(r.code).toBe(2);
    expect(r.stdout.equals(expectedAt(units, keys, at))).toBe(true);
    expect(lines(r.stdout).length).toBeGreaterThan(1000);
  });
});

// Output of several megabytes: what went out in earlier writes stays, what waited goes out too.
describe.skipIf(!haveRedisServer())('a dump of a live server, larger than one output write, cut short', () => {
  let server: RedisServer;
  let data: Buffer;
  let keys: Span[];
  let canonical: string[];

  beforeAll(async () => {
    server = await startRedisServer();
    const client = await RedisClient.connect(server.port);
    await populateMixed(client, 18, 2);
    await client.ok('SAVE');
    client.close();
    data = readFileSync(join(server.dir, 'dump.rdb'));
    keys = await spansOf(data);
    canonical = sharedTool('redis-canonical-dump', ['--port', String(server.port)]).split('\n').filter(Boolean).sort();
  }, 120_000);
  afterAll(() => server?.stop());

  it.each(FORMATS.filter(([label]) => label === 'jsonl' || label === 'resp'))('%s', (format, args) => {
    const path = join(dir, 'live.rdb');
    writeFileSync(path, data);
    const whole = run(['parse', path, ...args]);
    expect(whole.code, whole.stderr).toBe(0);
    expect(whole.stdout.length).toBeGreaterThan(3 << 20);
    if (format === 'jsonl') expect(lines(whole.stdout).map(String).map((l) => l.slice(0, -1)).sort()).toEqual(canonical);
    const units = unitsOf(format, whole.stdout, keys);
    for (const cut of [Math.floor(data.length * 0.7), keys[keys.length - 2]!.end]) {
      writeFileSync(path, data.subarray(0, cut));
      const r = run(['parse', path, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`at byte offset ${cut}\\n$`));
      const want = expectedAt(units, keys, cut);
      expect(want.length).toBeGreaterThan(2 << 20);
      expect(r.stdout.equals(want), `cut at ${cut}`).toBe(true);
    }
  });
});

it('a cut file read from standard input writes the same keys', async () => {
  const data = readFileSync(fixture('redis-7.4.1-full-nocompress').path);
  const keys = await spansOf(data);
  const cut = keys[100]!.end;
  const whole = run(['parse', '-'], data);
  const want = expectedAt(unitsOf('jsonl', whole.stdout, keys), keys, cut);
  const r = run(['parse', '-'], data.subarray(0, cut));
  expect(r.code).toBe(2);
  expect(lines(want).length).toBeGreaterThan(90);
  expect(r.stdout.equals(want)).toBe(true);
});

it.each(['summary', 'report'])('%s of a cut file: the error with the offset where the input ended (exit 2)', (command) => {
  const data = readFileSync(fixture('redis-7.4.1-full-nocompress').path);
  const r = run([command, '-'], data.subarray(0, 200_000));
  expect(r.stderr).toMatch(/^redistap: the input ended in the middle of the RDB data .* at byte offset 200000\n$/);
  expect(r.code).toBe(2);
});
