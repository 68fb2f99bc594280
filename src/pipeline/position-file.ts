// The publisher's position for a sink that does not keep one with its messages (a broker): a file
// replaced atomically after messages are confirmed, with the route it was written under, and a lock file
// beside it so that two publishers never share one position (both would publish, each moving it).
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Checkpoint } from '../replica/events.js';
import { readJsonFile, writeFileAtomically } from '../replica/checkpoint-file.js';
import { bootTag, deadHere, type LeaseHolder } from '../sync/target-lease.js';
import type { StoredPosition } from './sink.js';

/** Another publisher holds the position file (its lock names it). */
export class PositionHeld extends Error {
  override name = 'PositionHeld';
}

export class PositionFile {
  private locked = false;

  constructor(readonly path: string) {}

  private get lockPath(): string {
    return `${this.path}.lock`;
  }

  /**
   * Takes the lock, or throws PositionHeld naming the process that holds it. A lock left by a process
   * that is gone (it ran on this host, in this boot, and its pid is not running) is taken over.
   */
  lock(): void {
    const me: LeaseHolder = { token: '', host: hostname(), pid: process.pid, sinceMs: Date.now(), boot: bootTag() };
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
        throw new PositionHeld(`${this.path} is in use by another publish (pid ${holder.pid} on ${holder.host}, since ` +
          `${new Date(holder.sinceMs).toISOString()}): one position, one publisher. If that process is gone for good, delete ${this.lockPath}`);
      }
      if (!holder && attempt === 0) {
        throw new PositionHeld(`${this.lockPath} exists but names no process: delete it if no other publish uses ${this.path}`);
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
  load(): StoredPosition | null {
    const saved = readJsonFile<Partial<Checkpoint> & { route?: unknown }>(this.path, 'a publish position');
    if (saved === null) return null;
    // No replid: saved during a snapshot, whose start was published: nothing to continue from.
    if (saved.replid === undefined && saved.route !== undefined) return { position: null, sequence: 0, route: saved.route };
    if (typeof saved.replid !== 'string' || !/^[0-9a-f]{40}$/.test(saved.replid) || !Number.isSafeInteger(saved.offset) || !Number.isSafeInteger(saved.db)) {
      throw new Error(`${this.path} is not a publish position: expected {"replid":"<40 hex digits>","offset":N,"db":N,"route":{...}}`);
    }
    return { position: { replid: saved.replid, offset: saved.offset!, db: saved.db! }, sequence: 0, route: saved.route ?? null };
  }

  /** Saves the position (null: none, a snapshot's start was published) and the route it was reached under. */
  save(position: Checkpoint | null, route: unknown): void {
    const fields = position && { replid: position.replid, offset: position.offset, db: position.db };
    writeFileAtomically(this.path, `${JSON.stringify({ ...fields, route })}\n`);
  }

  private holder(): LeaseHolder | null {
    try {
      const h = JSON.parse(readFileSync(this.lockPath, 'utf8')) as LeaseHolder;
      return Number.isSafeInteger(h.pid) && typeof h.host === 'string' ? h : null;
    } catch {
      return null;
    }
  }
}
