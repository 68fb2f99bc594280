// Nodes of a Redis rax (radix tree, rax.c) holding a set of 16-byte keys inserted one by one, as
// stream IDs are: the canonical compressed trie. A run of bytes all keys share is one compressed node,
// a position where they differ is one branching node, each complete key ends in a leaf, and an empty
// rax is its head node alone (docs/memory-model.md, "Streams"). Redis counts a rax by its number of
// nodes; Valkey 8.1+ by the bytes its nodes have allocated.

import { sizeClass, type Quantum } from './allocator.js';

const KEY_BYTES = 16;
/** sizeof(rax): head, numele, numnodes, alloc_size. */
const RAX_STRUCT = 32;

/** A stream ID (ms, seq) as the big-endian 16-byte key the rax stores. */
export function streamIdKey(ms: bigint, seq: bigint): Uint8Array {
  const key = new Uint8Array(KEY_BYTES);
  const view = new DataView(key.buffer);
  view.setBigUint64(0, ms);
  view.setBigUint64(8, seq);
  return key;
}

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < KEY_BYTES; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** The distinct keys, sorted. */
function distinctSorted(keys: Uint8Array[]): Uint8Array[] {
  return [...keys].sort(compareKeys).filter((k, i, all) => i === 0 || compareKeys(all[i - 1]!, k) !== 0);
}

/** Visits each node of the canonical trie: its kind, its size (chars of a compressed node, children of a branch) and whether a key ends there. */
type NodeVisitor = (compressed: boolean, size: number, isKey: boolean) => void;

/** Number of rax nodes for these keys (any order; duplicates count once). */
export function raxNodes(keys: Uint8Array[]): number {
  let nodes = 0;
  walk(keys, () => { nodes++; });
  return nodes;
}

/**
 * Bytes a rax of these keys has allocated (Valkey's raxAllocSize): the rax struct and every node at
 * its jemalloc class. A node is a 4-byte header, its chars padded to 8, a child pointer per child (one
 * for a compressed node) and, where a key ends, a pointer to the key's value.
 */
export function raxAllocSize(keys: Uint8Array[], quantum: Quantum): number {
  let bytes = sizeClass(RAX_STRUCT, quantum);
  walk(keys, (compressed, size, isKey) => {
    const padding = (8 - ((size + 4) % 8)) & 7;
    bytes += sizeClass(4 + size + padding + 8 * (compressed ? 1 : size) + (isKey ? 8 : 0), quantum);
  });
  return bytes;
}

/** Walks the nodes of the rax holding these keys (an empty rax is its head node alone). */
function walk(keys: Uint8Array[], visit: NodeVisitor): void {
  if (keys.length === 0) {
    visit(false, 0, false);
    return;
  }
  const sorted = distinctSorted(keys);
  walkRun(sorted, 0, sorted.length, 0, visit);
}

/** Nodes for sorted keys [from, to), all sharing their first `depth` bytes. */
function walkRun(keys: Uint8Array[], from: number, to: number, depth: number, visit: NodeVisitor): void {
  const common = commonPrefix(keys[from]!, keys[to - 1]!, depth);
  if (common > depth) {
    visit(true, common - depth, false);
    walkRun(keys, from, to, common, visit);
    return;
  }
  if (depth === KEY_BYTES) {
    visit(false, 0, true);
    return;
  }
  let children = 0;
  for (let start = from; start < to;) {
    let end = start + 1;
    while (end < to && keys[end]![depth] === keys[start]![depth]) end++;
    children++;
    start = end;
  }
  visit(false, children, false);
  for (let start = from; start < to;) {
    const byte = keys[start]![depth];
    let end = start + 1;
    while (end < to && keys[end]![depth] === byte) end++;
    walkRun(keys, start, end, depth + 1, visit);
    start = end;
  }
}

/** Length of the prefix the first and last of a sorted run share (so all of them share it), >= depth. */
function commonPrefix(first: Uint8Array, last: Uint8Array, depth: number): number {
  let i = depth;
  while (i < KEY_BYTES && first[i] === last[i]) i++;
  return i;
}
