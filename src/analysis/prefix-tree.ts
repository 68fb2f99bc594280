// Where memory goes by key namespace: keys are cut at separator bytes (`user:42:name` under `user:` and
// `user:42:`), and every prefix ending at a separator is a node holding the keys and bytes of all keys
// below it. Memory stays bounded for dumps with millions of distinct prefixes: once the tree holds
// `maxNodes` nodes it admits no new ones, and a key whose prefix was not admitted counts in the deepest
// admitted ancestor only. A node is created by the first key under it and only ever grows, so every
// count in the tree is exact; what the cap costs is detail (those keys show as "not under a listed
// prefix" of an ancestor), never accuracy. Keys arrive in hash-table order, so the namespaces that hold
// a noticeable share appear early, long before a cap is reached.

export interface PrefixTreeOptions {
  /** Bytes that end a segment (default ':'). ASCII characters. */
  separators?: string;
  /** Deepest prefix kept: the number of separators it contains (default 8). */
  maxDepth?: number;
  /** Most prefix nodes held (default 100,000); the root is not counted. */
  maxNodes?: number;
}

/** A prefix and the keys under it. `children` are sorted by bytes, largest first. */
export interface PrefixNode {
  /** The prefix, separator included ('' for the root), decoded as UTF-8 (invalid bytes as U+FFFD). */
  prefix: string;
  keys: number;
  bytes: number;
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

interface Node {
  keys: number;
  bytes: number;
  /** Children by their segment (the bytes after the parent's prefix, separator included), as latin1 text. */
  children: Map<string, Node> | null;
}

const utf8 = new TextDecoder();

export class PrefixTree {
  readonly separators: string;
  readonly maxDepth: number;
  readonly maxNodes: number;
  private readonly isSeparator = new Uint8Array(256);
  private readonly root: Node = { keys: 0, bytes: 0, children: null };
  private nodes = 0;
  private truncated = false;

  constructor(options: PrefixTreeOptions = {}) {
    this.separators = options.separators ?? ':';
    this.maxDepth = options.maxDepth ?? 8;
    this.maxNodes = options.maxNodes ?? 100_000;
    if (this.separators.length === 0) throw new RangeError('separators: give at least one character');
    for (const ch of this.separators) {
      const code = ch.charCodeAt(0);
      if (ch.length !== 1 || code > 0x7f) throw new RangeError(`separators: ${JSON.stringify(ch)} is not an ASCII character`);
      this.isSeparator[code] = 1;
    }
  }

  /** Counts a key and the bytes it takes under the root and every prefix of it. */
  add(key: Uint8Array, bytes: number): void {
    let node = this.root;
    node.keys++;
    node.bytes += bytes;
    let start = 0;
    let depth = 0;
    for (let i = 0; i < key.length && depth < this.maxDepth; i++) {
      if (!this.isSeparator[key[i]!]) continue;
      // A key that ends with a separator is a key, not a namespace: only prefixes with more after them.
      if (i + 1 === key.length) break;
      const child = this.child(node, latin1Text(key.subarray(start, i + 1)));
      if (!child) return;
      child.keys++;
      child.bytes += bytes;
      node = child;
      start = i + 1;
      depth++;
    }
  }

  /** The tree, children sorted by bytes (then prefix), each level cut to its `maxChildren` largest. */
  report(maxChildren = Infinity): PrefixTreeReport {
    return {
      separators: this.separators,
      maxDepth: this.maxDepth,
      truncated: this.truncated,
      nodes: this.nodes,
      root: this.describe(this.root, '', maxChildren),
    };
  }

  private child(node: Node, segment: string): Node | null {
    const found = node.children?.get(segment);
    if (found) return found;
    if (this.nodes >= this.maxNodes) {
      this.truncated = true;
      return null;
    }
    const created: Node = { keys: 0, bytes: 0, children: null };
    (node.children ??= new Map()).set(segment, created);
    this.nodes++;
    return created;
  }

  private describe(node: Node, prefix: string, maxChildren: number): PrefixNode {
    const children = [...(node.children ?? [])]
      .sort(([a, x], [b, y]) => y.bytes - x.bytes || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, maxChildren)
      .map(([segment, child]) => this.describe(child, prefix + segment, maxChildren));
    return { prefix: prefix === '' ? '' : utf8.decode(latin1Bytes(prefix)), keys: node.keys, bytes: node.bytes, children };
  }
}

/**
 * Bytes as a string of one character per byte (an exact map key; TextDecoder's 'latin1' is really
 * windows-1252, which maps 0x80-0x9f elsewhere).
 */
function latin1Text(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/** The bytes of a latin1Text string. */
function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
