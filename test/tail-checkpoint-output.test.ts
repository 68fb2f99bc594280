// tail -o FILE --checkpoint F: the checkpoint file's durability and the refusals that keep FILE exactly once.
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it, vi } from 'vitest';

const fsCalls: string[] = [];
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const paths = new Map<number, string>();
  return {
    ...fs,
    openSync: (path: string, ...rest: never[]) => {
      const fd = (fs.openSync as (...a: unknown[]) => number)(path, ...rest);
      paths.set(fd, String(path));
      return fd;
    },
    fsyncSync: (fd: number) => { fsCalls.push(`fsync ${paths.get(fd)}`); fs.fsyncSync(fd); },
    renameSync: (from: string, to: string) => { fsCalls.push(`rename ${to}`); fs.renameSync(from, to); },
  };
});

const { CheckpointFile } = await import('../src/replica/checkpoint-file.js');
const { Output } = await import('../src/node/output.js');

const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'redistap-tail-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tail checkpoint and output', () => {
  it('fsyncs the directory after the rename, so the new checkpoint survives a power loss', () => {
    fsCalls.length = 0;
    const pos = join(dir, 'sync.pos');
    new CheckpointFile(pos).save(null, { path: join(dir, 'out.jsonl'), bytes: 0 });
    expect(fsCalls).toEqual([`fsync ${pos}.tmp`, `rename ${pos}`, `fsync ${dir}`]);
  });

  it('refuses to continue a FILE that is gone, rather than create it empty', () => {
    const file = join(dir, 'gone.jsonl');
    expect(() => Output.continuing(file, 10)).toThrow(`${file} does not exist, but the checkpoint covers its first 10 bytes`);
    expect(existsSync(file)).toBe(false);
  });

  it('refuses --checkpoint F without -o when F covers an -o FILE, keeping F as it was', () => {
    const file = join(dir, 'kept.jsonl');
    const pos = join(dir, 'kept.pos');
    writeFileSync(file, '{"db":0}\n');
    const saved = JSON.stringify({ replid: 'a'.repeat(40), offset: 5, db: 0, output: { path: file, bytes: 9 } });
    writeFileSync(pos, saved);
    const r = spawnSync(process.execPath, [MAIN, 'tail', 'redis://127.0.0.1:1', '--checkpoint', pos], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${pos} was saved with -o ${file} (covering 9 bytes): give -o ${file}, or a new checkpoint file`);
    expect(readFileSync(pos, 'utf8')).toBe(saved);
  });
});

describe('tail ending on an error', () => {
  it('reports the error that ended it when saving the checkpoint then fails too', async () => {
    const { startScriptedMaster } = await import('./helpers/scripted-master.js');
    const { spawn } = await import('node:child_process');
    // First connection: a full sync of an empty snapshot and one SET (the checkpoint moves), then the link
    // drops; the second attempt's PSYNC gets a reply that ends the command at once.
    const rdb = Buffer.concat([Buffer.from('REDIS0011'), Buffer.from([0xff]), Buffer.alloc(8)]);
    const master = await startScriptedMaster((socket) => {
      if (master.connections === 1) {
        socket.end(Buffer.concat([Buffer.from(`+FULLRESYNC ${'a'.repeat(40)} 0\r\n$${rdb.length}\r\n`), rdb,
          Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n')]));
      } else socket.write('+FULLRESYNC ../../etc 0\r\n');
    });
    try {
      const pos = join(dir, 'fails.pos');
      // The checkpoint cannot be saved: its temporary file's name is taken by a directory.
      (await import('node:fs')).mkdirSync(`${pos}.tmp`);
      const child = spawn(process.execPath, [MAIN, 'tail', `redis://127.0.0.1:${master.port}`, '--checkpoint', pos], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => { stderr += d; });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(stderr).toMatch(/redistap: [^\n]*FULLRESYNC[^\n]*\n/);
      expect(stderr).toContain(`redistap: also: cannot save the position in ${pos}: EISDIR`);
      expect(code).toBe(2);
    } finally {
      await master.close();
    }
  }, 20_000);
});
