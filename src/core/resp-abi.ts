// The WebAssembly ABI of the RESP core (build/resp.wasm), shared verbatim by assembly/resp/ and src/.
// Integer constants only. Event records have the RDB core's layout (abi.ts: EVENT_SIZE, kind, flags,
// ptr, len, aux, n1, n2); status codes are the same ST_NEED_MORE / ST_EVENTS_FULL / ST_ERROR.
//
// Offsets (n2 of values and ends) are absolute: bytes fed to the instance since init(), counted from 0.

// Modes for init() and setMode().
export const RESP_MODE_REPLY = 0; // replies to our commands: RESP2 and RESP3, any nesting within the limits
export const RESP_MODE_REPLICATION = 1; // after PSYNC: its reply line, the RDB payload, then commands

// Event kinds.
export const RE_VALUE = 1; // a scalar; aux: its type byte (T_*); ptr/len: its bytes (text of numbers and
//                            doubles, bulk/verbatim/blob-error content); n1: integer or boolean value;
//                            n2: offset after it. F_NULL: a null ($-1, *-1, _). F_CHUNKED: its bytes came
//                            as RE_CHUNK events before it. F_LAST: it completes a top-level reply.
export const RE_AGGREGATE = 2; // an array, map, set, push or attribute starts; aux: type byte; n1: element
//                               count (a map's and an attribute's count is of pairs); n2: offset of its first byte
export const RE_AGGREGATE_END = 3; // the innermost open aggregate is complete; n2: offset after it; F_LAST as above
export const RE_CHUNK = 4; // ptr/len: a piece of a bulk string too large to hand over whole
export const RE_PSYNC = 5; // replication: the PSYNC reply line; aux: PSYNC_*; ptr/len: the text after '+'; n2: offset after it
export const RE_RDB_BEGIN = 6; // replication: n1: payload length, or -1 when it ends with the EOF mark at ptr/len (40 bytes)
export const RE_RDB_DATA = 7; // replication: ptr/len: the next bytes of the RDB payload
export const RE_RDB_END = 8; // replication: the RDB payload ended; n2: offset of the first command byte
export const RE_COMMAND = 9; // replication: a command starts; n1: its argument count; n2: offset of its first byte
// A command's arguments then arrive as RE_VALUE (T_BULK), its end as RE_AGGREGATE_END with F_LAST.
export const RE_WHOLE_COMMAND = 10; // replication: a command whose bytes were all in the input buffer, in
//                                    one event: ptr/len: its bytes; aux: argument count; n2: offset of its
//                                    first byte; n1: low 32 bits: address of its arguments' bounds in the
//                                    argument table (per argument u32 start, u32 end: addresses of its
//                                    bytes), high 32 bits: its name's ID (NAME_IDS), 0 when not interned
// Commands with an argument over half the input buffer, more arguments than the table holds, or bytes
// the whole-command reader does not take (any error) arrive as RE_COMMAND + values instead.

/** Command names are interned per instance: IDs 1..NAME_IDS stand for one name each, ASCII case folded. */
export const NAME_IDS = 256;

// Flags. RF_CHUNKED means what the RDB core's F_CHUNKED means; the others stay clear of the RDB core's
// flag bits, so EventBatch reads both cores' records alike.
export const RF_CHUNKED = 1;
export const RF_NULL = 256;
export const RF_LAST = 512;

// Type bytes (aux of RE_VALUE / RE_AGGREGATE): the RESP prefix characters.
export const T_SIMPLE = 0x2b; // '+'
export const T_ERROR = 0x2d; // '-'
export const T_INTEGER = 0x3a; // ':'
export const T_BULK = 0x24; // '$'
export const T_ARRAY = 0x2a; // '*'
export const T_NULL = 0x5f; // '_'
export const T_DOUBLE = 0x2c; // ','
export const T_BOOLEAN = 0x23; // '#'
export const T_BLOB_ERROR = 0x21; // '!'
export const T_VERBATIM = 0x3d; // '='
export const T_BIG_NUMBER = 0x28; // '('
export const T_MAP = 0x25; // '%'
export const T_SET = 0x7e; // '~'
export const T_ATTRIBUTE = 0x7c; // '|'
export const T_PUSH = 0x3e; // '>'

// PSYNC replies (RE_PSYNC aux).
export const PSYNC_FULLRESYNC = 1; // "+FULLRESYNC <replid> <offset>": an RDB payload follows
export const PSYNC_CONTINUE = 2; // "+CONTINUE [<replid>]": commands follow
export const PSYNC_SYNC = 3; // no reply line: an RDB payload follows at once (the master took the command for SYNC)

// Error codes (errorCode()); errorDetail() carries the number the message names.
export const RERR_UNKNOWN_TYPE = 1; // detail: the byte where a type prefix was expected
export const RERR_BAD_INTEGER = 2; // an integer, length or count that is not a (64-bit) decimal number
export const RERR_BAD_LINE = 3; // detail: a byte other than '\n' after '\r', or a '\r' missing
export const RERR_LINE_TOO_LONG = 4; // detail: the limit (a line without CRLF in that many bytes)
export const RERR_BULK_TOO_LARGE = 5; // detail: the declared length (over the bulk limit)
export const RERR_TOO_MANY_ELEMENTS = 6; // detail: the declared count (over the element limit)
export const RERR_TOO_DEEP = 7; // detail: the nesting limit
export const RERR_BAD_VALUE = 8; // detail: the type byte (a boolean not t/f, a null with content, ...)
export const RERR_UNEXPECTED = 9; // detail: the byte; replication: not what the master may send there
export const RERR_BAD_PSYNC = 10; // a '+' PSYNC reply other than FULLRESYNC / CONTINUE
export const RERR_BAD_MODE = 11; // setMode() while a reply is incomplete
