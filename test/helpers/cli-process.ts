// The built CLI (dist/cli/main.js) as a child process that keeps running: its standard output lines and
// error text as they come, and its exit code.
import { spawn, type ChildProcess } from 'node:child_process';

const MAIN = new URL('../../dist/cli/main.js', import.meta.url).pathname;

export interface CliProcess {
  child: ChildProcess;
  lines: string[];
  err: () => string;
  exit: Promise<number | null>;
}

/** Runs `redistap <args>` with these environment variables added to the test's. */
export function cli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines: string[] = [];
  let err = '';
  child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, err: () => err, exit };
}
