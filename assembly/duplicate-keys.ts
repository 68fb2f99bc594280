// Keys that appear more than once in one database of a file. Redis refuses to load such a file (rdb.c:
// "Duplicated key found in RDB file"), so `parse` says so rather than print both copies silently.
//
// The JSON writer notes each selected key here (and the host, through duplicatesAdd, the keys of the
// formats built in JS, in an instance of their own): a 64-bit fingerprint of its bytes appended to the
// key log (memory.ts: between scratch and the arena, grown as keys arrive), in sections, one per run of
// keys of one db. Each full block of a section (BLOCK fingerprints, 1 MiB) is partitioned by the fingerprints' top
// bits into BUCKETS buckets as soon as it is written, while it is in the cache. Repeats are counted once,
// at the end (duplicatesCheck): per db, each bucket's pieces of all blocks go into one open-addressing
// table that stays in the CPU cache. A db whose keys are in several sections (SELECTDB back to it) is
// first gathered above the log. At most MAX_KEYS keys are noted (32 MiB, and 16 bytes per section); the
// keys after those are not checked, and duplicatesIncomplete() says so (as it does when memory ran out
// for the log or the check: then the count covers only what it could). A fingerprint shared by two
// different keys would count as a repeat: for n keys in a db that happens with probability about
// n²/2^65 (5·10⁻⁷ at the cap).
import { logBase, logUsed, logEnsure, logRoom, setLogUsed } from "./memory";

export const MAX_KEYS: u32 = 1 << 22;

/** A section header in the log: db (i64), keys (u32), next section of the same db (u32, during a check). */
const HEADER: usize = 16;
const NONE: u32 = 0xffffffff;

/** A run up to this many fingerprints is checked with one table (256 KiB at most: in the L2 cache). */
const SMALL: usize = 16384;
/** Larger runs are partitioned a block at a time (1 MiB, and as much again to sort into) ... */
const BLOCK: usize = 1 << 17;
/** ... by their top bits, into this many buckets: up to 8,192 keys a bucket at the cap (MAX_KEYS). */
const BITS: u64 = 9;
const BUCKETS: usize = 1 << <usize>BITS;

let enabled = false;
/** The keys noted at most (MAX_KEYS; smaller through duplicatesCap, for tests). */
let cap: u32 = MAX_KEYS;
/** Why the check covers fewer than all keys: 0 it covers all, 1 the cap, 2 no memory. */
let incomplete: i32 = 0;
/** Log offset of a full block left unpartitioned when memory ran out for that (-1: none). */
let rawBlock: isize = -1;

/** Sets the cap for the next duplicatesInit (n = 0: MAX_KEYS); tests use a small one. */
export function duplicatesCap(n: u32): void {
  cap = n == 0 || n > MAX_KEYS ? MAX_KEYS : n;
}

/** After duplicatesCheck: 0 when it covered every key noted, 1 when keys past the cap were not checked, 2 when memory ran out. */
export function duplicatesIncomplete(): i32 {
  return incomplete;
}

/** Keys noted (the ones the check covers, when it is complete for them). */
export function duplicatesNoted(): f64 {
  return <f64>(noted + <u32>((logUsed - notedTo) >> 3));
}

function outOfMemory(): void {
  enabled = false;
  incomplete = 2;
}
/** Keys noted before the log offset notedTo. */
let noted: u32 = 0;
let notedTo: usize = 0;
let sections: u32 = 0;
/** The open section's header (log offset), and its db. */
let sectionAt: usize = 0;
let sectionDb: i64 = 0;
/**
 * Keys of sectionDb go straight into the log below this offset: there is room, the block is not full, the
 * cap is not reached (0: every key takes noteSlowly).
 */
let fastEnd: usize = 0;

export function duplicatesInit(): bool {
  bucketCheck = countBucket;
  enabled = false;
  noted = 0;
  notedTo = 0;
  sections = 0;
  fastEnd = 0;
  incomplete = 0;
  rawBlock = -1;
  if (!logEnsure(65536)) return false;
  enabled = true;
  return true;
}

