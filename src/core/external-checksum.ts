// Verifying an RDB's CRC64 away from the parser. The checksum is one long serial computation over every
// byte; on a large file it costs as much as parsing does. A source that can be read twice (a file) can have
// it computed on a second thread while the parser, told not to verify, runs on the first.
import { RdbError } from './errors.js';
import type { RdbEventParser, RdbParserOptions } from './rdb-event-parser.js';

/** Computes the CRC64 of the bytes the parser reads, from byte `from` on, somewhere else. */
export interface ExternalChecksum {
  /** The bytes before this the parser checksums itself: create it with checksumPrefix: from. */
  readonly from: number;
  /** CRC-64/Jones (as Redis computes it, starting from 0) of the source's bytes from `from` to `length`. */
  crc64(length: number): Promise<bigint>;
  /** Stops the computation and frees what it holds; safe to call more than once. */
  close(): void;
}

/** The parser options that leave the checksum past its prefix to `checksum` (none when it is null). */
export function checksumOptions(checksum: ExternalChecksum | null): Pick<RdbParserOptions, 'verifyChecksum' | 'checksumPrefix'> {
  return checksum ? { verifyChecksum: false, checksumPrefix: checksum.from } : {};
}

/**
 * After a parser created with verifyChecksum: false and checksumPrefix: checksum.from is done, checks the stored checksum against the one
 * computed by `checksum`; throws the same RdbError the parser would have. Returns whether there was a
 * checksum to verify. Closes `checksum`.
 */
export async function verifyChecksumWith(parser: RdbEventParser, checksum: ExternalChecksum): Promise<boolean> {
  try {
    const trailer = parser.unverifiedChecksum;
    if (!trailer) return false;
    const { length, prefixLength, prefixCrc } = trailer;
    const computed = prefixLength === length ? BigInt.asUintN(64, prefixCrc)
      : parser.joinCrc(prefixCrc, await checksum.crc64(length), length - prefixLength);
    if (computed !== trailer.stored) {
      throw RdbError.of('checksum', trailer.length, Number(BigInt.asUintN(32, computed)));
    }
    return true;
  } finally {
    checksum.close();
  }
}
