// What the tests that rebuild a keyspace in a live server share: the fixtures' RDB versions and the one
// whose checksum is broken on purpose, entries parsed whole, value spans and the DUMP payloads they make,
// RESTORE commands, `redis-cli --pipe`, and the shared canonical dumper's lines with the keys that have
// expired since the oracle was made left out.
import { spawnSync } from 'node:child_process';
import * as abi from '../../src/core/abi.js';
import { Crc64 } from '../../src/core/crc64.js';
import type { EventBatch } from '../../src/core/event-batch.js';
import { RdbEventParser } from '../../src/core/rdb-event-parser.js';
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
 * RESTORE ... REPLACE ABSTTL for each entry (SELECT as the db changes), its payload from `payloadOf`, and
 * IDLETIME or FREQ where the file keeps the key's LRU or LFU data. Module values and empty collections
 * are left out: a loading server drops empty ones, RESTORE refuses them.
 */
export function restoreCommands(entries: RdbEntry[], payloadOf: (entry: RdbEntry, index: number) => Uint8Array): Uint8Array[] {
  const commands: Uint8Array[] = [];
  let db = -1;
  entries.forEach((e, i) => {
    if (e.type === 'module' || isEmptyCollection(e)) return;
    if (e.db !== db) commands.push(encodeCommand(['SELECT', (db = e.db)]));
    const eviction = e.idleSeconds !== undefined ? ['IDLETIME', e.idleSeconds] : e.lfuFreq !== undefined ? ['FREQ', e.lfuFreq] : [];
    commands.push(encodeCommand(['RESTORE', e.key, e.expireMs ?? 0, payloadOf(e, i), 'REPLACE', 'ABSTTL', ...eviction]));
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

export interface Span {
  db: number;
  key: Uint8Array;
  type: number;
  start: number;
  end: number;
}

/** Every key's db, name, type code and value span, feeding the file in pieces of `piece` bytes (0: whole). */
export async function spansOf(data: Uint8Array, piece = 0, verifyChecksum = true): Promise<Span[]> {
  const parser = await RdbEventParser.create({ valueSpans: true, verifyChecksum });
  const spans: Span[] = [];
  let open: Span | null = null;
  let db = 0;
  const sink = (b: EventBatch) => {
    for (let i = 0; i < b.count; i++) {
      const kind = b.kind(i);
      if (kind === abi.E_SELECT_DB) db = b.n1(i);
      else if (kind === abi.E_KEY) open = { db, key: b.bytes(i), type: b.aux(i), start: -1, end: -1 };
      else if (kind === abi.E_VALUE_SPAN) open!.start = b.n1(i);
      else if (kind === abi.E_KEY_END) {
        open!.end = b.n2(i);
        spans.push(open!);
        open = null;
      }
    }
  };
  if (piece === 0) parser.write(data, sink);
  else for (let at = 0; at < data.length; at += piece) parser.write(data.subarray(at, at + piece), sink);
  parser.end(sink);
  return spans;
}

const crc = new Crc64();

/** The DUMP payload of a value as the file holds it. */
export function rawPayload(file: Uint8Array, span: Span, version: number): Uint8Array {
  const body = new Uint8Array(1 + (span.end - span.start) + 2);
  body[0] = span.type & 0xff; // Valkey's own codes are reported + 256
  body.set(file.subarray(span.start, span.end), 1);
  body[body.length - 2] = version & 0xff;
  body[body.length - 1] = version >> 8;
  const out = new Uint8Array(body.length + 8);
  out.set(body);
  new DataView(out.buffer).setBigUint64(body.length, crc.update(0n, body), true);
  return out;
}
