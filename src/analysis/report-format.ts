// How the report's numbers and keys read for people, shared by the CLI's tables and the browser
// inspector so both say the same thing.
import type { ByteText } from '../rdb/canonical-json.js';

/** Sizes in binary units, one decimal. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** An integer with thousands separators. */
export const formatCount = (n: number) => n.toLocaleString('en-US');

/** `part` as a percentage of `whole`, one decimal ('-' when the whole is 0). */
export const formatShare = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '-');

/** A key as text: control characters escaped, a key that is not UTF-8 as its base64, cut to `max` characters. */
export function keyText(key: ByteText, max = 60): string {
  const text = typeof key === 'string' ? key.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`) : `base64:${key.b64}`;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Time left until `expireMs`, judged at `atMs`: minutes, hours or days; '-' without a TTL. */
export function ttlText(expireMs: number | null, atMs: number): string {
  if (expireMs === null) return '-';
  const s = (expireMs - atMs) / 1000;
  if (s < 0) return 'expired';
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86400).toFixed(1)}d`;
}
