// Protocol errors of the RESP core: what was wrong, at which byte of the stream.
import * as r from './resp-abi.js';
import { ERR_INTERNAL } from './abi.js';

export type RespErrorKind =
  | 'unknown-type' | 'bad-integer' | 'bad-line' | 'line-too-long' | 'bulk-too-large' | 'too-many-elements'
  | 'too-deep' | 'bad-value' | 'unexpected' | 'bad-psync' | 'bad-mode' | 'internal';

const KINDS: Record<number, RespErrorKind> = {
  [r.RERR_UNKNOWN_TYPE]: 'unknown-type',
  [r.RERR_BAD_INTEGER]: 'bad-integer',
  [r.RERR_BAD_LINE]: 'bad-line',
  [r.RERR_LINE_TOO_LONG]: 'line-too-long',
  [r.RERR_BULK_TOO_LARGE]: 'bulk-too-large',
  [r.RERR_TOO_MANY_ELEMENTS]: 'too-many-elements',
  [r.RERR_TOO_DEEP]: 'too-deep',
  [r.RERR_BAD_VALUE]: 'bad-value',
  [r.RERR_UNEXPECTED]: 'unexpected',
  [r.RERR_BAD_PSYNC]: 'bad-psync',
  [r.RERR_BAD_MODE]: 'bad-mode',
  [ERR_INTERNAL]: 'internal',
};

function byteName(b: number): string {
  return b >= 0x21 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `0x${b.toString(16).padStart(2, '0')}`;
}

function describe(kind: RespErrorKind, detail: number): string {
  switch (kind) {
    case 'unknown-type': return `expected a RESP type byte, got ${byteName(detail)}`;
    case 'bad-integer': return 'invalid integer, length or count';
    case 'bad-line': return `lines must end with CRLF (found ${byteName(detail)})`;
    case 'line-too-long': return `no CRLF within ${detail} bytes`;
    case 'bulk-too-large': return `a bulk string of ${detail} bytes exceeds the limit (maxBulkBytes)`;
    case 'too-many-elements': return `an aggregate of ${detail} elements exceeds the limit (maxElements)`;
    case 'too-deep': return `aggregates nested deeper than ${detail} levels (maxDepth)`;
    case 'bad-value': return `malformed ${byteName(detail)} value`;
    case 'unexpected': return `unexpected ${byteName(detail)} in a replication stream`;
    case 'bad-psync': return 'the reply to PSYNC is neither +FULLRESYNC nor +CONTINUE';
    case 'bad-mode': return 'the reader can only change mode between replies';
    case 'internal': return 'internal error in the RESP reader';
  }
}

export class RespError extends Error {
  override name = 'RespError';
  readonly kind: RespErrorKind;
  /** Stream offset (bytes since the reader started) of the offending byte. */
  readonly offset: number;
  readonly detail: number;

  constructor(kind: RespErrorKind, offset: number, detail: number) {
    super(`RESP protocol error: ${describe(kind, detail)} at byte offset ${offset}`);
    this.kind = kind;
    this.offset = offset;
    this.detail = detail;
  }

  static fromCore(code: number, offset: number, detail: number): RespError {
    return new RespError(KINDS[code] ?? 'internal', offset, detail);
  }
}
