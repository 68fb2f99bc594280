// Output of a command: bytes to standard output or a file. Files and character devices are written
// synchronously straight from the bytes given (no copy); pipes and sockets get a copy through the stream,
// with backpressure, and a closed pipe (`| head`) ends the command quietly.
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, statSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

export class Output {
  closed = false;

  private constructor(private readonly fd: number | null, private readonly stream: Writable | null, private readonly ownFd: boolean) {
    stream?.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') this.closed = true;
      else throw err;
    });
  }

  static to(path: string | undefined): Output {
    if (path && path !== '-') return new Output(openSync(path, 'w'), null, true);
    const st = fstatSync(1);
    if (st.isFile() || st.isCharacterDevice()) return new Output(1, null, false);
    return new Output(null, process.stdout, false);
  }

  /**
   * The file at `path` cut to its first `length` bytes (created when `length` is 0), written after them.
   * Throws when it is shorter, or missing while `length` is above 0 (rather than create it empty).
   */
  static continuing(path: string, length: number): Output {
    if (length > 0 && !statSync(path, { throwIfNoEntry: false })) {
      throw new Error(`${path} does not exist, but the checkpoint covers its first ${length} bytes: it is not the file the checkpoint was saved with`);
    }
    const fd = openSync(path, 'a');
    const size = fstatSync(fd).size;
    if (size < length) {
      closeSync(fd);
      throw new Error(`${path} has ${size} bytes, fewer than the ${length} the checkpoint covers: it is not the file the checkpoint was saved with`);
    }
    ftruncateSync(fd, length);
    return new Output(fd, null, true);
  }

  /** Makes what was written to a file durable (nothing to do for a pipe). */
  sync(): void {
    if (this.fd !== null && fstatSync(this.fd).isFile()) fdatasyncSync(this.fd);
  }

  /** Writes bytes that are only valid during the call. */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.closed || bytes.length === 0) return;
    if (this.fd !== null) {
      for (let off = 0; off < bytes.length;) off += writeSync(this.fd, bytes, off);
      return;
    }
    if (this.stream!.write(bytes.slice())) return;
    await new Promise<void>((resolve) => {
      const done = () => { this.stream!.off('drain', done); this.stream!.off('close', done); resolve(); };
      this.stream!.on('drain', done);
      this.stream!.on('close', done);
    });
  }

  async end(): Promise<void> {
    if (this.ownFd && this.fd !== null) closeSync(this.fd);
  }
}