const K1: u64 = 0x9e3779b97f4a7c15;
const K2: u64 = 0xbf58476d1ce4e5b9;
const K3: u64 = 0x94d049bb133111eb;

/** The low k bytes of w (0 ≤ k ≤ 8). */
@inline function lowBytes(w: u64, k: usize): u64 {
  return k >= 8 ? w : w & ((<u64>1 << (<u64>k << 3)) - 1);
}

/**
 * 64 bits of the key's n bytes at p. A key of up to 16 bytes (the usual) is two words, each multiplied
 * by an odd constant (the two at once: no chain of multiplies), read without a branch on the length:
 * this reads up to 15 bytes past the key's end (bytes its event buffer or scratch always has after it)
 * and masks them off. A longer key's words are mixed in one by one (xor, multiply, rotate). The length
 * seeds it, and a xorshift-multiply-xorshift ends it. Every step is invertible for a given length and
 * second word, so keys of one length up to 8 bytes never share a fingerprint.
 */
@inline function fingerprint(p: usize, n: usize): u64 {
  let h: u64;
  if (n <= 16) {
    const a = (lowBytes(load<u64>(p), n) ^ (<u64>n * K1)) * K2;
    const b = (lowBytes(load<u64>(p, 8), n > 8 ? n - 8 : 0) ^ K1) * K3;
    h = a ^ rotl<u64>(b, 32);
  } else {
    h = <u64>n * K1;
    let i: usize = 0;
    for (; i + 8 <= n; i += 8) h = rotl<u64>((h ^ load<u64>(p + i)) * K2, 31);
    h = rotl<u64>((h ^ lowBytes(load<u64>(p + i), n - i)) * K2, 31);
  }
  h ^= h >> 29;
  h *= K3;
  return h ^ (h >> 32);
}

/** Notes a key of db (its n bytes at p). Inlined into the JSON writer: most keys take only the first branch. */
@inline export function duplicatesNote(db: i64, p: usize, n: usize): void {
  const used = logUsed;
  if (used < fastEnd && db == sectionDb) {
    store<u64>(logBase + used, fingerprint(p, n));
    setLogUsed(used + 8);
  } else noteSlowly(db, p, n);
}

/** A key that opens a section, or ends a block, or needs the log to grow; or any key past the cap. */
function noteSlowly(db: i64, p: usize, n: usize): void {
  noted += <u32>((logUsed - notedTo) >> 3);
  notedTo = logUsed;
  fastEnd = 0;
  if (!enabled) return;
  if (noted >= cap) {
    if (incomplete == 0) incomplete = 1;
    return;
  }
  let used = logUsed;
  if (sections == 0 || db != sectionDb) {
    closeSection();
    if (!logEnsure(HEADER + 8)) { outOfMemory(); return; }
    sectionAt = used;
    sectionDb = db;
    store<i64>(logBase + used, db);
    used += HEADER;
    sections++;
  } else if (!logEnsure(8)) { outOfMemory(); return; }
  store<u64>(logBase + used, fingerprint(p, n));
  setLogUsed(used + 8);
  noted++;
  notedTo = logUsed;
  // Each block of a section is partitioned as soon as it is full, while it is in the cache.
  const keys = (logUsed - sectionAt - HEADER) >> 3;
  if ((keys & (BLOCK - 1)) == 0) {
    const work = (logUsed + 15) & ~<usize>15;
    if (!logEnsure(work - logUsed + BUCKETS * 8 + 16 + BLOCK * 8)) {
      rawBlock = <isize>(logUsed - BLOCK * 8); // partitioned by the check instead
      outOfMemory();
      return;
    }
    partitionBlock(logBase + logUsed - BLOCK * 8, BLOCK, logBase + work, logBase + work + BUCKETS * 4, logBase + work + BUCKETS * 8 + 16);
  }
  // The next keys of this section go straight in up to the block's last one, while the log has room.
  if (!logEnsure(65536)) { outOfMemory(); return; }
  const blockLast = logUsed + ((BLOCK - 1 - (keys & (BLOCK - 1))) << 3);
  fastEnd = min(min(blockLast, logRoom()), logUsed + (<usize>(cap - noted) << 3));
}

