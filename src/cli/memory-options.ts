// The options of commands that estimate memory: which server's MEMORY USAGE to imitate, and its allocator.
import { Option, type Command } from 'commander';
import type { Quantum } from '../analysis/memory/allocator.js';
import { MEMORY_MODELS, type MemoryModelName, type MemoryModelOptions } from '../analysis/memory/memory-model.js';

export interface MemoryFlags {
  memoryModel?: MemoryModelName;
  allocatorQuantum: string;
}

export function addMemoryOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--memory-model <family>', 'estimate memory as this server does (default: from the dump\'s writer)').choices([...MEMORY_MODELS]))
    .addOption(new Option('--allocator-quantum <bytes>', 'jemalloc quantum of the server: 8 for builds with the bundled jemalloc (redis.io, Docker images), 16 for a system jemalloc (Debian, Ubuntu packages)').choices(['8', '16']).default('8'));
}

export function memoryModelFrom(flags: MemoryFlags): MemoryModelOptions {
  return { model: flags.memoryModel, quantum: Number(flags.allocatorQuantum) as Quantum };
}
