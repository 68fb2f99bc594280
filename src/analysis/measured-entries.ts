// Whole entries together with their KeyRecords, from one pass: for conversions that need a key's value
// and its estimated memory (a --min-size on `parse`). Both readers see the same events and keep the same
// keys, so the n-th entry and the n-th record are the same key.
import type { EventBatch } from '../core/event-batch.js';
import { EntryBuilder } from '../rdb/entry-builder.js';
import type { RdbEntry, RdbMetadata } from '../rdb/entry.js';
import { keyPredicate } from '../rdb/key-filter.js';
import type { KeyRecord } from './key-measurer.js';
import { MeasuredKeys, type MeasureOptions } from './measure-keys.js';

export class MeasuredEntries {
  private readonly keys: MeasuredKeys;
  private readonly builder: EntryBuilder;
  private records: KeyRecord[] = [];
  private readonly minMemory: number;

  constructor(options: MeasureOptions) {
    const { minMemory = 0, ...perKey } = options.selection ?? {};
    this.minMemory = minMemory;
    this.keys = new MeasuredKeys({ ...options, selection: perKey }, (r) => this.records.push(r));
    this.builder = new EntryBuilder(keyPredicate(perKey, () => this.keys.ttlReference.atMs));
  }

  get metadata(): RdbMetadata {
    return this.keys.metadata;
  }

  /** Feed the core's events (parsed with blobEvents). */
  consume(b: EventBatch): void {
    this.keys.consume(b);
    this.builder.consume(b);
  }

  /** The keys completed so far that pass the memory threshold. */
  take(): Array<{ entry: RdbEntry; record: KeyRecord }> {
    const entries = this.builder.take();
    const records = this.records;
    this.records = [];
    const out: Array<{ entry: RdbEntry; record: KeyRecord }> = [];
    for (let i = 0; i < entries.length; i++) {
      if (records[i]!.memory >= this.minMemory) out.push({ entry: entries[i]!, record: records[i]! });
    }
    return out;
  }
}
