// What the tests that rebuild a keyspace in a live server share: the fixtures' RDB versions and the one
// whose checksum is broken on purpose, entries parsed whole, RESTORE commands, `redis-cli --pipe`, and
// the shared canonical dumper's lines with the keys that have expired since the oracle was made left out.
import { spawnSync } from 'node:child_process';
import { isEmptyCollection } from '../../src/rdb/canonical-json.js';
import type { RdbEntry } from '../../src/rdb/entry.js';
import { parseRdb } from '../../src/rdb/parse.js';
import { encodeCommand } from '../../src/resp/encode.js';
import { sharedTool } from './redis-server.js';

/** Fixtures whose stored checksum is wrong on purpose; their oracle was made with rdbchecksum no. */
export const CHECKSUM_BROKEN = new Set(['pub-librdb-invalid_chksum_v8']);

/** The RDB version in a file's header: REDIS0011 → 11, VALKEY080 → 80. */
export function rdbVersionOf(file: Uint8Array): number {
  return Number(Buffer.from(file.subarray(5, 9)).toString('latin1').replace(/^\D+/, ''));
}

export async function parseAll(data: Uint8Array, verifyChecksum = true): Promise<RdbEntry[]> {
  const entries: RdbEntry[] = [];
  for await (const e of parseRdb(data, { verifyChecksum })) entries.push(e);
  return entries;
}

/**
 * RESTORE ... REPLACE ABSTTL for each entry (SELECT as the db changes), its payload from `payloadOf`.
 * Module values and empty collections are left out: a loading server drops empty ones, RESTORE refuses them.
 */
export function restoreCommands(entries: RdbEntry[], payloadOf: (entry: RdbEntry, index: number) => Uint8Array): Uint8Array[] {
  const commands: Uint8Array[] = [];
  let db = -1;
  entries.forEach((e, i) => {
    if (e.type === 'module' || isEmptyCollection(e)) return;
    if (e.db !== db) commands.push(encodeCommand(['SELECT', (db = e.db)]));
    commands.push(encodeCommand(['RESTORE', e.key, e.expireMs ?? 0, payloadOf(e, i), 'REPLACE', 'ABSTTL']));
  });
  return commands;
}

/** Sends the bytes with `redis-cli --pipe`; its summary counts, and its output (printed when errors > 0). */
export function pipeInto(port: number, bytes: Uint8Array): { errors: number; replies: number; output: string } {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--pipe'], { input: bytes, encoding: 'utf8', maxBuffer: 1 << 28 });
  const summary = /errors: (\d+), replies: (\d+)/.exec(r.stdout);
  if (!summary) throw new Error(`redis-cli --pipe gave no summary (status ${r.status}): ${r.stdout}${r.stderr}`);
  if (Number(summary[1]) > 0) console.log(r.stdout.slice(0, 4000));
  return { errors: Number(summary[1]), replies: Number(summary[2]), output: r.stdout };
}

/** A live server's keyspace as the shared canonical dumper writes it (legacy: only pre-RDB-10 stream members). */
export function canonicalDump(port: number, legacyStreams = false): string[] {
  return sharedTool('redis-canonical-dump', ['--port', String(port), ...(legacyStreams ? ['--legacy-streams'] : [])])
    .split('\n').filter((l) => l !== '');
}

/**
 * An oracle's lines without the keys whose TTL has passed: the fixtures' oracles were read with a faked
 * clock that kept them, a server with the real clock has them expired (or never creates them).
 */
export function unexpired(lines: string[], now = Date.now()): string[] {
  return lines.filter((line) => {
    const ms = (JSON.parse(line) as { expire_ms: number | null }).expire_ms;
    return ms === null || ms > now;
  });
}
