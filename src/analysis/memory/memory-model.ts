// Memory models: which server's MEMORY USAGE a key's estimate imitates. Chosen from the dump's
// redis-ver / valkey-ver AUX field (the server that wrote a dump is the one most likely to load it)
// unless the caller names one. A writer with no model of its own gets the nearest one, and the reason
// says so.
import type { Quantum } from './allocator.js';
import { writerOf } from '../../rdb/metadata-reader.js';
import type { KeySizer } from './key-sizer.js';
import { RedisSizer } from './redis-sizer.js';
import { MEMORY_MODELS, SERVER_RULES, type MemoryModelName } from './server-rules.js';

export { MEMORY_MODELS, type MemoryModelName };

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

/** [major, minor] of a version text such as "7.2.4"; null when it is not one. */
function majorMinor(version: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** The family whose rules a writer's own server follows, and whether that is a stand-in. */
function familyOf(product: 'Redis' | 'Valkey', version: string): { name: MemoryModelName; exact: boolean } {
  const v = majorMinor(version);
  if (!v) return { name: 'redis-7.0', exact: false };
  const [major, minor] = v;
  if (product === 'Valkey') {
    // Valkey 7.2 is Redis 7.2; 8.0 embeds keys in the keyspace's entries; 8.1 replaced dicts by hashtables.
    if (major < 8) return { name: 'redis-7.2', exact: major === 7 && minor === 2 };
    if (major === 8) return minor === 0 ? { name: 'valkey-8.0', exact: true } : { name: 'valkey-8.1', exact: minor === 1 };
    return { name: 'valkey-9.0', exact: major === 9 && minor === 0 };
  }
  if (major < 7) return { name: 'redis-6.2', exact: major === 6 && minor === 2 };
  if (major === 7 && minor < 2) return { name: 'redis-7.0', exact: true };
  if (major === 7 && minor < 4) return { name: 'redis-7.2', exact: true };
  if (major === 7) return { name: 'redis-7.4', exact: minor === 4 };
  if (major === 8 && minor < 2) return { name: 'redis-8.0', exact: minor === 0 };
  return { name: 'redis-8.2', exact: major === 8 && minor === 2 };
}

/** The model for a dump with these AUX fields. */
export function chooseMemoryModel(aux: ReadonlyArray<readonly [string, string]>, options: MemoryModelOptions = {}): MemoryModel {
  const quantum = options.quantum ?? 8;
  if (options.model) {
    if (!MEMORY_MODELS.includes(options.model)) throw new RangeError(`unknown memory model ${options.model}; known: ${MEMORY_MODELS.join(', ')}`);
    return { name: options.model, quantum, reason: 'chosen' };
  }
  const writer = writerOf(aux);
  if (!writer) return { name: 'redis-7.0', quantum, reason: 'the dump does not say which server wrote it' };
  const { name, exact } = familyOf(writer.product, writer.version);
  const reason = `written by ${writer.product} ${writer.version}${exact ? '' : ` (no model of its own: the nearest, ${name})`}`;
  return { name, quantum, reason };
}

export function createSizer(model: MemoryModel): KeySizer {
  return new RedisSizer({ quantum: model.quantum, rules: SERVER_RULES[model.name] });
}
