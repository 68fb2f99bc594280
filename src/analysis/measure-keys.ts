// Measuring the keys of a dump: a KeyMeasurer for a selection, with the memory model chosen from the
// dump's writer, and the synchronous whole-buffer driver.
import type { EventBatch } from '../core/event-batch.js';
import { RdbEventParser } from '../core/rdb-event-parser.js';
import type { RdbMetadata } from '../rdb/entry.js';
import { keyPredicate, ttlReferenceOf, type KeySelection, type TtlReference } from '../rdb/key-filter.js';
import { KeyMeasurer, type KeyRecord, type MeasuredKey } from './key-measurer.js';
import { chooseMemoryModel, createSizer, type MemoryModel, type MemoryModelOptions } from './memory/memory-model.js';

export type { KeyRecord, MeasuredKey };

export interface MeasureOptions extends MemoryModelOptions {
  selection?: KeySelection;
  /** Unix ms that "expired" and TTLs are judged from when the dump has no save time (default: now). */
  nowMs?: number;
}

/** The selected keys of a dump, measured: feed it the core's events (parsed with blobEvents). */
export class MeasuredKeys {
  readonly measurer: KeyMeasurer;
  /** The model the estimates follow, chosen at the first selected key (null before). */
  model: MemoryModel | null = null;
  /** When TTLs are measured from: the dump's save time, else `nowMs` (now). */
  readonly ttlReference: () => TtlReference;

  /** `onKey` receives a record reused for the next key (`toRecord()` keeps a copy). */
  constructor(options: MeasureOptions, onKey: (record: MeasuredKey) => void) {
    this.ttlReference = ttlReferenceOf(() => this.measurer.metadata, options.nowMs);
    const minMemory = options.selection?.minMemory ?? 0;
    this.measurer = new KeyMeasurer(
      (metadata) => createSizer((this.model = chooseMemoryModel(metadata.aux, options))),
      minMemory > 0 ? (r) => { if (r.memory >= minMemory) onKey(r); } : onKey,
      keyPredicate(options.selection ?? {}, () => this.ttlReference().atMs),
    );
  }

  get metadata(): RdbMetadata {
    return this.measurer.metadata;
  }

  consume(b: EventBatch): void {
    this.measurer.consume(b);
  }
}

export interface MeasuredDump {
  keys: KeyRecord[];
  metadata: RdbMetadata;
  /** The model the estimates follow (null for a dump without keys). */
  model: MemoryModel | null;
}

/** Synchronously measures a dump held in memory. */
export function measureKeysSync(data: Uint8Array, options: MeasureOptions = {}): MeasuredDump {
  const keys: KeyRecord[] = [];
  const measured = new MeasuredKeys(options, (r) => keys.push(r.toRecord()));
  const parser = RdbEventParser.createSync({ blobEvents: true });
  const sink = (b: EventBatch) => measured.consume(b);
  parser.write(data, sink);
  parser.end(sink);
  return { keys, metadata: measured.metadata, model: measured.model };
}
