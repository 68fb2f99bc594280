// How a long-running command (sync, publish) reports: on a terminal, its events on standard error and one
// status line kept up to date below them; otherwise JSON lines on standard output.
import { SingleBar } from 'cli-progress';
import type { RunEvent } from '../pipeline/run-event.js';
import { CliError } from './cli-error.js';

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

/**
 * Reports a job's events (JSON lines on standard output with `json`, else the terminal status line and
 * notes on standard error) and runs it to its end: Ctrl-C, SIGTERM or a reader of standard output that
 * goes away (| head) stop it cleanly; a failure becomes the command's error.
 */
export class JobReporter<S, P extends string> {
  private readonly terminal: TerminalStatus<S> | null;
  private outputClosed = false;

  constructor(private readonly json: boolean, line: (status: S) => string) {
    this.terminal = json ? null : new TerminalStatus(Boolean(process.stderr.isTTY), line);
  }

  readonly onEvent = (event: RunEvent<S, P>): void => {
    if (this.json && !this.outputClosed) process.stdout.write(`${jsonStatusLine(event)}\n`);
    else if (event.type === 'status') this.terminal?.show(event.status);
    else this.terminal?.note(event.type === 'warning' ? `warning: ${event.message}` : event.detail);
  };

  /** Waits until `job` ends; `cleanup` runs after it, whatever the outcome. */
  async runToEnd(job: { stop(): void; rescan(): boolean; done: Promise<unknown> }, cleanup: () => Promise<void> = async () => {}): Promise<void> {
    const stop = () => job.stop();
    const rescan = () => rescanAsked(job, (message) => this.onEvent({ type: 'warning', message }));
    process.stdout.on('error', () => {
      this.outputClosed = true;
      stop();
    });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.on('SIGUSR1', rescan);
    try {
      await job.done;
    } catch (err) {
      throw new CliError((err as Error).message);
    } finally {
      await cleanup();
      this.terminal?.stop();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGUSR1', rescan);
    }
  }
}

/** SIGUSR1: a job reading its source in scan mode reads every key again; any other says it cannot. */
export function rescanAsked(job: { rescan(): boolean }, warn: (message: string) => void): void {
  if (!job.rescan()) warn('SIGUSR1 asks for a rescan, which only scan mode does (--source-mode scan): ignored');
}
