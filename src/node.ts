// The Node entry: the browser API plus file paths and Node streams as RDB sources.
import { createReadStream } from 'node:fs';
import { parseRdb as parseRdbFrom, type ParseRdbOptions, type RdbByteSource, type RdbReader } from './rdb/parse.js';
import { FileChecksum } from './node/file-checksum.js';
import { analyzeRdb as analyzeRdbFrom, type AnalyzeOptions } from './analysis/analyze.js';
import type { RdbReport } from './analysis/report.js';

export * from './browser.js';
export { FileChecksum, PARALLEL_CHECKSUM_MIN_BYTES } from './node/file-checksum.js';
export { Replica, type ReplicaOptions, type ReconnectOptions } from './replica/replica.js';
export { ReplicaCommand, type ReplicaEvent, type Checkpoint } from './replica/events.js';
export { LinkLostError, ReplicaError } from './replica/link.js';
export { CheckpointFile, type OutputExtent, type SavedCheckpoint } from './replica/checkpoint-file.js';
export { parseRedisUrl, type RedisEndpoint } from './replica/redis-url.js';
export { sync, Sync, SyncError, type SyncOptions, type SyncStatus, type SyncEvent, type SyncItem, type SyncTransform, type SyncPhase } from './sync/sync.js';
export { parseRenameRule, type RenameRule } from './sync/key-route.js';
export { publish, Publisher, PublishError, type PublishOptions, type PublishStatus, type PublishEvent, type PublishPhase } from './pipeline/publisher.js';
export { SinkError, type Sink, type SinkBatch, type SinkMessage, type MessageRoute, type StoredPosition } from './pipeline/sink.js';
export { sinkFromUrl, type SinkUrlOptions } from './pipeline/sink-url.js';
export { amqpSink, type AmqpSinkOptions } from './pipeline/sinks/amqp-sink.js';
export { natsSink, type NatsSinkOptions } from './pipeline/sinks/nats-sink.js';
export { redisStreamSink, type RedisStreamSinkOptions } from './pipeline/sinks/redis-stream-sink.js';
export { EVENT_VERSION, type SnapshotMode } from './pipeline/change-event.js';
export type { EventFilterOptions } from './pipeline/event-filter.js';
export { hashSlot } from './cluster/hash-slot.js';
export { DumpPayloadEncoder, UnrestorableEntry } from './rdb-write/dump-payload.js';
export { serverFormatFromInfo, type ServerFormat } from './rdb-write/server-format.js';

/**
 * Like the browser parseRdb, but a string is a file path (read in 1 MiB chunks; the checksum of a large
 * file is verified on a worker thread, see FileChecksum).
 */
export function parseRdb(source: RdbByteSource | string, options: ParseRdbOptions = {}): RdbReader {
  if (typeof source !== 'string') return parseRdbFrom(source, options);
  return parseRdbFrom(openFile(source), { externalChecksum: () => FileChecksum.worthwhile(source), ...options });
}

/** Like the browser analyzeRdb, but a string is a file path (its checksum verified on a worker thread when large). */
export function analyzeRdb(source: RdbByteSource | string, options: AnalyzeOptions = {}): Promise<RdbReport> {
  if (typeof source !== 'string') return analyzeRdbFrom(source, options);
  return analyzeRdbFrom(openFile(source), { externalChecksum: () => FileChecksum.worthwhile(source), ...options });
}

export function openFile(path: string): AsyncIterable<Uint8Array> {
  return createReadStream(path, { highWaterMark: 1 << 20 });
}
