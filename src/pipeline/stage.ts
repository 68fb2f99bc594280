// The middle of the pipeline (pipeline.ts): what a command makes of the source's events. A stage filters
// them and turns each into the messages of its sink (change events for publish, JSON lines for tail); the
// pipeline around it keeps the position, the batches and the sink.
import type { ShardRef, SourceEvent } from './source.js';

/** Where a stage puts what it makes of an event. */
export interface StageOutput<M> {
  /**
   * The next message, in the source's order. `closable` false: the batch must not end after it, because
   * the messages after it belong with it (a MULTI/EXEC block: its position comes with all of them).
   */
  emit(message: M, closable?: boolean): void;
  /**
   * A message in a batch of its own: the batch before it is closed first (a step the sink takes once
   * everything before it is applied, such as deleting keys before a copy).
   */
  alone(message: M): void;
  warn(message: string): void;
  /**
   * Every stream of the source is streaming, the event being handled taken: none inside a snapshot, no
   * shard of a cluster still starting (a stage's own "streaming" must wait for the last of them).
   */
  streaming(): boolean;
}

export interface Stage<M> {
  /**
   * Before the source starts: what the stage needs to judge events (the source's command table), read
   * from `source` (the source's URL; a Sentinel URL's master).
   */
  prepare?(source: string): Promise<void>;
  /**
   * What a stored position records of the route events take, with the sink's own part (Sink.routeName): a
   * later run under another route refuses to continue from it, since it would skip or mix events. JSON.
   */
  route(sink: string): unknown;
  /**
   * Makes the messages of one event of the source. Returns true when the event held writes that were
   * left out (filtered, dropped by a hook), so that the position moved with no message to carry it; not
   * for the sink's own writes, or carrying the position would be written, and read back, forever.
   * Throws to stop the pipeline. `shard`: the cluster shard whose stream the event is of.
   */
  handle(event: SourceEvent, output: StageOutput<M>, shard?: ShardRef): boolean | void;
  /** What a finished snapshot amounted to, for the phase line (e.g. "1200 keys published"). */
  snapshotSummary?(): string;
}
