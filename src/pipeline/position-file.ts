// The pipeline's position for a sink that does not keep one with its messages (a broker, a file): a file
// replaced atomically after messages are confirmed, with the route it was written under (and, for a sink
// that appends to a file, how much of that file it covers), and a lock file beside it so that two
// processes never share one position (both would send, each moving it).
//
// {"replid":"<40 hex>","offset":N,"db":N,"route":{...},"output":{"path":"/abs/file","bytes":N}}, a
// cluster's with {"shards":[{"replid","offset","db"}...]} instead of the first three: tail's checkpoint
// files of earlier versions ({"replid","offset","db"[,"output"]}) are the same without a route.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Checkpoint } from '../replica/events.js';
import { positionFields, positionOf, type Position } from './position.js';
import { outputExtentOf, readJsonFile, writeFileAtomically, type OutputExtent } from '../replica/checkpoint-file.js';
import { bootTag, deadHere, type LeaseHolder } from '../sync/target-lease.js';
import type { StoredPosition } from './sink.js';

/** A position as the file keeps it: with how much of an output file it covers, when it does. */
export type SavedPosition = StoredPosition & { extent?: OutputExtent };

/** Who holds the lock: a process, and its command. */
interface Holder extends LeaseHolder {
  command?: string;
}

/** Another process holds the position file (its lock names it). */
export class PositionHeld extends Error {
  override name = 'PositionHeld';
}

export class PositionFile {
  private locked = false;

  /** `command`: who takes the lock (publish, tail), as another process refused it is told. */
  constructor(readonly path: string, private readonly command: string) {}

  private get lockPath(): string {
    return `${this.path}.lock`;
  }

  /**
   * Takes the lock, or throws PositionHeld naming the process that holds it. A lock left by a process
   * that is gone (it ran on this host, in this boot, and its pid is not running) is taken over.
   */
  lock(): void {
    if (this.locked) return;
    const me: Holder = { token: '', host: hostname(), pid: process.pid, sinceMs: Date.now(), boot: bootTag(), command: this.command };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockPath, 'wx');
        writeSync(fd, JSON.stringify(me));
        closeSync(fd);
        this.locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = this.holder();
      if (holder && !deadHere(holder)) {
        throw new PositionHeld(`${this.path} is in use by another ${holder.command ?? 'process'} (pid ${holder.pid} on ${holder.host}, since ` +
          `${new Date(holder.sinceMs).toISOString()}): one position, one writer. If that process is gone for good, delete ${this.lockPath}`);
      }
      if (!holder && attempt === 0) {
        throw new PositionHeld(`${this.lockPath} exists but names no process: delete it if no other process uses ${this.path}`);
      }
      rmSync(this.lockPath, { force: true });
    }
    throw new PositionHeld(`${this.path}: could not take ${this.lockPath}`);
  }

  unlock(): void {
    if (!this.locked) return;
    this.locked = false;
    rmSync(this.lockPath, { force: true });
  }

  /** The saved position, or null when the file does not exist. Throws on a file that is not one. */
  load(): SavedPosition | null {
    const saved = readJsonFile<Partial<Checkpoint> & { shards?: unknown; route?: unknown; output?: Partial<OutputExtent> }>(this.path, 'a position file');
    if (saved === null) return null;
    const extent = outputExtentOf(saved.output, `${this.path} is not a position file`);
    // No replid: saved during a snapshot whose start was sent, or before the first position: nothing to continue from.
    if (saved.replid === undefined && saved.shards === undefined && (saved.route !== undefined || extent)) {
      return { position: null, sequence: 0, route: saved.route, extent };
    }
    const position = positionOf(saved, `${this.path} is not a position file: expected {"replid":"<40 hex digits>","offset":N,"db":N,"route":{...}}, ` +
      'or {"shards":[{"replid":…,"offset":…,"db":…}…],"route":{...}}');
    return { position, sequence: 0, route: saved.route, extent };
  }

  /**
   * Saves the position (null: none, a snapshot's start was sent), the route it was reached under, and how
   * much of an output file it covers.
   */
  save(position: Position | null, route: unknown, output?: unknown): void {
    const fields = position && positionFields(position);
    writeFileAtomically(this.path, `${JSON.stringify({ ...fields, route, output })}\n`);
  }

  private holder(): Holder | null {
    try {
      const h = JSON.parse(readFileSync(this.lockPath, 'utf8')) as Holder;
      return Number.isSafeInteger(h.pid) && typeof h.host === 'string' ? h : null;
    } catch {
      return null;
    }
  }
}
