// A progress line on standard error for long work: bytes done, the rate, and with a known total the
// share and ETA. Shown only when standard error is a terminal and the work has lasted a second; piped or
// redirected, nothing is printed (the data on standard output stays clean, logs stay short).
import { SingleBar } from 'cli-progress';

const SHOW_AFTER_MS = 1000;

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export class ByteProgress {
  private bar: SingleBar | null = null;
  private startedAt = 0;

  /** `stream` null: never shown (e.g. when the command's own output is going to the same terminal). */
  constructor(private readonly label: string, private readonly stream: NodeJS.WriteStream | null = process.stderr) {}

  /** `bytes` done so far of `total` (null: unknown, e.g. a diskless snapshot or standard input). */
  update(bytes: number, total: number | null): void {
    if (!this.stream?.isTTY) return;
    const now = Date.now();
    this.startedAt ||= now;
    if (!this.bar && now - this.startedAt < SHOW_AFTER_MS) return;
    const seconds = Math.max((now - this.startedAt) / 1000, 0.001);
    const payload = { done: mb(bytes), size: total === null ? '' : mb(total), rate: `${mb(bytes / seconds)}/s` };
    if (!this.bar) {
      const format = total === null
        ? `${this.label} {done} ({rate})`
        : `${this.label} [{bar}] {percentage}% {done} of {size} ({rate}, ETA {eta_formatted})`;
      this.bar = new SingleBar({ stream: this.stream, format, hideCursor: true, clearOnComplete: true, barsize: 24, fps: 5 });
      this.bar.start(total ?? Infinity, bytes, payload);
    } else {
      this.bar.update(bytes, payload);
    }
  }

  /** Removes the line (before other output, or when the work is done). */
  stop(): void {
    this.bar?.stop();
    this.bar = null;
    this.startedAt = 0;
  }
}
