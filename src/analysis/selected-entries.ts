// Whole entries of the selected keys, for conversions that need values (`parse --format resp`, or jsonl
// with --min-size). Keys are measured only when the selection has a memory threshold: then the memory
// model reads the same events and keeps the same keys, so the n-th record and the n-th entry are the same key.
import type { EventBatch } from '../core/event-batch.js';
import { EntryBuilder } from '../rdb/entry-builder.js';
import type { RdbEntry, RdbMetadata } from '../rdb/entry.js';
import { keyPredicate, ttlReferenceOf } from '../rdb/key-filter.js';
import { MeasuredKeys, type MeasureOptions } from './measure-keys.js';

export class SelectedEntries {
  private readonly builder: EntryBuilder;
  /** Null without a memory threshold. */
  private readonly measured: MeasuredKeys | null;
  private memories: number[] = [];
  private readonly minMemory: number;

  /** Feed it the core's events, parsed with blobEvents when the selection has a minMemory. */
  constructor(options: MeasureOptions) {
    const { minMemory = 0, ...perKey } = options.selection ?? {};
    this.minMemory = minMemory;
    this.measured = minMemory > 0 ? new MeasuredKeys({ ...options, selection: perKey }, (r) => this.memories.push(r.memory)) : null;
    const reference = this.measured?.ttlReference ?? ttlReferenceOf(() => this.builder.metadata, options.nowMs);
    this.builder = new EntryBuilder(keyPredicate(perKey, () => reference().atMs));
  }

  get metadata(): RdbMetadata {
    return this.builder.metadata;
  }

  consume(b: EventBatch): void {
    this.measured?.consume(b);
    this.builder.consume(b);
  }

  /** The selected keys completed so far. */
  take(): RdbEntry[] {
    const entries = this.builder.take();
    if (!this.measured) return entries;
    const memories = this.memories;
    this.memories = [];
    return entries.filter((_, i) => memories[i]! >= this.minMemory);
  }
}
