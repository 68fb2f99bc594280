// What MEMORY USAGE counts for a stream beyond its object: the stream struct, its listpacks (at their
// allocation), the radix tree of their master IDs, and per consumer group its struct, its PEL (a rax and
// a NACK per entry) and its consumers (struct, name, PEL rax). Redis estimates a rax from its number of
// elements and nodes and adds up every group and consumer; Valkey 8.1+ counts each rax's allocations and
// averages consumers per group and groups per stream the way it averages other collections (truncating).
import { sizeClass, type Quantum } from './allocator.js';
import { raxAllocSize, raxNodes } from './rax-nodes.js';
import type { ServerRules } from './server-rules.js';

/** objectComputeSize's rax estimate in Redis: 16 per element and sizeof(raxNode) + 30 pointers per node. */
const RAX_ELEMENT = 16;
const RAX_NODE = 4 + 8 * 30;

/** C's `asize += (double)elesize / samples * count` into a size_t, with SAMPLES 0 (samples = count). */
export function averaged(base: number, elementsTotal: number, count: number): number {
  return count === 0 ? base : Math.trunc(base + (elementsTotal / count) * count);
}

/** One stream's parts, fed in file order: listpacks, then each group, its PEL, its consumers and theirs. */
export class StreamSize {
  private masters: Uint8Array[] = [];
  private listpacks = 0;
  private pending: Uint8Array[] | null = null;
  private consumerPending: Uint8Array[] | null = null;
  /** Redis: groups, consumers and their PELs as counted so far. */
  private extra = 0;
  // Valkey: the groups done (their sum, truncated by the consumer averages), the group and consumer being read.
  private groups = 0;
  private groupsBytes = 0;
  private groupBytes = 0;
  private consumers = 0;
  private consumersBytes = 0;
  private consumerBytes = 0;

  constructor(private readonly rules: ServerRules, private readonly quantum: Quantum) {}

  reset(): void {
    if (this.masters.length > 0) this.masters.length = 0; // setting a length costs a call even when it is 0
    this.listpacks = 0;
    this.pending = null;
    this.consumerPending = null;
    this.extra = 0;
    this.groups = 0;
    this.groupsBytes = 0;
    this.consumers = 0;
    this.consumersBytes = 0;
  }

  listpack(masterKey: Uint8Array, bytes: number): void {
    this.masters.push(masterKey);
    this.listpacks += sizeClass(bytes, this.quantum);
  }

  group(): void {
    this.closeGroup();
    this.pending = [];
    if (this.rules.streamAccounting === 'valkey') this.groupBytes = this.rules.consumerGroup;
    else this.extra += this.rules.consumerGroup;
  }

  groupPending(id: Uint8Array): void {
    this.pending?.push(id);
  }

  consumer(nameLength: number): void {
    this.closeConsumer();
    this.consumerPending = [];
    if (this.rules.streamAccounting === 'valkey') this.consumerBytes = this.rules.streamConsumer + nameLength;
    else this.extra += this.rules.streamConsumer + nameLength;
  }

  consumerPendingEntry(id: Uint8Array): void {
    this.consumerPending?.push(id);
  }

  /** The stream's bytes, `object` (its robj or the object holding its key) included. */
  bytes(object: number): number {
    this.closeGroup();
    const base = object + this.rules.streamStruct + this.listpacks;
    if (this.rules.streamAccounting === 'redis') return base + this.raxEstimate(this.masters) + this.extra;
    return averaged(base + raxAllocSize(this.masters, this.quantum), this.groupsBytes, this.groups);
  }

  private raxEstimate(ids: Uint8Array[]): number {
    return RAX_ELEMENT * ids.length + RAX_NODE * raxNodes(ids);
  }

  private closeGroup(): void {
    this.closeConsumer();
    if (this.pending === null) return;
    const ids = this.pending;
    this.pending = null;
    if (this.rules.streamAccounting === 'redis') {
      this.extra += this.raxEstimate(ids) + this.rules.pendingEntry * ids.length;
      return;
    }
    this.groupsBytes += this.groupBytes + raxAllocSize(ids, this.quantum) + this.rules.pendingEntry * ids.length;
    this.groupsBytes = averaged(this.groupsBytes, this.consumersBytes, this.consumers);
    this.consumers = 0;
    this.consumersBytes = 0;
    this.groups++;
  }

  private closeConsumer(): void {
    if (this.consumerPending === null) return;
    const ids = this.consumerPending;
    this.consumerPending = null;
    if (this.rules.streamAccounting === 'redis') {
      this.extra += this.raxEstimate(ids);
      return;
    }
    this.consumersBytes += this.consumerBytes + raxAllocSize(ids, this.quantum);
    this.consumers++;
  }
}
