// DUMP payloads read back as entries by the RDB core, many keys through one parser: each payload is
// written into one RDB stream the parser reads as a file would be (SELECTDB as the db changes, the expire
// time, the type byte, the key, the value's bytes), since a parser per payload costs ~0.4 ms to start
// (2,500 keys a second at best). Each payload's own CRC64 and RDB version are checked here first: the
// stream's are ours, so the parser is told not to verify one.
import { Crc64 } from '../core/crc64.js';
import { RdbError } from '../core/errors.js';
import { RdbEventParser } from '../core/rdb-event-parser.js';
import { EntryBuilder } from '../rdb/entry-builder.js';
import type { RdbEntry } from '../rdb/entry.js';
import { RdbBytes } from '../rdb-write/rdb-bytes.js';

/** A DUMP payload that cannot be read: which key, and why. */
export class DumpPayloadError extends Error {
  override name = 'DumpPayloadError';
}

const OP_EXPIRETIME_MS = 0xfc;
const OP_SELECTDB = 0xfe;
/** The payload's footer: the RDB version (2 bytes) and the CRC64 of everything before the CRC (8 bytes). */
const FOOTER = 10;

export class DumpEntries {
  private readonly crc = new Crc64();
  private readonly record = new RdbBytes();
  private parser: RdbEventParser | null = null;
  private builder = new EntryBuilder();
  /** The RDB version of the stream the parser reads (every payload of a server has its version). */
  private version = -1;
  private db = -1;

  /**
   * The entry of `key` in `db` whose DUMP is `payload`, expiring at `expireMs` (unix ms; null: never).
   * Throws DumpPayloadError for a payload that is damaged or of a format this version cannot read; the
   * next payload is read by a fresh parser.
   */
  async entry(db: number, key: Uint8Array, payload: Uint8Array, expireMs: number | null): Promise<RdbEntry> {
    const what = `the DUMP of key ${JSON.stringify(Buffer.from(key).toString('latin1'))} in db ${db}`;
    if (payload.length < FOOTER + 1) throw new DumpPayloadError(`${what} is ${payload.length} bytes: too short for a payload (type, value, version, CRC64)`);
    this.checkCrc(payload, what);
    const version = payload[payload.length - FOOTER]! | (payload[payload.length - FOOTER + 1]! << 8);
    const parser = await this.parserFor(version);
    const r = this.record;
    r.reset();
    if (db !== this.db) {
      r.byte(OP_SELECTDB);
      r.len(db);
      this.db = db;
    }
    if (expireMs !== null) {
      r.byte(OP_EXPIRETIME_MS);
      r.int64le(expireMs);
    }
    r.byte(payload[0]!);
    r.string(key);
    r.raw(payload.subarray(1, payload.length - FOOTER));
    try {
      parser.write(r.bytes(), (batch) => this.builder.consume(batch));
    } catch (err) {
      this.parser = null; // its error is sticky: the next payload starts a new stream
      const reason = err instanceof RdbError ? err.message : String(err);
      throw new DumpPayloadError(`${what} cannot be read: ${reason}`, { cause: err });
    }
    const [entry] = this.builder.take();
    if (!entry) {
      this.parser = null;
      throw new DumpPayloadError(`${what} ended before its value did (${payload.length} bytes)`);
    }
    return entry;
  }

  private checkCrc(payload: Uint8Array, what: string): void {
    const stored = new DataView(payload.buffer, payload.byteOffset + payload.length - 8, 8).getBigUint64(0, true);
    // Servers built without checksums write 0, as RESTORE accepts.
    if (stored !== 0n && this.crc.update(0n, payload.subarray(0, payload.length - 8)) !== stored) {
      throw new DumpPayloadError(`${what} fails its CRC64 check`);
    }
  }

  /** A parser reading a stream of `version`, its header written (a new one when the version changes). */
  private async parserFor(version: number): Promise<RdbEventParser> {
    if (this.parser && version === this.version) return this.parser;
    const parser = await RdbEventParser.create({ verifyChecksum: false });
    this.builder = new EntryBuilder();
    const header = version >= 80 ? `VALKEY${String(version).padStart(3, '0')}` : `REDIS${String(version).padStart(4, '0')}`;
    parser.write(new TextEncoder().encode(header), (batch) => this.builder.consume(batch));
    this.parser = parser;
    this.version = version;
    this.db = -1;
    return parser;
  }
}
