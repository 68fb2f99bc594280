// A checkpoint kept in a file, replaced atomically (write a temporary file, fsync, rename), so a crash
// leaves either the old checkpoint or the new one, never a torn file.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { Checkpoint } from './events.js';

export class CheckpointFile {
  constructor(readonly path: string) {}

  /** The saved checkpoint, or null when the file does not exist. Throws on a file that is not one. */
  load(): Checkpoint | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let cp: Partial<Checkpoint>;
    try {
      cp = JSON.parse(text);
    } catch {
      throw new Error(`${this.path} is not a checkpoint (not JSON)`);
    }
    if (typeof cp.replid !== 'string' || !/^[0-9a-f]{40}$/.test(cp.replid) || !Number.isSafeInteger(cp.offset) || !Number.isSafeInteger(cp.db)) {
      throw new Error(`${this.path} is not a checkpoint: expected {"replid":"<40 hex digits>","offset":N,"db":N}`);
    }
    return { replid: cp.replid, offset: cp.offset!, db: cp.db! };
  }

  save(cp: Checkpoint): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, `${JSON.stringify({ replid: cp.replid, offset: cp.offset, db: cp.db })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
