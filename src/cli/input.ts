// Opening the dump a command reads: a path or "-" for standard input, with a clear error when missing.
import { statSync } from 'node:fs';
import { openFile } from '../node.js';
import { CliError } from './cli-error.js';

export interface CliInput {
  source: AsyncIterable<Uint8Array>;
  /** Size in bytes when known (files), for progress. */
  size: number | null;
  name: string;
}

export function openInput(path: string): CliInput {
  if (path === '-') return { source: process.stdin, size: null, name: 'standard input' };
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new CliError(`${path} is a directory, not an RDB file`);
    size = st.size;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return { source: openFile(path), size, name: path };
}
