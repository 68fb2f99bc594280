// A quick overview of a dump: versions, keys per database and type, expiring keys.
import type { RdbEntry, RdbMetadata } from './entry.js';
import { keyPredicate, ttlReferenceOf, type KeySelection } from './key-filter.js';
import { writerOf } from './metadata-reader.js';
import { parseRdb, type ParseRdbOptions, type RdbByteSource, type RdbReader } from './parse.js';

export interface RdbSummary {
  rdbVersion: number;
  flavor: 'redis' | 'valkey';
  /** The writer's version from the redis-ver / valkey-ver AUX field, when present. */
  serverVersion: string | null;
  checksum: RdbMetadata['checksum'];
  keys: number;
  expiringKeys: number;
  keysByDb: Map<number, number>;
  keysByType: Map<string, number>;
  keysByEncoding: Map<string, number>;
  functions: number;
  trailingBytes: number;
}

function bump<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export function emptySummary(): RdbSummary {
  return {
    rdbVersion: 0, flavor: 'redis', serverVersion: null, checksum: null, keys: 0, expiringKeys: 0,
    keysByDb: new Map(), keysByType: new Map(), keysByEncoding: new Map(), functions: 0, trailingBytes: 0,
  };
}

export function addEntry(s: RdbSummary, e: RdbEntry): void {
  s.keys++;
  if (e.expireMs !== null) s.expiringKeys++;
  bump(s.keysByDb, e.db);
  bump(s.keysByType, e.type);
  bump(s.keysByEncoding, `${e.type}/${e.encoding}`);
}

export function addMetadata(s: RdbSummary, m: RdbMetadata): void {
  s.rdbVersion = m.version;
  s.flavor = m.flavor;
  s.checksum = m.checksum;
  s.functions = m.functions.length;
  s.trailingBytes = m.trailingBytes;
  s.serverVersion = writerOf(m.aux)?.version ?? null;
}

/** Reads the whole dump and summarizes the selected keys ("expired" judged at the dump's save time, else now). */
export async function summarizeRdb(source: RdbByteSource, options: ParseRdbOptions & { selection?: KeySelection } = {}): Promise<RdbSummary> {
  const s = emptySummary();
  const reference = ttlReferenceOf(() => reader.metadata);
  const filter = options.selection && keyPredicate(options.selection, () => reference().atMs);
  const reader: RdbReader = parseRdb(source, { ...options, filter });
  for await (const e of reader) addEntry(s, e);
  addMetadata(s, reader.metadata);
  return s;
}
