// Bytes the socket delivered while the consumer was behind, kept in a temporary file so that the link
// keeps reading at line rate (a master drops a replica whose output buffer grows past its limit) while
// memory stays bounded. First in, first out; the file is unlinked as soon as it is open, so nothing is
// left behind even if the process dies.
import { closeSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class Spool {
  private fd: number | null = null;
  private writeAt = 0;
  private readAt = 0;
  private readonly buffer: Buffer;

  /** `dir`: where the temporary file goes (default the OS temp directory); `chunkBytes`: the size of reads. */
  constructor(private readonly dir = tmpdir(), chunkBytes = 1 << 20) {
    this.buffer = Buffer.allocUnsafe(chunkBytes);
  }

  /** Bytes written and not yet read back. */
  get size(): number {
    return this.writeAt - this.readAt;
  }

  /** Appends a chunk (synchronously: the order of the stream is the order of the calls). */
  append(chunk: Uint8Array): void {
    const fd = this.fd ?? this.open();
    for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done, chunk.length - done, this.writeAt + done);
    this.writeAt += chunk.length;
  }

  /** The oldest bytes not yet read, up to one chunk (a view valid until the next call), or null when empty. */
  read(): Uint8Array | null {
    if (this.size === 0) return null;
    const n = readSync(this.fd!, this.buffer, 0, Math.min(this.buffer.length, this.size), this.readAt);
    this.readAt += n;
    // Emptied: start the file over so that it does not grow with everything ever spooled.
    if (this.size === 0) {
      ftruncateSync(this.fd!, 0);
      this.writeAt = this.readAt = 0;
    }
    return this.buffer.subarray(0, n);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.writeAt = this.readAt = 0;
  }

  private open(): number {
    const dir = mkdtempSync(join(this.dir, 'redistap-spool-'));
    const path = join(dir, 'stream');
    this.fd = openSync(path, 'w+', 0o600);
    unlinkSync(path);
    rmSync(dir, { recursive: true });
    return this.fd;
  }
}
