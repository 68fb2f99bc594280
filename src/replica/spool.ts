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

  /** `dir`: where the temporary file goes (default the OS temp directory); `chunkBytes`: the size of reads. */
  constructor(private readonly dir = tmpdir(), private readonly chunkBytes = 1 << 20) {}

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

  /**
   * The oldest bytes not yet read, up to one chunk, in a buffer of their own (commands read from it keep
   * views of it, as they do of a socket's chunks), or null when empty.
   */
  read(): Buffer | null {
    if (this.size === 0) return null;
    const buffer = Buffer.allocUnsafe(Math.min(this.chunkBytes, this.size));
    const n = readSync(this.fd!, buffer, 0, buffer.length, this.readAt);
    this.readAt += n;
    // Emptied: start the file over so that it does not grow with everything ever spooled.
    if (this.size === 0) {
      ftruncateSync(this.fd!, 0);
      this.writeAt = this.readAt = 0;
    }
    return buffer.subarray(0, n);
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
