// The browser (and any non-Node runtime) entry: everything that needs no Node built-ins.
export { RdbEventParser, type RdbParserOptions, type UnverifiedChecksum, type EventSink, type CanonicalJsonOptions } from './core/rdb-event-parser.js';
export { checksumOptions, verifyChecksumWith, type ExternalChecksum } from './core/external-checksum.js';
export { EventBatch } from './core/event-batch.js';
export { RdbError, type RdbErrorKind } from './core/errors.js';
export { loadRdbCore, useRdbCoreBuild, type RdbCoreBuild } from './core/wasm.js';
export * as abi from './core/abi.js';
export { parseRdb, parseDump, RdbReader, type RdbByteSource, type ParseRdbOptions } from './rdb/parse.js';
export type * from './rdb/entry.js';
export { canonicalLine, compareBytes } from './rdb/canonical-json.js';
export { CanonicalJsonl, type CanonicalJsonlOptions, type JsonlSink } from './rdb/canonical-jsonl.js';
export type { KeySelection } from './rdb/key-filter.js';
export { decodeModuleId, encodingOf, valueTypeOf } from './rdb/encodings.js';
export { RespReader, type RespReaderOptions, type RespSink } from './core/resp-reader.js';
export { RespError, type RespErrorKind } from './core/resp-error.js';
export * as respAbi from './core/resp-abi.js';
export { RespReplyReader, RespErrorReply, RespMap, RespSet, RespPush, RespVerbatim, type RespValue } from './resp/replies.js';
export { encodeCommand, type CommandArg } from './resp/encode.js';
