// Typed errors for everything the core reports: the kind, the absolute byte offset and a message a
// person can act on.
import * as abi from './abi.js';

export type RdbErrorKind =
  | 'truncated' | 'bad-magic' | 'unsupported-version' | 'unknown-type' | 'bad-length' | 'lzf-corrupt'
  | 'lzf-length' | 'ziplist-corrupt' | 'listpack-corrupt' | 'intset-corrupt' | 'zipmap-corrupt'
  | 'stream-corrupt' | 'checksum' | 'too-large' | 'bad-score' | 'module-corrupt' | 'quicklist-corrupt'
  | 'unsupported-type' | 'bad-value' | 'trailing-data' | 'internal';

const KINDS: Record<number, RdbErrorKind> = {
  [abi.ERR_TRUNCATED]: 'truncated',
  [abi.ERR_BAD_MAGIC]: 'bad-magic',
  [abi.ERR_UNSUPPORTED_VERSION]: 'unsupported-version',
  [abi.ERR_UNKNOWN_TYPE]: 'unknown-type',
  [abi.ERR_BAD_LENGTH]: 'bad-length',
  [abi.ERR_LZF_CORRUPT]: 'lzf-corrupt',
  [abi.ERR_LZF_LENGTH]: 'lzf-length',
  [abi.ERR_ZIPLIST_CORRUPT]: 'ziplist-corrupt',
  [abi.ERR_LISTPACK_CORRUPT]: 'listpack-corrupt',
  [abi.ERR_INTSET_CORRUPT]: 'intset-corrupt',
  [abi.ERR_ZIPMAP_CORRUPT]: 'zipmap-corrupt',
  [abi.ERR_STREAM_CORRUPT]: 'stream-corrupt',
  [abi.ERR_CHECKSUM]: 'checksum',
  [abi.ERR_TOO_LARGE]: 'too-large',
  [abi.ERR_BAD_SCORE]: 'bad-score',
  [abi.ERR_MODULE_CORRUPT]: 'module-corrupt',
  [abi.ERR_QUICKLIST_CORRUPT]: 'quicklist-corrupt',
  [abi.ERR_UNSUPPORTED_TYPE]: 'unsupported-type',
  [abi.ERR_INTERNAL]: 'internal',
  [abi.ERR_BAD_VALUE]: 'bad-value',
};

/** Codes outside Redis and Valkey that other products write, named so the error says what the file is. */
const FOREIGN_CODES: Record<number, string> = {
  101: 'Redis Enterprise GCAS opcode',
  102: 'Redis Enterprise GFLAGS opcode',
  107: 'Redis Enterprise RAM_LRU opcode',
  121: 'Redis Enterprise SLOT_NUM opcode',
};

const KNOWN_LATER: Record<number, string> = {
  6: 'pre-GA module value (Redis 4.0 release candidates), which cannot be read without its module',
  23: 'Valkey PATH_HASH (format not public)',
  26: 'STREAM_LISTPACKS_4 (RDB 13+)',
  27: 'STREAM_LISTPACKS_5 (Redis RDB 14)',
  28: 'ARRAY (Redis RDB 14)',
  242: 'HASH_TEMPLATE (Redis RDB 15) / UPDATE (Valkey)',
};

export interface RdbErrorContext {
  version?: number;
  flavor?: 'redis' | 'valkey';
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

function describe(kind: RdbErrorKind, detail: number, ctx: RdbErrorContext): string {
  const fmt = ctx.version ? ` (${ctx.flavor === 'valkey' ? 'Valkey' : 'Redis'} RDB version ${ctx.version})` : '';
  switch (kind) {
    case 'truncated': return 'the input ended in the middle of the RDB data (file truncated or stream cut)';
    case 'bad-magic': return 'not an RDB file: it does not start with "REDIS" or "VALKEY" followed by a version number';
    case 'unsupported-version': return `unsupported RDB version ${detail}: this parser reads Redis RDB 1-15 and Valkey 80-81`;
    case 'unknown-type': {
      const name = FOREIGN_CODES[detail] ?? KNOWN_LATER[detail];
      return `unknown value type or opcode ${detail} (${hex(detail)})${name ? `: ${name}` : ''}${fmt}`;
    }
    case 'unsupported-type': return `value type ${detail} is not supported: ${KNOWN_LATER[detail] ?? 'unknown'}${fmt}`;
    case 'bad-length': return `invalid length encoding${detail ? ` (byte ${hex(detail)})` : ''}`;
    case 'lzf-corrupt': return 'corrupt LZF-compressed string (a back-reference points before the start of the output)';
    case 'lzf-length': return `LZF-compressed string does not decompress to its declared length (${detail} bytes)`;
    case 'ziplist-corrupt': return 'corrupt ziplist';
    case 'listpack-corrupt': return 'corrupt listpack';
    case 'intset-corrupt': return 'corrupt intset';
    case 'zipmap-corrupt': return 'corrupt zipmap';
    case 'stream-corrupt': return 'corrupt stream value';
    case 'checksum': return 'CRC64 checksum mismatch: the data does not match the checksum stored after the EOF marker (the file is corrupt; --no-checksum reads it anyway)';
    case 'too-large': return `a value of ${detail} bytes exceeds the parser's memory limit (maxScratchBytes)`;
    case 'bad-score': return 'invalid sorted-set score (NaN)';
    case 'module-corrupt': return `corrupt module data (opcode ${detail})`;
    case 'quicklist-corrupt': return `corrupt quicklist node (container ${detail})`;
    case 'bad-value': return `invalid value (${detail})`;
    case 'trailing-data': return `${detail} unexpected bytes follow the end of the RDB (EOF marker and checksum)`;
    case 'internal': return `internal parser error ${detail}`;
  }
}

export class RdbError extends Error {
  override readonly name = 'RdbError';
  /** What went wrong, as a stable identifier. */
  readonly kind: RdbErrorKind;
  /** Absolute byte offset in the input where the problem was found. */
  readonly offset: number;
  /** The number the message names (type code, length, version...). */
  readonly detail: number;

  constructor(kind: RdbErrorKind, offset: number, detail: number, message: string) {
    super(`${message} at byte offset ${offset}`);
    this.kind = kind;
    this.offset = offset;
    this.detail = detail;
  }

  /** The error of a given kind, with its standard message. */
  static of(kind: RdbErrorKind, offset: number, detail: number, ctx: RdbErrorContext = {}): RdbError {
    return new RdbError(kind, offset, detail, describe(kind, detail, ctx));
  }

  /** The error the core reported (its error code, offset and detail). */
  static fromCore(code: number, offset: number, detail: number, ctx: RdbErrorContext = {}): RdbError {
    return RdbError.of(KINDS[code] ?? 'internal', offset, detail, ctx);
  }
}
