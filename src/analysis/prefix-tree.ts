// Where memory goes by key namespace: keys are cut at separator bytes (`user:42:name` under `user:` and
// `user:42:`), and every prefix ending at a separator is a node holding the keys and memory of all keys
// below it. Memory stays bounded for dumps with millions of distinct prefixes: once the tree holds
// `maxNodes` nodes it admits no new ones, and a key whose prefix was not admitted counts in the deepest
// admitted ancestor only. A node is created by the first key under it and only ever grows, so every
// count in the tree is exact; what the cap costs is detail (those keys show as "not under a listed
// prefix" of an ancestor), never accuracy. Keys arrive in hash-table order, so the namespaces that hold
// a noticeable share appear early, long before a cap is reached.
import { compareBytes } from '../rdb/canonical-json.js';

export interface PrefixTreeOptions {
  /** Bytes that end a segment (default ':'). ASCII characters. */
  separators?: string;
  /** Deepest prefix kept: the number of separators it contains (default 8). */
  maxDepth?: number;
  /** Most prefix nodes held (default 100,000); the root is not counted. */
  maxNodes?: number;
}

/** A prefix and the keys under it. `children` are sorted by memory, largest first. */
export interface PrefixNode {
  /** The prefix, separator included ('' for the root), decoded as UTF-8 (invalid bytes as U+FFFD). */
  prefix: string;
  keys: number;
  /** Estimated memory of those keys, bytes. */
  memory: number;
  children: PrefixNode[];
}

export interface PrefixTreeReport {
  separators: string;
  maxDepth: number;
  /** True when the node cap was reached: some prefixes are not listed (their keys count in an ancestor). */
  truncated: boolean;
  nodes: number;
  root: PrefixNode;
}

/** Why `separators` cannot be used, or null when it can. */
export function separatorsProblem(separators: string): string | null {
  if (separators.length === 0) return 'give at least one character';
  for (const ch of separators) {
    if (ch.length !== 1 || ch.charCodeAt(0) > 0x7f) return `${JSON.stringify(ch)} is not an ASCII character`;
  }
  return null;
}

interface Node {
  keys: number;
  memory: number;
  /** The bytes after the parent's prefix, separator included. */
  segment: Uint8Array;
  /** Children by a hash of their segment; `next` chains children whose hashes are equal. */
  children: Map<number, Node> | null;
  next: Node | null;
  /** The child the last key under this node went to. */
  lastChild: Node | null;
}

const utf8 = new TextDecoder();

// FNV-1a over a segment's bytes (no string per segment), cut to 30 bits so Map keys stay small integers.
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
const HASH_MASK = 0x3fffffff;

/** The hash bytes[start, end) is filed under (exported for tests that need two segments with the same one). */
export function segmentHash(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let hash = FNV_OFFSET;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, FNV_PRIME);
  return hash & HASH_MASK;
}

function sameBytes(a: Uint8Array, b: Uint8Array, bStart: number, bEnd: number): boolean {
  if (a.length !== bEnd - bStart) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[bStart + i]) return false;
  return true;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const newNode = (segment: Uint8Array): Node => ({ keys: 0, memory: 0, segment, children: null, next: null, lastChild: null });

export class PrefixTree {
  readonly separators: string;
  readonly maxDepth: number;
  readonly maxNodes: number;
  private readonly isSeparator = new Uint8Array(256);
  /** The separator when there is one only, else -1. */
  private readonly onlySeparator: number;
  private readonly root = newNode(new Uint8Array(0));
  private nodes = 0;
  private truncated = false;

  constructor(options: PrefixTreeOptions = {}) {
    this.separators = options.separators ?? ':';
    this.maxDepth = options.maxDepth ?? 8;
    this.maxNodes = options.maxNodes ?? 100_000;
    const problem = separatorsProblem(this.separators);
    if (problem) throw new RangeError(`separators: ${problem}`);
    for (const ch of this.separators) this.isSeparator[ch.charCodeAt(0)] = 1;
    this.onlySeparator = this.separators.length === 1 ? this.separators.charCodeAt(0) : -1;
  }

  /** Counts the key bytes[start, end) and the memory it takes under the root and every prefix of it. */
  add(bytes: Uint8Array, start: number, end: number, memory: number): void {
    let node = this.root;
    node.keys++;
    node.memory += memory;
    let segmentStart = start;
    let depth = 0;
    // A key that ends with a separator is a key, not a namespace: its last byte never ends a prefix.
    const last = end - 1;
    for (let i = this.nextSeparator(bytes, start, last); i >= 0 && depth < this.maxDepth; i = this.nextSeparator(bytes, i + 1, last)) {
      const child = this.child(node, bytes, segmentStart, i + 1);
      if (!child) return;
      child.keys++;
      child.memory += memory;
      node = child;
      segmentStart = i + 1;
      depth++;
    }
  }

  /** The first separator in bytes[from, end), or -1. One separator (the usual case) is a plain comparison. */
  private nextSeparator(bytes: Uint8Array, from: number, end: number): number {
    const only = this.onlySeparator;
    if (only >= 0) {
      for (let i = from; i < end; i++) if (bytes[i] === only) return i;
      return -1;
    }
    const isSeparator = this.isSeparator;
    for (let i = from; i < end; i++) if (isSeparator[bytes[i]!] !== 0) return i;
    return -1;
  }

  /** The tree, children sorted by memory (then prefix), each level cut to its `maxChildren` largest. */
  report(maxChildren = Infinity): PrefixTreeReport {
    return {
      separators: this.separators,
      maxDepth: this.maxDepth,
      truncated: this.truncated,
      nodes: this.nodes,
      root: this.describe(this.root, this.root.segment, maxChildren),
    };
  }

  /** The child of `node` whose segment is key[start, end), created if the cap allows (else null). */
  private child(node: Node, key: Uint8Array, start: number, end: number): Node | null {
    // Keys of one namespace tend to come together: the child found last is tried before hashing.
    const last = node.lastChild;
    if (last !== null && sameBytes(last.segment, key, start, end)) return last;
    const hash = segmentHash(key, start, end);
    const first = node.children?.get(hash);
    for (let n: Node | null = first ?? null; n; n = n.next) {
      if (sameBytes(n.segment, key, start, end)) return (node.lastChild = n);
    }
    if (this.nodes >= this.maxNodes) {
      this.truncated = true;
      return null;
    }
    const created = newNode(key.slice(start, end));
    created.next = first ?? null;
    (node.children ??= new Map()).set(hash, created);
    this.nodes++;
    return (node.lastChild = created);
  }

  private describe(node: Node, prefix: Uint8Array, maxChildren: number): PrefixNode {
    const children: Node[] = [];
    for (const first of node.children?.values() ?? []) for (let n: Node | null = first; n; n = n.next) children.push(n);
    children.sort((x, y) => y.memory - x.memory || compareBytes(x.segment, y.segment));
    return {
      prefix: utf8.decode(prefix),
      keys: node.keys,
      memory: node.memory,
      children: children.slice(0, maxChildren).map((child) => this.describe(child, concat(prefix, child.segment), maxChildren)),
    };
  }
}
