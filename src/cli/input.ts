// Opening the dump a command reads: a path or "-" for standard input, with a clear error when missing.
import { openSync, readSync, statSync } from 'node:fs';
import { openFile } from '../node.js';
import { FileChecksum } from '../node/file-checksum.js';
import type { ExternalChecksum } from '../core/external-checksum.js';
import { CliError } from './cli-error.js';

export interface CliInput {
  source: AsyncIterable<Uint8Array>;
  /** Size in bytes when known (files), for progress. */
  size: number | null;
  name: string;
  /** For files: fills a buffer synchronously (0 at the end), so parsers can read into their own memory. */
  readInto: ((into: Uint8Array) => number) | null;
  /** For large files: their checksum computed on another thread (null: let the parser verify it). */
  parallelChecksum: () => ExternalChecksum | null;
}

export function openInput(path: string): CliInput {
  if (path === '-') {
    return { source: process.stdin, size: null, name: 'standard input', readInto: null, parallelChecksum: () => null };
  }
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new CliError(`${path} is a directory, not an RDB file`);
    size = st.size;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let fd: number | null = null;
  const readInto = (into: Uint8Array) => readSync(fd ??= openSync(path, 'r'), into, 0, into.length, null);
  // The stream is opened only if someone iterates it.
  const source = { [Symbol.asyncIterator]: () => openFile(path)[Symbol.asyncIterator]() };
  return { source, size, name: path, readInto, parallelChecksum: () => FileChecksum.worthwhile(path) };
}
