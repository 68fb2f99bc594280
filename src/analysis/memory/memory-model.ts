// Memory models: which server's MEMORY USAGE a key's estimate imitates. Chosen from the dump's
// redis-ver / valkey-ver AUX field unless the caller names one. Only Redis 7.0 is modelled so far
// (docs/memory-model.md says what the others change); it stands in for every writer until they are.
import type { Quantum } from './allocator.js';
import { writerOf } from '../../rdb/metadata-reader.js';
import type { KeySizer } from './key-sizer.js';
import { Redis70Sizer } from './redis70-sizer.js';

export const MEMORY_MODELS = ['redis-7.0'] as const;
export type MemoryModelName = (typeof MEMORY_MODELS)[number];

export interface MemoryModel {
  name: MemoryModelName;
  /** jemalloc's quantum: 8 for the jemalloc Redis bundles (upstream builds, Docker images), 16 for a system jemalloc (Debian, Ubuntu packages). */
  quantum: Quantum;
  /** Why this model: named by the caller, or the writer's version (or its absence). */
  reason: string;
}

export interface MemoryModelOptions {
  model?: MemoryModelName;
  quantum?: Quantum;
}

/** The model for a dump with these AUX fields. */
export function chooseMemoryModel(aux: ReadonlyArray<readonly [string, string]>, options: MemoryModelOptions = {}): MemoryModel {
  const quantum = options.quantum ?? 8;
  if (options.model) {
    if (!MEMORY_MODELS.includes(options.model)) throw new RangeError(`unknown memory model ${options.model}; known: ${MEMORY_MODELS.join(', ')}`);
    return { name: options.model, quantum, reason: 'chosen' };
  }
  const writer = writerOf(aux);
  const reason = writer ? `written by ${writer.product} ${writer.version}` : 'the dump does not say which server wrote it';
  return { name: 'redis-7.0', quantum, reason };
}

export function createSizer(model: MemoryModel): KeySizer {
  switch (model.name) {
    case 'redis-7.0': return new Redis70Sizer({ quantum: model.quantum });
  }
}
