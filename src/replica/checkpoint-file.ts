// A checkpoint kept in a file, replaced atomically (write a temporary file, fsync, rename, fsync the
// directory), so a crash or a power loss leaves either the old checkpoint or the new one, never a torn file.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Checkpoint } from './events.js';

/** How much of an output file a checkpoint covers: its first `bytes` bytes hold exactly the events up to it. */
export interface OutputExtent {
  /** The file's absolute path. */
  path: string;
  bytes: number;
}

/**
 * What the file holds: a position (null before the first one, when the file was saved only to say that
 * none of the output is covered yet), and how much of an output file it covers, when saved with one.
 */
export interface SavedCheckpoint {
  checkpoint: Checkpoint | null;
  output: OutputExtent | null;
}

export class CheckpointFile {
  constructor(readonly path: string) {}

  /** The saved checkpoint, or null when the file does not exist or holds no position yet. Throws on a file that is not one. */
  load(): Checkpoint | null {
    return this.loadSaved()?.checkpoint ?? null;
  }

  /** The position and the output extent saved, or null when the file does not exist. Throws on a file that is not one. */
  loadSaved(): SavedCheckpoint | null {
    const cp = readJsonFile<Partial<Checkpoint> & { output?: Partial<OutputExtent> }>(this.path, 'a checkpoint');
    if (cp === null) return null;
    const saved: SavedCheckpoint = { checkpoint: null, output: outputExtentOf(cp.output, `${this.path} is not a checkpoint`) ?? null };
    if (cp.replid === undefined && saved.output) return saved;
    saved.checkpoint = checkpointOf(cp, `${this.path} is not a checkpoint: expected {"replid":"<40 hex digits>","offset":N,"db":N}`);
    return saved;
  }

  /** Saves `cp` (null: no position yet), and with `output` how much of that file it covers. */
  save(cp: Checkpoint | null, output?: OutputExtent): void {
    writeFileAtomically(this.path, `${JSON.stringify({ ...(cp && { replid: cp.replid, offset: cp.offset, db: cp.db }), output })}\n`);
  }
}

/** The output extent a saved file records (undefined: none); else throws `notOne`, saying what it should be. */
export function outputExtentOf(output: Partial<OutputExtent> | undefined, notOne: string): OutputExtent | undefined {
  if (output === undefined) return undefined;
  if (typeof output?.path !== 'string' || !Number.isSafeInteger(output.bytes) || output.bytes! < 0) {
    throw new Error(`${notOne}: "output" expected as {"path":"<file>","bytes":N}`);
  }
  return { path: output.path, bytes: output.bytes! };
}

/** The position a saved file records; throws `notOne` (saying what it should be) when it holds none. */
export function checkpointOf(fields: Partial<Checkpoint>, notOne: string): Checkpoint {
  const { replid, offset, db } = fields;
  if (typeof replid !== 'string' || !/^[0-9a-f]{40}$/.test(replid) || !Number.isSafeInteger(offset) || !Number.isSafeInteger(db)) {
    throw new Error(notOne);
  }
  return { replid, offset: offset!, db: db! };
}

/** The JSON a file holds, or null when it does not exist; `what` names it in the error for a file that is not JSON. */
export function readJsonFile<T>(path: string, what: string): T | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${path} is not ${what} (not JSON)`);
  }
}

/** Replaces `path` by `text`: a crash or a power loss leaves the old file or the new one, never a mix. */
export function writeFileAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename is durable only once the directory is: without this a power loss could undo it.
  syncDirectory(dirname(path));
}

/** fsyncs a directory; best effort where the platform refuses (Windows cannot open one; some file systems reject it). */
function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EPERM' && code !== 'EISDIR') throw err;
  } finally {
    closeSync(fd);
  }
}
