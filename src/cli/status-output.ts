// How a long-running command (sync, publish) reports: on a terminal, its events on standard error and one
// status line kept up to date below them; otherwise JSON lines on standard output.
import { SingleBar } from 'cli-progress';

/** Events on standard error; on a terminal also one status line (`line(status)`) kept up to date below them. */
export class TerminalStatus<S> {
  private bar: SingleBar | null = null;

  constructor(private readonly live: boolean, private readonly line: (status: S) => string) {}

  show(status: S): void {
    if (!this.live) return;
    if (!this.bar) {
      this.bar = new SingleBar({ stream: process.stderr, format: '{line}', hideCursor: true, clearOnComplete: true, fps: 2 });
      this.bar.start(1, 0, { line: this.line(status) });
    } else this.bar.update(0, { line: this.line(status) });
  }

  note(text: string): void {
    this.stop();
    process.stderr.write(`redistap: ${text}\n`);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

/** A status, phase or warning event as one JSON line, stamped with the time. */
export function jsonStatusLine(event: { type: 'status'; status: object } | { type: string }): string {
  const time = new Date().toISOString();
  if (event.type === 'status' && 'status' in event) return JSON.stringify({ time, type: 'status', ...event.status });
  return JSON.stringify({ time, ...event });
}
