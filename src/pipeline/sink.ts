// Where a pipeline's messages go: one small interface every destination implements (a broker, a Redis
// stream, a file). The pipeline (pipeline.ts) hands a sink batches in the order of the source's stream and
// moves its position only once a batch is confirmed; a sink only has to send, confirm and keep order.
import type { Position } from './position.js';

/** The fields a subject or routing-key template may name (route-template.ts). */
export interface MessageRoute {
  /** The source's database (null for an event that concerns no database). */
  db: number | null;
  /** The command, lower-cased (set, hset...), or the event type for the others (snapshot, full-sync-start...). */
  command: string;
  /** A write's keyspace class (string, list, set, hash, zset, stream, generic), or the event type for the others. */
  class: string;
  /** The event's partition (publish's --partitions), 0 without. */
  partition: number;
}

/** One message: a change event's JSON body and what a sink needs to route and deduplicate it. */
export interface SinkMessage {
  /**
   * Unique per source and the same every time this event is published again (after a restart or a
   * retry): the broker's deduplication id (Nats-Msg-Id, AMQP message-id, the stream entry's id field).
   */
  id: string;
  route: MessageRoute;
  /** The event as JSON (docs/event-schema.md), UTF-8. */
  body: Uint8Array;
}

/**
 * Messages in the source's order, and where the source's stream stands once all of them are delivered
 * (null inside a snapshot: there is nothing to continue from until it ends).
 */
export interface SinkBatch<M = SinkMessage> {
  messages: M[];
  position: Position | null;
  /**
   * Numbers the batches of a position, from the stored one's + 1: a sink that stores the position
   * stores this with it, and skips a batch sent again after a reconnect whose number it already holds
   * (its EXEC applied, the reply was lost). Others may ignore it.
   */
  sequence: number;
}

/** A position a sink keeps itself, with what it was written under (the route must match to continue). */
export interface StoredPosition {
  /** Null when only the sequence is stored (a snapshot in progress when the publisher stopped). */
  position: Position | null;
  /** The last batch's sequence number. */
  sequence: number;
  /**
   * The route identity (filters, format) when the position was written; compared as JSON. Undefined: not
   * recorded (a tail checkpoint of an earlier version), taken as it is.
   */
  route: unknown;
  /** What the sink covered at this position (Sink.extent), when it keeps one. */
  extent?: unknown;
}

/** A sink failed. Retryable: the pipeline reconnects it and sends again everything not yet confirmed. */
export class SinkError extends Error {
  override name = 'SinkError';
  constructor(message: string, readonly retryable: boolean, options?: ErrorOptions) {
    super(message, options);
  }
}

export interface Sink<M = SinkMessage> {
  /** The destination as messages name it: URL without credentials, plus the stream, exchange or subject. */
  readonly name: string;
  /**
   * What the position's route records of the destination (default: name): what a consumer would lose
   * events to if it changed (the exchange, the stream), not how it is reached (host, credentials).
   */
  readonly routeName?: string;
  /**
   * True when the sink stores the position in the same atomic write as the messages (a Redis stream:
   * MULTI/EXEC): then it is exactly once, and the pipeline keeps no position file. Else the pipeline
   * saves the position after confirmed batches, and a crash between the two publishes some messages
   * again (at least once; consumers drop repeats by id).
   */
  readonly storesPosition: boolean;
  /**
   * Connects (and declares what it needs: exchange, stream). Rejects with SinkError: retryable when the
   * destination is unreachable or busy, not when it refuses us (credentials, permissions, bad names).
   * `route` is the pipeline's route identity, for a sink that stores the position. `failed`: for a sink
   * that can fail between writes (a lease it lost), the same as a write rejecting with the error.
   */
  connect(route: unknown, failed: (error: unknown) => void): Promise<void>;
  /** The stored position (storesPosition sinks only; null when none is stored yet). */
  readPosition?(): Promise<StoredPosition | null>;
  /**
   * Sends a batch. Resolves once the destination has confirmed every message of it (and, for
   * storesPosition, the position with them). May be called again before an earlier batch resolved: the
   * sink keeps the order of the batches and of their messages. Rejects with SinkError; after a rejection
   * the pipeline calls close(), then connect() and write() again with every unconfirmed batch in order.
   */
  write(batch: SinkBatch<M>): Promise<void>;
  /**
   * Keys the sink writes itself, when it may write to the source's own server (a Redis stream): writes
   * that touch only such keys are not published, or each publish would publish itself again.
   */
  ownsKey?(db: number, key: Uint8Array): boolean;
  /**
   * For a sink the position file must agree with (a file it appends to): what it holds once `batch`
   * (confirmed) is in, e.g. how many bytes of the file; saved with the batch's position.
   */
  extent?(batch: SinkBatch<M>): unknown;
  /** Makes durable what it confirmed, before the position file is saved to cover it (fsync a file). */
  makeDurable?(): void;
  /** Closes the connection (after what was written was confirmed, or after a failure). Never rejects. */
  close(): Promise<void>;
}
