// Keys that appear more than once in one database of a file. Redis refuses to load such a file (rdb.c:
// "Duplicated key found in RDB file"), so a reader should say so rather than print both copies silently.
//
// Bounded memory, little time per key: each key is noted as a 64-bit fingerprint (two 32-bit hashes of
// its bytes, or the CRC-64 the core computes for the JSON writer's keys), appended to its db's list (8
// bytes a key, written in order: no random access while the file is read); the lists are sorted and
// scanned for equal neighbours when the count is asked for. At most MAX_KEYS keys are noted (32 MiB, and
// as much again while a list grows); the keys after those are not checked. A fingerprint shared by two
// different keys would count as a duplicate: for n keys in a db that happens with probability about
// n²/2^65 (5·10⁻⁷ at the cap).

const MAX_KEYS = 1 << 22;
const FIRST_KEYS = 1 << 10;

/** One db's fingerprints: key i is words [2i, 2i + 1]. */
interface Fingerprints {
  words: Uint32Array;
  keys: number;
}

export class DuplicateKeys {
  private readonly dbs = new Map<number, Fingerprints>();
  private noted = 0;
  private db = -1;
  private list: Fingerprints | null = null;

  /** Notes the key bytes[start, end) of `db`. */
  add(db: number, bytes: Uint8Array, start = 0, end = bytes.length): void {
    let a = 0x811c9dc5, b = 0x9e3779b9;
    for (let i = start; i < end; i++) {
      const c = bytes[i]!;
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    this.addFingerprint(db, fmix32(a ^ (end - start)), fmix32(b));
  }

  /** Notes a key of `db` by a 64-bit fingerprint of its bytes, as two 32-bit halves (e.g. the core's CRC-64). */
  addFingerprint(db: number, high: number, low: number): void {
    if (this.noted === MAX_KEYS) return;
    let list = this.list;
    if (db !== this.db || !list) {
      this.db = db;
      list = this.dbs.get(db) ?? { words: new Uint32Array(2 * FIRST_KEYS), keys: 0 };
      this.dbs.set(db, list);
      this.list = list;
    }
    let words = list.words;
    const at = 2 * list.keys;
    if (at === words.length) {
      words = new Uint32Array(2 * words.length);
      words.set(list.words);
      list.words = words;
    }
    words[at] = high;
    words[at + 1] = low;
    list.keys++;
    this.noted++;
  }

  /** For each db with duplicates, how many keys repeat one noted before in it (copies after the first). */
  perDb(): Map<number, number> {
    const found = new Map<number, number>();
    for (const [db, { words, keys }] of this.dbs) {
      new BigUint64Array(words.buffer, 0, keys).sort();
      let n = 0;
      for (let i = 2; i < 2 * keys; i += 2) if (words[i] === words[i - 2] && words[i + 1] === words[i - 1]) n++;
      if (n > 0) found.set(db, n);
    }
    return found;
  }
}

/** murmur3's finalizer: every input bit reaches every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