function closeSection(): void {
  if (sections == 0) return;
  store<u32>(logBase + sectionAt, <u32>((logUsed - sectionAt - HEADER) >> 3), 8);
  store<u32>(logBase + sectionAt, NONE, 12);
}

// ---------------------------------------------------------------- the check

/** Per db with repeats: db (i64), repeats (u64), from duplicatesCheck. */
let results: usize = 0;
let resultCount: u32 = 0;

/** The dbs of the log: open addressing by db, entries db (i64), first section, last section (u32). */
let dbTable: usize = 0; // log offset
let dbSize: usize = 0;
let dbCount: usize = 0;

/**
 * Counts, for each db, the keys that repeat one noted before in it; returns how many dbs have any (read
 * them with duplicatesDb/duplicatesRepeats, until the next key is noted).
 */
export function duplicatesCheck(): u32 {
  resultCount = 0;
  if (sections == 0) return 0;
  closeSection();
  dbTable = (logUsed + 15) & ~<usize>15;
  dbSize = 0;
  dbCount = 0;
  if (!growDbTable()) return checkFailed();
  for (let s: usize = 0; s < logUsed; s += HEADER + (<usize>load<u32>(logBase + s, 8) << 3)) {
    store<u32>(logBase + s, NONE, 12);
    const e = dbEntry(load<i64>(logBase + s));
    if (load<u32>(e, 8) == NONE) {
      store<i64>(e, load<i64>(logBase + s));
      store<u32>(e, <u32>s, 8);
      if (++dbCount * 2 > dbSize && !growDbTable()) return checkFailed();
    } else {
      store<u32>(logBase + <usize>load<u32>(e, 12), <u32>s, 12); // the db's previous section links here
    }
    store<u32>(dbEntry(load<i64>(logBase + s)), <u32>s, 12);
  }
  // Results after the table, working memory after them.
  const resultsOff = dbTable + dbSize * 16;
  const work = (resultsOff + dbCount * 16 + 15) & ~<usize>15;
  if (!logEnsure(work - logUsed)) return checkFailed();
  for (let slot: usize = 0; slot < dbSize; slot++) {
    const e = logBase + dbTable + slot * 16;
    const first = load<u32>(e, 8);
    if (first == NONE) continue;
    let repeats: u64;
    if (load<u32>(logBase + <usize>first, 12) == NONE) {
      // (its full blocks are partitioned already)
      repeats = countRepeats(<usize>first + HEADER, <usize>load<u32>(logBase + <usize>first, 8), work, true);
    } else {
      // Several sections: their fingerprints gathered into one run.
      let n: usize = 0;
      for (let s = first; s != NONE; s = load<u32>(logBase + <usize>s, 12)) n += <usize>load<u32>(logBase + <usize>s, 8);
      if (!logEnsure(work - logUsed + n * 8)) return checkFailed();
      let to = logBase + work;
      for (let s = first; s != NONE; s = load<u32>(logBase + <usize>s, 12)) {
        const bytes = <usize>load<u32>(logBase + <usize>s, 8) << 3;
        memory.copy(to, logBase + <usize>s + HEADER, bytes);
        to += bytes;
      }
      repeats = countRepeats(work, n, (work + n * 8 + 15) & ~<usize>15, false);
    }
    if (repeats == 0) continue;
    const r = logBase + resultsOff + <usize>resultCount * 16;
    store<i64>(r, load<i64>(e));
    store<u64>(r, repeats, 8);
    resultCount++;
  }
  results = logBase + resultsOff;
  return resultCount;
}

