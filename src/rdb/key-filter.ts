// Key selection shared by every command: databases, value types and a key pattern.
import type { EntryFilter } from './entry-builder.js';
import type { RdbValueType } from './entry.js';
import { valueTypeOf } from './encodings.js';

export interface KeySelection {
  dbs?: number[];
  types?: RdbValueType[];
  /** Matched against the key decoded as UTF-8 (invalid bytes become U+FFFD). */
  keyPattern?: RegExp;
}

const utf8 = new TextDecoder('utf-8');

/** An EntryFilter for the selection, or undefined when it selects everything. */
export function keyFilter(sel: KeySelection): EntryFilter | undefined {
  const dbs = sel.dbs?.length ? new Set(sel.dbs) : null;
  const types = sel.types?.length ? new Set(sel.types) : null;
  const pattern = sel.keyPattern ?? null;
  if (!dbs && !types && !pattern) return undefined;
  return (db, key, rdbType) =>
    (!dbs || dbs.has(db)) &&
    (!types || types.has(valueTypeOf(rdbType))) &&
    (!pattern || pattern.test(utf8.decode(key)));
}
