// The WebAssembly ABI of the RDB core, shared verbatim by the AssemblyScript core (assembly/) and the
// TypeScript shell (src/). It must stay valid in both languages: integer constants only.
//
// Event record (EVENT_SIZE bytes, little-endian), written by the core into its event buffer:
//   +0  u16 kind      one of the E_* codes below
//   +2  u16 flags     F_* bits
//   +4  u32 ptr       start of the event's byte string in linear memory (input buffer or scratch)
//   +8  u32 len       its length
//   +12 u32 aux       small integer whose meaning depends on the kind (RDB type code, role, count)
//   +16 i64 n1        first number (f64 bits for scores)
//   +24 i64 n2        second number
// A byte string too large to hand over in one piece arrives as E_CHUNK events; the event that owns the
// string follows them with F_CHUNKED set, and its own ptr/len is then empty.

export const EVENT_SIZE = 32;

// Status returned by feed()/resume()/finish().
export const ST_NEED_MORE = 0; // all input consumed that could be; call feed() with more bytes
export const ST_EVENTS_FULL = 1; // drain the event buffer, then call resume()
export const ST_DONE = 2; // the RDB (or DUMP payload) ended; consumed() tells where
export const ST_ERROR = 3; // errorCode()/errorOffset()/errorDetail() tell why

// Event kinds.
export const E_HEADER = 1; // aux: flavor (FLAVOR_*), n1: RDB version
export const E_AUX_KEY = 2; // ptr/len: AUX field name; always followed by E_AUX_VALUE
export const E_AUX_VALUE = 3; // ptr/len: AUX field value
export const E_SELECT_DB = 4; // n1: db number
export const E_RESIZE_DB = 5; // n1: keys hint, n2: expires hint
export const E_SLOT_INFO = 6; // aux: slot, n1: slot size, n2: expires slot size
export const E_FUNCTION = 7; // ptr/len: function library source (FUNCTION2); aux: FN_* part for pre-GA
export const E_MODULE_AUX = 8; // n1: module id (name + encoding version), n2: `when`
export const E_KEY = 9; // ptr/len: key; aux: RDB type; n1: expire ms (F_EXPIRE); n2: idle s (F_IDLE) or LFU freq (F_FREQ)
export const E_KEY_END = 10; // n1: elements delivered, n2: absolute offset after the value
export const E_VALUE = 11; // ptr/len: string value
export const E_LIST_ITEM = 12; // ptr/len: list element
export const E_SET_MEMBER = 13; // ptr/len: set member
export const E_ZSET_MEMBER = 14; // ptr/len: member; n1: score as f64 bits, or F_SCORE_TEXT
export const E_SCORE_TEXT = 15; // ptr/len: a score stored as text that the core cannot convert exactly; precedes E_ZSET_MEMBER
export const E_HASH_FIELD = 16; // ptr/len: hash field; always followed by E_HASH_VALUE
export const E_HASH_VALUE = 17; // ptr/len: hash value; n1: field expire ms when F_EXPIRE
export const E_CHUNK = 18; // ptr/len: one piece of a large string owned by the next non-chunk event
export const E_STREAM_ENTRY = 19; // n1: ms, n2: seq of the entry ID; aux: number of field/value pairs that follow
export const E_STREAM_FIELD = 20; // ptr/len: field name
export const E_STREAM_VALUE = 21; // ptr/len: field value
export const E_STREAM_META = 22; // aux: SM_* role; n1, n2 per role
export const E_STREAM_GROUP = 23; // ptr/len: group name; n1/n2: last delivered ID; entries_read follows as E_STREAM_META
export const E_STREAM_PEL = 24; // n1/n2: pending entry ID; aux: 0; delivery info follows as E_STREAM_META SM_NACK
export const E_STREAM_CONSUMER = 25; // ptr/len: consumer name; n1: seen time; n2: active time (F_ACTIVE_TIME)
export const E_STREAM_CONSUMER_PEL = 26; // n1/n2: ID of a pending entry owned by the consumer
export const E_MODULE_VALUE = 27; // n1: module id; n2: size in bytes of the skipped module value
export const E_EOF = 28; // aux: CK_* checksum outcome; n1: stored checksum
export const E_SLOT_IMPORT = 29; // Valkey SLOT_IMPORT: ptr/len: job name; n1: number of slot ranges
export const E_SLOT_RANGE = 30; // aux: 0; n1: first slot; n2: last slot (Valkey SLOT_IMPORT)
// Only with OPT_BLOB_EVENTS: a packed container as the file stores it, before its elements; what memory
// estimates need (a server keeps most of these blobs as they are). aux: BLOB_* kind; len: its byte
// length (ptr is 0: no bytes); for BLOB_STREAM_LISTPACK n1/n2: its master entry ID (ms, seq).
export const E_BLOB = 31;
// Only with OPT_VALUE_SPANS, right after E_KEY: n1: absolute offset where the key's value starts (after
// the key's string as stored); the value ends where E_KEY_END's n2 says. Type byte + those bytes + an
// RDB version + CRC64 make a DUMP payload of the value exactly as the file holds it.
export const E_VALUE_SPAN = 32;