/** No memory to finish the check: no result, and duplicatesIncomplete() says so. */
function checkFailed(): u32 {
  incomplete = 2;
  resultCount = 0;
  return 0;
}

export function duplicatesDb(i: u32): f64 {
  return <f64>load<i64>(results + <usize>i * 16);
}

export function duplicatesRepeats(i: u32): f64 {
  return <f64>load<u64>(results + <usize>i * 16, 8);
}

/** The db table's entry for db: its own, or the free one where it goes. */
function dbEntry(db: i64): usize {
  const table = logBase + dbTable, mask = dbSize - 1;
  let slot = <usize>mix(<u64>db) & mask;
  let e = table + slot * 16;
  while (load<u32>(e, 8) != NONE && load<i64>(e) != db) {
    slot = (slot + 1) & mask;
    e = table + slot * 16;
  }
  return e;
}

/** Doubles the db table (a new one after the old: the check's memory is all above the log). */
function growDbTable(): bool {
  const old = dbTable, oldSize = dbSize;
  const size: usize = oldSize == 0 ? 16 : oldSize << 1;
  const at = oldSize == 0 ? old : (old + oldSize * 16 + 15) & ~<usize>15;
  if (!logEnsure(at - logUsed + size * 16 + 4096)) return false;
  memory.fill(logBase + at, 0xff, size * 16);
  dbTable = at;
  dbSize = size;
  for (let slot: usize = 0; slot < oldSize; slot++) {
    const e = logBase + old + slot * 16;
    if (load<u32>(e, 8) != NONE) memory.copy(dbEntry(load<i64>(e)), e, 16);
  }
  return true;
}

@inline function mix(h: u64): u64 {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccd;
  return h ^ (h >> 33);
}

/**
 * Repeats among the n fingerprints at log offset run (reordered in place; with blocked, its full blocks
 * are partitioned already); work: log offset of free memory. A large run is partitioned by the
 * fingerprints' top bits a block at a time (where it stays in the cache), so bucket k is a piece of every
 * block; then each bucket, its pieces together, is checked with one table.
 */
function countRepeats(run: usize, n: usize, work: usize, blocked: bool): u64 {
  if (n <= SMALL) {
    const table = tableFor(n, work);
    if (table == 0) { incomplete = 2; return 0; }
    return insertAll(logBase + run, n, table) + zerosRepeated();
  }
  const blocks = (n + BLOCK - 1) / BLOCK;
  // Per block, where each bucket starts in it and its end (u32); a cursor per bucket; the block buffer;
  // the table.
  const stride = (BUCKETS + 1) * 4;
  const bounds = work, cursors = bounds + blocks * stride, buffer = cursors + BUCKETS * 4;
  const tables = buffer + BLOCK * 8;
  if (!logEnsure(tables - logUsed)) { incomplete = 2; return 0; }
  for (let b: usize = 0; b < blocks; b++) {
    const a = logBase + run + b * BLOCK * 8, len = min(BLOCK, n - b * BLOCK);
    // (a full block is partitioned already, unless memory ran out for that when it filled)
    if (blocked && len == BLOCK && <isize>(run + b * BLOCK * 8) != rawBlock) countBlock(a, len, logBase + cursors, logBase + bounds + b * stride);
    else partitionBlock(a, len, logBase + cursors, logBase + bounds + b * stride, logBase + buffer);
  }
  let repeats: u64 = 0;
  for (let k: usize = 0; k < BUCKETS; k++) {
    const r = bucketCheck(logBase + run, blocks, logBase + bounds + (k << 2), stride, tables);
    if (r < 0) { incomplete = 2; return 0; }
    repeats += <u64>r;
  }
  return repeats;
}

