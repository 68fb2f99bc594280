// Measures every key of a dump: a KeyRecord per key (type, elements, estimated memory) in file order.
import type { EventBatch } from '../core/event-batch.js';
import { RdbEventParser } from '../core/rdb-event-parser.js';
import type { RdbMetadata } from '../rdb/entry.js';
import { KeyMeasurer, type KeyRecord } from './key-measurer.js';
import { chooseMemoryModel, createSizer, type MemoryModel, type MemoryModelOptions } from './memory/memory-model.js';

export type { KeyRecord };

export interface MeasuredDump {
  keys: KeyRecord[];
  metadata: RdbMetadata;
  /** The model the estimates follow (null for a dump without keys). */
  model: MemoryModel | null;
}

/** Synchronously measures a dump held in memory. */
export function measureKeysSync(data: Uint8Array, options: MemoryModelOptions = {}): MeasuredDump {
  const keys: KeyRecord[] = [];
  let model: MemoryModel | null = null;
  const measurer = new KeyMeasurer((metadata) => createSizer((model = chooseMemoryModel(metadata.aux, options))), (r) => keys.push(r));
  const parser = RdbEventParser.createSync({ blobEvents: true });
  const sink = (b: EventBatch) => measurer.consume(b);
  parser.write(data, sink);
  parser.end(sink);
  return { keys, metadata: measurer.metadata, model };
}
