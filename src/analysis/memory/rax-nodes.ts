// Nodes of a Redis rax (radix tree, rax.c) holding a set of 16-byte keys inserted one by one, as
// stream IDs are: the canonical compressed trie. A run of bytes all keys share is one compressed node,
// a position where they differ is one branching node, each complete key ends in a leaf, and an empty
// rax is its head node alone (docs/memory-model.md, "Streams").

const KEY_BYTES = 16;

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

/** Number of rax nodes for these keys (any order; duplicates count once). */
export function raxNodes(keys: Uint8Array[]): number {
  if (keys.length === 0) return 1;
  const sorted = [...keys].sort(compareKeys).filter((k, i, all) => i === 0 || compareKeys(all[i - 1]!, k) !== 0);
  return nodesOf(sorted, 0, sorted.length, 0);
}

/** Nodes for sorted keys [from, to), all sharing their first `depth` bytes. */
function nodesOf(keys: Uint8Array[], from: number, to: number, depth: number): number {
  const common = commonPrefix(keys[from]!, keys[to - 1]!, depth);
  if (common > depth) return 1 + nodesOf(keys, from, to, common);
  if (depth === KEY_BYTES) return 1;
  let nodes = 1;
  for (let start = from; start < to;) {
    const byte = keys[start]![depth];
    let end = start + 1;
    while (end < to && keys[end]![depth] === byte) end++;
    nodes += nodesOf(keys, start, end, depth + 1);
    start = end;
  }
  return nodes;
}

/** Length of the prefix the first and last of a sorted run share (so all of them share it), >= depth. */
function commonPrefix(first: Uint8Array, last: Uint8Array, depth: number): number {
  let i = depth;
  while (i < KEY_BYTES && first[i] === last[i]) i++;
  return i;
}
