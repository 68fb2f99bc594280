// `publish`: a source's writes as change events in a sink (a broker, a Redis stream), in order, never
// lost: the pipeline (pipeline.ts) with publish's stage (change-event-stage.ts). The sink stores the
// position with the messages (exactly once), or the pipeline saves it in a file afterwards (at least
// once: ids let consumers and brokers drop repeats).
import type { ConnectionOptions } from 'node:tls';
import { hostPort, parseRedisUrl } from '../replica/redis-url.js';
import { isSentinelUrl, parseSentinelUrl } from '../replica/sentinel.js';
import { ChangeEventStage } from './change-event-stage.js';
import type { SnapshotMode } from './change-event.js';
import type { EventFilterOptions } from './event-filter.js';
import { Pipeline, PipelineError, type PipelineEvent, type PipelineOptions, type PipelinePhase, type PipelineStatus } from './pipeline.js';
import type { Sink, SinkMessage } from './sink.js';
import type { ReadFrom } from './source.js';
import { scanRefusal, scanSelection, type SourceModeChoice } from '../scan/source-mode.js';

export interface PublishOptions extends EventFilterOptions {
  /** redis://[user:password@]host[:port] (rediss:// for TLS) of the server whose writes are published. */
  source: string;
  sourceTls?: ConnectionOptions;
  /** From a Redis Cluster: which node of each shard is read (default 'master'; source.ts's ReadFrom). */
  readFrom?: ReadFrom;
  /**
   * How the source is read: 'replication' (default: as a replica, every write as a command), 'scan' (SCAN
   * + DUMP, then keyspace notifications: key states, for services that refuse PSYNC), 'auto' (replication
   * unless the server refuses it).
   */
  sourceMode?: SourceModeChoice;
  /** Where the events go (sinks/: amqpSink, natsSink, redisStreamSink; or sinkFromUrl). */
  sink: Sink;
  /** What of a snapshot is published (default 'none': its start and end only). */
  snapshot?: SnapshotMode;
  /**
   * Spread the events over this many partitions by their key's hash slot (CRC16, hash tags: keys sharing
   * a {tag} share a partition), for N consumers that each see their keys in order; an event naming no key
   * (FLUSHALL, the lifecycle events) goes to every partition. A multi-key write goes with its first key.
   * Default 1. The `{partition}` template field routes them.
   */
  partitions?: number;
  /** 'json' (default), or 'json+resp': each write also carries its command as RESP (base64, field `resp`). */
  format?: 'json' | 'json+resp';
  /**
   * Changes or drops events before they are published: gets each event as its JSON object, returns it
   * (the same or changed, its id kept) or null to leave it out. Needs transformName.
   */
  transform?: (event: Record<string, unknown>) => Record<string, unknown> | null;
  /** The hook's name, kept with the position: a later run with another refuses to continue (as for filters). */
  transformName?: string;
  /**
   * The file keeping the position, for a sink that does not store it with its messages (a broker); null:
   * none (every start publishes from a new snapshot). Required (a path or null) for such sinks.
   */
  positionFile?: string | null;
  /** Continue although the filters or snapshot mode changed since the position was saved: from a new snapshot. */
  resync?: boolean;
  /** Bytes of messages sent to the sink and not yet confirmed, at most (default 16 MiB). */
  maxInFlightBytes?: number;
  /** Bytes of the source's stream waiting in the spool file while the sink is behind, at most (default 1 GiB). */
  maxSpoolBytes?: number;
  /** No data from the source for this long is a failure of its link (default 60 s). */
  timeoutMs?: number;
  /** Delays between attempts to reach the sink or the source: doubling from initialDelayMs (100) to maxDelayMs (5000). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  signal?: AbortSignal;
  onEvent?: (event: PublishEvent) => void;
}

export type PublishPhase = PipelinePhase;
export type PublishStatus = PipelineStatus;
export type PublishEvent = PipelineEvent;
/** A failure retrying cannot cure: publish stops with it (its position saved). */
export const PublishError = PipelineError;

/** Publishes a source's writes; see Pipeline for its status, stop() and done. */
export class Publisher extends Pipeline<SinkMessage> {
  constructor(options: PublishOptions) {
    super(pipelineOptions(options));
  }
}

/** Starts publishing; see Publisher for its status, stop() and done. */
export function publish(options: PublishOptions): Publisher {
  return new Publisher(options);
}

/** The pipeline of `options`, checked (a TypeError names what is wrong). */
function pipelineOptions(options: PublishOptions): PipelineOptions<SinkMessage> {
  const { sink } = options;
  const snapshot = options.snapshot ?? 'none';
  if (!['none', 'keys', 'values'].includes(snapshot)) throw new TypeError(`snapshot must be none, keys or values, got ${JSON.stringify(snapshot)}`);
  if (!sink.storesPosition && options.positionFile === undefined) {
    throw new TypeError(`${sink.name} does not keep the position with its messages: give a position file ` +
      '(where a restart continues from), or null to publish from a new snapshot at every start');
  }
  const partitions = options.partitions ?? 1;
  if (!(Number.isSafeInteger(partitions) && partitions >= 1 && partitions <= 16384)) {
    throw new TypeError(`partitions must be an integer from 1 to 16384, got ${options.partitions}`);
  }
  const format = options.format ?? 'json';
  if (format !== 'json' && format !== 'json+resp') throw new TypeError(`format must be 'json' or 'json+resp', got ${JSON.stringify(options.format)}`);
  if (options.transform && !options.transformName) {
    throw new TypeError('a transform hook needs a transformName: the position records it, so that a run with another hook does not continue what this one published');
  }
  const stage = new ChangeEventStage({
    sourceName: sourceNameOf(options.source), sourceTls: options.sourceTls, timeoutMs: options.timeoutMs, filter: options,
    snapshot, partitions, format, transform: options.transform, transformName: options.transformName, sink,
  });
  return {
    command: 'publish', stage, sink, sizeOf: (message) => message.body.length,
    sourceMode: options.sourceMode, scanRefusal: scanRefusal(options.commands),
    source: { scan: scanSelection(options.dbs, options.prefixes), cluster: 'auto', readFrom: options.readFrom, url: options.source, tls: options.sourceTls, timeoutMs: options.timeoutMs, reconnect: options.reconnect, skipRdb: snapshot === 'none' },
    positionFile: options.positionFile ?? null, resync: options.resync,
    maxInFlightBytes: options.maxInFlightBytes, maxSpoolBytes: options.maxSpoolBytes, sinkReconnect: options.reconnect,
    signal: options.signal, onEvent: options.onEvent,
  };
}

/** The source as events name it: host:port as its URL gives them, or sentinel/<master name> for a Sentinel URL. */
function sourceNameOf(url: string): string {
  if (isSentinelUrl(url)) return `sentinel/${parseSentinelUrl(url).masterName}`;
  const { host, port } = parseRedisUrl(url);
  return hostPort(host, port);
}