// Container kinds (E_BLOB aux).
export const BLOB_ZIPLIST = 1;
export const BLOB_LISTPACK = 2;
export const BLOB_INTSET = 3;
export const BLOB_ZIPMAP = 4;
export const BLOB_PLAIN = 5; // a quicklist 2 plain node (len 0): the one E_LIST_ITEM that follows is the node
export const BLOB_STREAM_LISTPACK = 6;

// Event flags.
export const F_CHUNKED = 1; // the owned string arrived as preceding E_CHUNK events
export const F_INTEGER = 2; // the string was stored as an integer: no bytes (len 0), its value is n1 (decimal text on demand)
export const F_EXPIRE = 4;
export const F_IDLE = 8;
export const F_FREQ = 16;
export const F_SCORE_TEXT = 32; // score is in the preceding E_SCORE_TEXT
export const F_ACTIVE_TIME = 64;
export const F_UNKNOWN = 128; // for SM_GROUP_ENTRIES_READ: the count is unknown (stored as 2^64-1)

// Stream metadata roles (E_STREAM_META aux).
export const SM_LENGTH = 1; // n1: number of live entries
export const SM_LAST_ID = 2; // n1/n2
export const SM_FIRST_ID = 3; // n1/n2 (v2+)
export const SM_MAX_DELETED_ID = 4; // n1/n2 (v2+)
export const SM_ENTRIES_ADDED = 5; // n1 (v2+)
export const SM_GROUP_ENTRIES_READ = 6; // n1 (v2+), F_UNKNOWN when unknown
export const SM_NACK = 7; // n1: delivery time ms, n2: delivery count (follows E_STREAM_PEL)
export const SM_GROUPS = 8; // n1: number of consumer groups that follow

// Pre-GA FUNCTION opcode parts (E_FUNCTION aux).
export const FN_LIBRARY = 0; // FUNCTION2: the whole library source
export const FN_PRE_GA_NAME = 1;
export const FN_PRE_GA_ENGINE = 2;
export const FN_PRE_GA_DESCRIPTION = 3;
export const FN_PRE_GA_CODE = 4;

// Header flavors.
export const FLAVOR_REDIS = 0;
export const FLAVOR_VALKEY = 1;

// Checksum outcomes (E_EOF aux).
export const CK_NONE = 0; // RDB < 5: no checksum stored
export const CK_ZERO = 1; // stored checksum is 0: the writer disabled checksums
export const CK_VERIFIED = 2;
export const CK_SKIPPED = 3; // verification turned off by the caller

// Modes for init().
export const MODE_FILE = 0; // a whole RDB stream: magic, opcodes, EOF, checksum
export const MODE_DUMP = 1; // a DUMP/RESTORE payload: one type + value, then 2-byte version + CRC64

// Option bits for init().
export const OPT_VERIFY_CHECKSUM = 1;
export const OPT_BLOB_EVENTS = 2; // emit E_BLOB events
export const OPT_VALUE_SPANS = 4; // emit E_VALUE_SPAN events

// Host flags for jsonEnable().
export const JSON_HOST_FILTER = 1; // ask host.keepKey about every key
export const JSON_DUPLICATE_KEYS = 2; // note every selected key (module values included) for duplicatesCheck()
// duplicatesAdd() returns where a key of up to this many bytes may be written for the next call.
export const DUPLICATES_STAGE = 256;

// Error codes (errorCode()); errorDetail() carries the number the message names.
export const ERR_TRUNCATED = 1; // input ended inside the RDB
export const ERR_BAD_MAGIC = 2;
export const ERR_UNSUPPORTED_VERSION = 3; // detail: version
export const ERR_UNKNOWN_TYPE = 4; // detail: type or opcode byte
export const ERR_BAD_LENGTH = 5; // detail: the length-encoding byte
export const ERR_LZF_CORRUPT = 6;
export const ERR_LZF_LENGTH = 7; // decompressed length differs from the declared one
export const ERR_ZIPLIST_CORRUPT = 8;
export const ERR_LISTPACK_CORRUPT = 9;
export const ERR_INTSET_CORRUPT = 10;
export const ERR_ZIPMAP_CORRUPT = 11;
export const ERR_STREAM_CORRUPT = 12;
export const ERR_CHECKSUM = 13; // detail: low 32 bits of the computed checksum
export const ERR_TOO_LARGE = 14; // a string or container needs more memory than the limit allows; detail: its size
export const ERR_BAD_SCORE = 15;
export const ERR_MODULE_CORRUPT = 16; // detail: the module opcode
export const ERR_QUICKLIST_CORRUPT = 17; // detail: container code
export const ERR_UNSUPPORTED_TYPE = 18; // a known type this core cannot read (pre-GA module values); detail: type
export const ERR_INTERNAL = 20;
export const ERR_BAD_VALUE = 21; // a value that is structurally valid but impossible (e.g. empty key count); detail: code
