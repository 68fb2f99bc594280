// The canonical JSON line of an entry (shared/fixtures/rdb/FORMAT.md): the logical content Redis holds
// after loading, independent of encodings, so fixtures, tests and users share one representation.
import { decodeBase64 } from '../core/base64.js';
import type { Int64, RdbEntry, StreamValue } from './entry.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Unsigned bytewise order (memcmp; a prefix sorts first). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function isPlainAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c >= 0x7f || c < 0x20 || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** Bytes as RFC 4648 base64. */
export function base64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/** A byte string as a JSON value: the text when the bytes are valid UTF-8, else {b64}. */
export type ByteText = string | { b64: string };

export function byteText(b: Uint8Array): ByteText {
  try {
    return strictUtf8.decode(b);
  } catch {
    return { b64: base64(b) };
  }
}

/** The bytes a ByteText stands for (byteText's inverse). */
export function byteTextBytes(t: ByteText): Uint8Array {
  return typeof t === 'string' ? new TextEncoder().encode(t) : decodeBase64(t.b64);
}

/** A byte string as JSON text: a JSON string when valid UTF-8, else {"b64":...}. */
export function jsonBytes(b: Uint8Array): string {
  if (b.length < 64 && isPlainAscii(b)) return `"${String.fromCharCode(...b)}"`;
  return JSON.stringify(byteText(b));
}

/** An exact integer. */
function jsonInt(v: Int64): string {
  return typeof v === 'bigint' ? v.toString() : String(v);
}

/** A sorted-set score: ECMAScript Number::toString, with infinities as strings and -0 as 0. */
export function jsonScore(x: number): string {
  if (x === Infinity) return '"inf"';
  if (x === -Infinity) return '"-inf"';
  return String(x === 0 ? 0 : x);
}

function compareScored(a: [Uint8Array, number], b: [Uint8Array, number]): number {
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : compareBytes(a[0], b[0]);
}

/** Decimal strings without leading zeros compare as numbers by length, then character by character. */
function compareDecimal(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Stream IDs "<ms>-<seq>" in numeric order (ms, then seq). */
export function compareIds(a: string, b: string): number {
  const i = a.indexOf('-');
  const j = b.indexOf('-');
  return compareDecimal(a.slice(0, i), b.slice(0, j)) || compareDecimal(a.slice(i + 1), b.slice(j + 1));
}

function byFirst<T extends [Uint8Array, ...unknown[]]>(a: T, b: T): number {
  return compareBytes(a[0], b[0]);
}

function streamJson(s: StreamValue): string {
  const v2 = s.firstId !== undefined;
  let out = `{"length":${jsonInt(s.length)},"last_id":"${s.lastId}"`;
  if (v2) out += `,"first_id":"${s.firstId}"`;
  out += `,"entries":[${s.entries.map((e) => `["${e.id}",[${e.fields.map(jsonBytes).join(',')}]]`).join(',')}]`;
  if (v2) out += `,"max_deleted_id":"${s.maxDeletedId}","entries_added":${jsonInt(s.entriesAdded ?? 0)}`;
  const groups = [...s.groups].sort((a, b) => compareBytes(a.name, b.name)).map((g) => {
    let gj = `{"name":${jsonBytes(g.name)},"last_delivered_id":"${g.lastDeliveredId}"`;
    if (g.entriesRead !== undefined) gj += `,"entries_read":${g.entriesRead === null ? 'null' : jsonInt(g.entriesRead)}`;
    const pel = [...g.pending].sort((a, b) => compareIds(a.id, b.id))
      .map((p) => `["${p.id}",${p.consumer ? jsonBytes(p.consumer) : 'null'},${jsonInt(p.deliveryCount)}]`);
    const consumers = [...g.consumers].sort((a, b) => compareBytes(a.name, b.name))
      .map((c) => `{"name":${jsonBytes(c.name)},"pel":[${[...c.pending].sort(compareIds).map((id) => `"${id}"`).join(',')}]}`);
    return `${gj},"pel":[${pel.join(',')}],"consumers":[${consumers.join(',')}]}`;
  });
  return `${out},"groups":[${groups.join(',')}]}`;
}

/** True for collections Redis drops while loading because they are empty. */
export function isEmptyCollection(e: RdbEntry): boolean {
  return (e.type === 'list' || e.type === 'set' || e.type === 'zset' || e.type === 'hash') && e.value.length === 0;
}

/**
 * The canonical line of an entry (without the trailing newline), or null for entries the format does not
 * represent (module values, and empty collections that Redis skips on load).
 */
export function canonicalLine(e: RdbEntry): string | null {
  if (e.type === 'module' || isEmptyCollection(e)) return null;
  const head = `{"db":${e.db},"key":${jsonBytes(e.key)},"type":"${e.type}","expire_ms":${e.expireMs === null ? 'null' : jsonInt(e.expireMs)},"value":`;
  switch (e.type) {
    case 'string': return `${head}${jsonBytes(e.value)}}`;
    case 'list': return `${head}[${e.value.map(jsonBytes).join(',')}]}`;
    case 'set': return `${head}[${[...e.value].sort(compareBytes).map(jsonBytes).join(',')}]}`;
    case 'zset': return `${head}[${[...e.value].sort(compareScored).map(([m, s]) => `[${jsonBytes(m)},${jsonScore(s)}]`).join(',')}]}`;
    case 'hash': {
      const value = [...e.value].sort(byFirst).map(([f, v]) => `[${jsonBytes(f)},${jsonBytes(v)}]`).join(',');
      const ttls = e.fieldExpires.length
        ? `,"field_expire_ms":[${[...e.fieldExpires].sort(byFirst).map(([f, t]) => `[${jsonBytes(f)},${jsonInt(t)}]`).join(',')}]`
        : '';
      return `${head}[${value}]${ttls}}`;
    }
    case 'stream': return `${head}${streamJson(e.value)}}`;
  }
}
