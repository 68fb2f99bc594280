// Output of a command: bytes to standard output or a file, with backpressure, and a closed pipe
// (`| head`) treated as a normal end rather than an error.
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

export class Output {
  closed = false;

  constructor(private readonly out: Writable) {
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') this.closed = true;
      else throw err;
    });
  }

  static to(path: string | undefined): Output {
    return new Output(path && path !== '-' ? createWriteStream(path) : process.stdout);
  }

  /** Writes bytes the caller will not touch again; resolves once the destination wants more. */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.closed || bytes.length === 0) return;
    if (this.out.write(bytes)) return;
    await new Promise<void>((resolve) => {
      const done = () => { this.out.off('drain', done); this.out.off('close', done); resolve(); };
      this.out.on('drain', done);
      this.out.on('close', done);
    });
  }

  async end(): Promise<void> {
    if (this.out !== process.stdout && !this.closed) {
      await new Promise<void>((resolve) => this.out.end(resolve));
    }
  }
}
