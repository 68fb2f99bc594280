// The checksum verified on a worker thread (FileChecksum) while the parser reads the file: every split of
// the work between the two threads verifies real dumps, finds a flipped byte on either side of the split,
// and copes with data after the RDB's end; the CLI and parseRdb(path) use it for large files.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileChecksum, parseRdb, PARALLEL_CHECKSUM_MIN_BYTES } from '../src/node.js';
import { RdbError } from '../src/core/errors.js';
import { canonicalLines } from './helpers/feed.js';
import { fixture } from './helpers/fixtures.js';
import { haveRedisServer, RedisClient, startRedisServer } from './helpers/redis-server.js';

const tmp = mkdtempSync(join(tmpdir(), 'redistap-checksum-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function readAll(path: string, checksum: () => FileChecksum | null) {
  const reader = parseRdb(path, { externalChecksum: checksum });
  const entries = [];
  for await (const e of reader) entries.push(e);
  return { entries, metadata: reader.metadata };
}

async function errorOf(promise: Promise<unknown>): Promise<RdbError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(RdbError);
  return err as RdbError;
}

// Small chunks make the thread cross many chunk boundaries (and rewind over them) in a small file.
const CHUNK = 4096;
const names = ['redis-7.4.1-full-nocompress', 'redis-7.2.6-full', 'redis-6.2.16-full', 'redis-2.8.24-full'];

describe.each(names)('%s with the checksum on a second thread', (name) => {
  const f = fixture(name);
  const checksumEnd = f.size - 8; // these files end with their checksum
  const splits = [0, 1, 5000, Math.floor(checksumEnd / 2), checksumEnd - 1, checksumEnd, f.size + 100];

  it.each(splits)('verifies it when the parser checksums the first %i bytes', async (from) => {
    const { entries, metadata } = await readAll(f.path, () => FileChecksum.start(f.path, from, CHUNK));
    expect(metadata.checksum).toBe('verified');
    expect(canonicalLines(entries)).toEqual([...f.expected!].sort());
  });

  it.each([3, Math.floor(checksumEnd * 0.9)])('reports a checksum error for a byte flipped at %i, on either side of the split', async (at) => {
    const path = join(tmp, `${name}-flip-${at}.rdb`);
    const data = readFileSync(f.path);
    // Flip a bit inside a string's content, so that only the checksum can tell.
    const target = data.indexOf('value', at) + 1;
    data[target] ^= 0x01;
    writeFileSync(path, data);
    for (const from of [0, Math.floor(checksumEnd / 2), checksumEnd]) {
      const err = await errorOf(readAll(path, () => FileChecksum.start(path, from, CHUNK)));
      expect(err.kind).toBe('checksum');
      expect(err.offset).toBe(checksumEnd);
    }
  });

  it('stops at the end the parser finds when data follows the RDB (the thread rewinds)', async () => {
    const path = join(tmp, `${name}-trailing.rdb`);
    copyFileSync(f.path, path);
    appendFileSync(path, randomBytes(3 * CHUNK + 17));
    for (const from of [0, 4097, checksumEnd]) {
      const { metadata } = await readAll(path, () => FileChecksum.start(path, from, CHUNK));
      expect(metadata.checksum).toBe('verified');
      expect(metadata.trailingBytes).toBe(3 * CHUNK + 17);
    }
  });
});

describe('when the thread cannot help', () => {
  it('reports a file that vanished as an error of the thread, not a wrong checksum', async () => {
    const err = await FileChecksum.start(join(tmp, 'missing.rdb')).crc64(10).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/ENOENT|no such file/);
  });

  it('is not used for small files', () => {
    expect(FileChecksum.worthwhile(fixture('redis-7.2.6-full').path)).toBeNull();
  });
});

const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;
const cli = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });

describe.skipIf(!haveRedisServer())('a dump larger than the parallel threshold, written by redis-server', () => {
  let dump: string;
  let size: number;

  beforeAll(async () => {
    const server = await startRedisServer();
    try {
      const client = await RedisClient.connect(server.port);
      // Incompressible values, so the file is as large as the data.
      const count = Math.ceil(PARALLEL_CHECKSUM_MIN_BYTES / (1 << 20)) + 4;
      for (let i = 0; i < count; i++) await client.ok('SET', `blob:${i}`, randomBytes(1 << 20));
      await client.ok('HSET', 'small:hash', 'a', '1', 'b', '2');
      await client.ok('SAVE');
      client.close();
      dump = join(tmp, 'large.rdb');
      copyFileSync(join(server.dir, 'dump.rdb'), dump);
      size = statSync(dump).size;
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('parseRdb(path) verifies it on a thread and says so', async () => {
    expect(size).toBeGreaterThan(PARALLEL_CHECKSUM_MIN_BYTES);
    const reader = parseRdb(dump);
    let keys = 0;
    for await (const _ of reader) keys++;
    expect(keys).toBe(Math.ceil(PARALLEL_CHECKSUM_MIN_BYTES / (1 << 20)) + 5);
    expect(reader.metadata.checksum).toBe('verified');
  });

  it('the CLI finds a flipped byte early and late in the file, with the offset of the checksum', () => {
    const unchecked = cli(['parse', '--no-checksum', dump]);
    expect(unchecked.status).toBe(0);
    const checked = cli(['parse', dump]);
    expect(checked.status).toBe(0);
    expect(checked.stdout).toBe(unchecked.stdout);
    for (const at of [0.05, 0.9]) {
      const bad = join(tmp, `large-flip-${at}.rdb`);
      const data = readFileSync(dump);
      data[data.indexOf('blob:', Math.floor(size * at)) + 40] ^= 0x01; // inside a value
      writeFileSync(bad, data);
      const r = cli(['parse', bad]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`CRC64 checksum mismatch`);
      expect(r.stderr).toContain(`at byte offset ${size - 8}`);
      expect(cli(['summary', bad]).stderr).toContain(`at byte offset ${size - 8}`);
      rmSync(bad);
    }
  }, 60_000);
});
