// The Node entry: the browser API plus file paths and Node streams as RDB sources.
import { createReadStream } from 'node:fs';
import { parseRdb as parseRdbFrom, type ParseRdbOptions, type RdbByteSource, type RdbReader } from './rdb/parse.js';

export * from './browser.js';

/** Like the browser parseRdb, but a string is a file path (read in 1 MiB chunks). */
export function parseRdb(source: RdbByteSource | string, options: ParseRdbOptions = {}): RdbReader {
  return parseRdbFrom(typeof source === 'string' ? openFile(source) : source, options);
}

export function openFile(path: string): AsyncIterable<Uint8Array> {
  return createReadStream(path, { highWaterMark: 1 << 20 });
}
