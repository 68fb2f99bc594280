// What a server writes and loads, from its INFO: the RDB version it writes (which its RESTORE accepts on
// a payload) and, from that, which value layouts exist there; whether one server's values load as they
// are into another.
import type { StreamLayout } from './stream-value.js';

export interface ServerFormat {
  flavor: 'redis' | 'valkey';
  /** The server's version, as INFO reports it. */
  version: string;
  /** The RDB version the server writes: stamped on every payload (a server accepts its own). */
  rdbVersion: number;
}

/** [first version, RDB version], newest first (rdb.h's RDB_VERSION across releases). */
const REDIS_RDB_VERSIONS: Array<[string, number]> = [
  ['8.6', 13], ['7.4', 12], ['7.2', 11], ['7.0', 10], ['5.0', 9], ['4.0', 8], ['3.2', 7], ['2.6', 6],
];
const VALKEY_RDB_VERSIONS: Array<[string, number]> = [['9.0', 80], ['7.2', 11]];

function atLeast(version: string, floor: string): boolean {
  const a = version.split('.').map(Number);
  const b = floor.split('.').map(Number);
  for (let i = 0; i < b.length; i++) {
    if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i]!;
  }
  return true;
}

/** From INFO server's text; throws when it names no version. */
export function serverFormatFromInfo(info: string): ServerFormat {
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  const valkey = field('valkey_version');
  const version = valkey ?? field('redis_version');
  if (version === undefined) throw new Error('the target\'s INFO server names no redis_version');
  const table = valkey ? VALKEY_RDB_VERSIONS : REDIS_RDB_VERSIONS;
  const rdbVersion = table.find(([floor]) => atLeast(version, floor))?.[1] ?? 6;
  return { flavor: valkey ? 'valkey' : 'redis', version, rdbVersion };
}

/**
 * Whether values as `source` stores them load unchanged into `target` (RESTORE checks the payload's
 * version): up to RDB 11 Redis and Valkey share one format, so any target at that version or later;
 * beyond it, only the same family at the same or a later version (Valkey treats Redis 12+ as foreign).
 */
export function loadsAsIs(source: ServerFormat, target: ServerFormat): boolean {
  if (source.rdbVersion > target.rdbVersion) return false;
  return source.rdbVersion <= 11 || source.flavor === target.flavor;
}

/** "Redis 7.0.15, RDB 10", for messages. */
export function describeServer(format: ServerFormat): string {
  return `${format.flavor === 'valkey' ? 'Valkey' : 'Redis'} ${format.version}, RDB ${format.rdbVersion}`;
}

/** Whether the server has functions (FUNCTION LOAD): Redis 7.0+ (RDB 10), and every Valkey. */
export function hasFunctions(format: ServerFormat): boolean {
  return format.rdbVersion >= 10;
}

/** Whether the server has hash field TTLs (Redis 7.4+, Valkey 9.0+). */
export function hasFieldTtls(format: ServerFormat): boolean {
  return hashWithTtlTypeOf(format) !== null;
}

/** Whether streams keep entries-read, entries-added and max-deleted-ID counters (Redis 7.0+, RDB 10). */
export function keepsStreamCounters(format: ServerFormat): boolean {
  return format.rdbVersion >= 10;
}

/** Whether RESTORE takes IDLETIME and FREQ (Redis 5.0+, RDB 9). */
export function restoreTakesEvictionData(format: ServerFormat): boolean {
  return format.rdbVersion >= 9;
}

/** The newest stream layout the target loads, or null before streams (Redis 5.0). */
export function streamLayoutOf(target: ServerFormat): StreamLayout | null {
  if (target.rdbVersion >= 11) return 3;
  if (target.rdbVersion === 10) return 2;
  return target.rdbVersion === 9 ? 1 : null;
}

/** The hash type that carries field TTLs on the target (Redis 7.4's HASH_METADATA, Valkey 9's HASH_2), or null. */
export function hashWithTtlTypeOf(target: ServerFormat): number | null {
  if (target.flavor === 'valkey') return target.rdbVersion >= 80 ? 22 : null;
  return target.rdbVersion >= 12 ? 24 : null;
}