/** Where each bucket of the len fingerprints at a starts (written at cur and bound), and the end (bound). */
function countBlock(a: usize, len: usize, cur: usize, bound: usize): void {
  memory.fill(cur, 0, BUCKETS * 4);
  for (let i: usize = 0; i < len; i++) {
    const c = cur + (<usize>(load<u64>(a + (i << 3)) >> (64 - BITS)) << 2);
    store<u32>(c, load<u32>(c) + 1);
  }
  let sum: u32 = 0;
  for (let k: usize = 0; k < BUCKETS; k++) {
    const c = load<u32>(cur + (k << 2));
    store<u32>(cur + (k << 2), sum);
    store<u32>(bound + (k << 2), sum);
    sum += c;
  }
  store<u32>(bound + (BUCKETS << 2), sum);
}

/** Orders the len fingerprints at a by bucket, through buffer; bound as in countBlock. */
function partitionBlock(a: usize, len: usize, cur: usize, bound: usize, buffer: usize): void {
  countBlock(a, len, cur, bound);
  for (let i: usize = 0; i < len; i++) {
    const v = load<u64>(a + (i << 3));
    const c = cur + (<usize>(v >> (64 - BITS)) << 2);
    const j = load<u32>(c);
    store<u32>(c, j + 1);
    store<u64>(buffer + (<usize>j << 3), v);
  }
  memory.copy(a, buffer, len << 3);
}

/**
 * countBucket, called through the function table: Binaryen would inline it into countRepeats, which runs
 * once, and V8 optimizes a WebAssembly function only for its later calls (countBucket: one per bucket).
 */
let bucketCheck: (run: usize, blocks: usize, bound: usize, stride: usize, tables: usize) => i64 = noBucketCheck;

function noBucketCheck(run: usize, blocks: usize, bound: usize, stride: usize, tables: usize): i64 {
  return -1;
}

/**
 * Repeats in one bucket: its piece of each block (run: the blocks' address; bound: the bucket's start in
 * the first block's bounds, stride apart); -1: no memory for its table.
 */
function countBucket(run: usize, blocks: usize, bound: usize, stride: usize, tables: usize): i64 {
  let count: usize = 0;
  for (let b: usize = 0; b < blocks; b++) count += <usize>(load<u32>(bound + b * stride, 4) - load<u32>(bound + b * stride));
  const table = tableFor(count, tables);
  if (table == 0) return -1;
  let repeats: u64 = 0;
  for (let b: usize = 0; b < blocks; b++) {
    const from = <usize>load<u32>(bound + b * stride);
    repeats += insertAll(run + (b * BLOCK + from) * 8, <usize>load<u32>(bound + b * stride, 4) - from, table);
  }
  return <i64>(repeats + zerosRepeated());
}

let tableMask: usize = 0;
/** Fingerprints 0 met since the table was cleared: 0 marks a free slot, so they are counted apart. */
let zeros: u64 = 0;

/** A cleared table for n fingerprints at log offset work (its address; 0: no memory). */
function tableFor(n: usize, work: usize): usize {
  let size: usize = 16;
  while (size < n * 2) size <<= 1;
  if (!logEnsure(work - logUsed + size * 8)) return 0;
  memory.fill(logBase + work, 0, size * 8);
  tableMask = size - 1;
  zeros = 0;
  return logBase + work;
}

/** Adds the n fingerprints at a to the table; returns how many it held already. */
function insertAll(a: usize, n: usize, table: usize): u64 {
  const mask = tableMask;
  let repeats: u64 = 0;
  for (let i: usize = 0; i < n; i++) {
    const v = load<u64>(a + (i << 3));
    if (v == 0) { zeros++; continue; }
    let slot = <usize>v & mask;
    for (;;) {
      const t = load<u64>(table + (slot << 3));
      if (t == 0) { store<u64>(table + (slot << 3), v); break; }
      if (t == v) { repeats++; break; }
      slot = (slot + 1) & mask;
    }
  }
  return repeats;
}

/** Repeats among the fingerprints 0 of the current table. */
function zerosRepeated(): u64 {
  return zeros > 1 ? zeros - 1 : 0;
}
