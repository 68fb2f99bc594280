// Buffered text output that respects backpressure and treats a closed pipe (`| head`) as a normal end.
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

const FLUSH_AT = 1 << 20;

export class LineWriter {
  private parts: string[] = [];
  private size = 0;
  closed = false;

  constructor(private readonly out: Writable) {
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') this.closed = true;
      else throw err;
    });
  }

  static to(path: string | undefined): LineWriter {
    return new LineWriter(path && path !== '-' ? createWriteStream(path) : process.stdout);
  }

  /** Queues a line (a newline is added); resolves at once unless the buffer must drain first. */
  line(text: string): Promise<void> | undefined {
    this.parts.push(text, '\n');
    this.size += text.length + 1;
    return this.size >= FLUSH_AT ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0 || this.closed) return;
    const chunk = this.parts.join('');
    this.parts = [];
    this.size = 0;
    if (!this.out.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => { this.out.off('drain', done); this.out.off('close', done); resolve(); };
        this.out.on('drain', done);
        this.out.on('close', done);
      });
    }
  }

  async end(): Promise<void> {
    await this.flush();
    if (this.out !== process.stdout && !this.closed) {
      await new Promise<void>((resolve) => this.out.end(resolve));
    }
  }
}
