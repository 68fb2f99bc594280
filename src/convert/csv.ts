// One CSV row per key, with the columns redis-rdb-tools' memory report has (spreadsheets and scripts
// built on it read these): database, type, key, size_in_bytes, encoding, num_elements,
// len_largest_element, expiry. size_in_bytes is the estimated memory, encoding the one after a load,
// expiry an ISO 8601 UTC time (empty: none).
import type { KeyRecord } from '../analysis/key-measurer.js';
import { escapedKey } from './key-text.js';

export const CSV_HEADER = 'database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry\r\n';

/** Dates JavaScript can write (±8.64e15 ms); a later expire time is written as its number of ms. */
const MAX_DATE_MS = 8.64e15;

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
function field(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function expiry(ms: number | null): string {
  if (ms === null) return '';
  return Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : String(ms);
}

/** What a row shows of a key (a KeyRecord, or a report's key row with its key as bytes). */
export type CsvKey = Pick<KeyRecord, 'db' | 'type' | 'key' | 'memory' | 'encoding' | 'elements' | 'largestElement' | 'expireMs'>;

export function csvRow(r: CsvKey): string {
  return `${r.db},${r.type},${field(escapedKey(r.key))},${r.memory},${r.encoding},${r.elements},${r.largestElement},${expiry(r.expireMs)}\r\n`;
}
