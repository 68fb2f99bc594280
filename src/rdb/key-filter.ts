// Key selection shared by every command: databases, value types, key pattern and prefixes, expired or
// not, and (for the commands that estimate memory) a minimum size.
import type { RdbMetadata, RdbValueType } from './entry.js';
import { valueTypeOf } from './encodings.js';
import { savedAtMs } from './metadata-reader.js';

export interface KeySelection {
  dbs?: number[];
  types?: RdbValueType[];
  /** Matched against the key decoded as UTF-8 (invalid bytes become U+FFFD). */
  keyPattern?: RegExp;
  /** Keys that begin with one of these (compared as UTF-8 bytes). */
  prefixes?: string[];
  /** true: only keys whose expire time had passed when the dump was saved; false: only the others. */
  expired?: boolean;
  /** Only keys whose estimated memory is at least this many bytes (applied where memory is estimated). */
  minMemory?: number;
}

/** Decides about a key before its value is read (its expire time in Unix ms, or null). */
export type KeyPredicate = (db: number, key: Uint8Array, rdbType: number, expireMs: number | null) => boolean;

const utf8 = new TextDecoder('utf-8');
const encoder = new TextEncoder();

/** The moment expire times are judged and TTLs measured from: the save time, or the analysis time when the dump has none. */
export interface TtlReference {
  atMs: number;
  source: 'saved' | 'analysis';
}

/**
 * The TTL reference of the dump whose metadata `metadata` returns; `nowMs` stands in when it has no save
 * time. Fixed at the first call: the AUX fields that carry the save time come before every key, and the
 * first call comes from a key (or the end of the file), so later calls cost nothing.
 */
export function ttlReferenceOf(metadata: () => RdbMetadata, nowMs = Date.now()): () => TtlReference {
  let reference: TtlReference | null = null;
  return () => {
    if (reference) return reference;
    const saved = savedAtMs(metadata());
    return (reference = saved === null ? { atMs: nowMs, source: 'analysis' } : { atMs: saved, source: 'saved' });
  };
}

/** Whether a key with this expire time had expired at `nowMs` (Redis: once now > when). */
export function isExpiredAt(expireMs: number | null, nowMs: number): boolean {
  return expireMs !== null && expireMs < nowMs;
}

/** Whether `key` begins with the bytes of `prefix`. */
export function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

/**
 * A predicate for the key-level part of a selection (everything but minMemory), or undefined when it
 * selects every key. `referenceMs` tells when "expired" is judged (see ttlReferenceOf).
 */
export function keyPredicate(sel: KeySelection, referenceMs: () => number): KeyPredicate | undefined {
  const dbs = sel.dbs?.length ? new Set(sel.dbs) : null;
  const types = sel.types?.length ? new Set(sel.types) : null;
  const pattern = sel.keyPattern ?? null;
  const prefixes = sel.prefixes?.length ? sel.prefixes.map((p) => encoder.encode(p)) : null;
  const expired = sel.expired ?? null;
  if (!dbs && !types && !pattern && !prefixes && expired === null) return undefined;
  return (db, key, rdbType, expireMs) =>
    (!dbs || dbs.has(db)) &&
    (!types || types.has(valueTypeOf(rdbType))) &&
    (!prefixes || prefixes.some((p) => startsWith(key, p))) &&
    (expired === null || isExpiredAt(expireMs, referenceMs()) === expired) &&
    (!pattern || pattern.test(utf8.decode(key)));
}
