// A server's MEMORY USAGE <key> SAMPLES 0 right after loading a dump, predicted from the dump
// (docs/memory-model.md): Redis 7.0's rules, and where a family differs, its ServerRules. Each value is
// built the way rdbLoadObject builds it — which encoding it lands in, which containers are kept as the
// file has them and which are rebuilt, how its dicts were sized — then counted the way objectComputeSize
// counts it: jemalloc classes for allocations, plain sizeof for the structs it does not round, and the
// floating-point average over elements that truncates.
import * as abi from '../../core/abi.js';
import { sdsHeader, sdsSize, sizeClass, type Quantum } from './allocator.js';
import { DictSlots } from './dict-slots.js';
import { embeddedObject, sdsRequest } from './embedded-key.js';
import { hashtableBytes } from './hashtable-buckets.js';
import type { KeySizer, ValueEstimate } from './key-sizer.js';
import { LISTPACK_EMPTY, listpackEntrySize } from './listpack-size.js';
import { PackedSize, pushOverhead } from './packed-size.js';
import { redisScoreText } from './decimal.js';
import type { ServerRules } from './server-rules.js';
import { averaged, StreamSize } from './stream-size.js';
import { RDB_TYPE as T, valueTypeOf } from '../../rdb/encodings.js';

// Struct sizes on x86-64 (server.h, dict.h, quicklist.h, stream.h, rax.h).
const ROBJ = 16;
const DICT_ENTRY = 24;
/** Valkey 8.0's dictEntryNoValue: key, next. */
const NO_VALUE_ENTRY = 16;
/** Valkey 8.0's dictEntryEmbedded before the key's sds: value, next, header size. */
const EMBEDDED_ENTRY = 17;
const BUCKET = 8;
const QUICKLIST = 40;
const ZSET = 16;
const ZSKIPLIST = 32;
const EMBSTR_OVERHEAD = ROBJ + 3 + 1; // robj, sdshdr8, terminator in one allocation
/** 7.4's hash field metadata for a TTL: ExpireMeta and mstr flags. */
const FIELD_TTL_META = 16 + 2;

// Default thresholds (config.c).
const EMBSTR_MAX = 44;
const LIST_NODE_BYTES = 8192; // list-max-listpack-size -2
const SET_MAX_INTSET = 512;
const SET_MAX_LISTPACK = 128; // 7.2+
const ZSET_MAX_LISTPACK = 128;
const HASH_MAX_LISTPACK = 512;
const MAX_LISTPACK_VALUE = 64;
const INITIAL_DICT = 4;
const SKIPLIST_MAX_LEVEL = 32;

/** The skiplist header node: 32 levels. */
function skiplistHeader(quantum: Quantum): number {
  return sizeClass(24 + 16 * SKIPLIST_MAX_LEVEL, quantum);
}

/** Expected allocation of a skiplist node: levels are random (P(L) = 0.75 * 0.25^(L-1), capped at 32). */
function expectedSkiplistNode(quantum: Quantum): number {
  let sum = 0;
  for (let level = 1; level <= SKIPLIST_MAX_LEVEL; level++) {
    const p = level < SKIPLIST_MAX_LEVEL ? 0.75 * 0.25 ** (level - 1) : 0.25 ** (SKIPLIST_MAX_LEVEL - 1);
    sum += p * sizeClass(24 + 16 * level, quantum);
  }
  return sum;
}

/** How a list node's allocation is known: built here from its elements, kept from the file, or a plain node. */
const enum Node { None, Built, Kept, Plain }

export interface RedisSizerOptions {
  quantum: Quantum;
  rules: ServerRules;
}

export class RedisSizer implements KeySizer {
  private readonly quantum: Quantum;
  private readonly rules: ServerRules;
  private readonly skiplistNode: number;

  /** The key's RDB type; not a string before the first key, so that begin() resets everything. */
  private type = -1;
  private keyLength = 0;
  private expires = false;
  /** What the value's object counts: robj, or the object that holds the key too (Redis 8.2, Valkey 8.1+). */
  private object = ROBJ;
  private keyPart = 0;
  /** Elements (list items, members, pairs). */
  private n = 0;
  /** Longest sorted-set member (a listpack takes members up to 64 bytes). */
  private longest = 0;
  /** One listpack (ziplist up to 6.2) holding every element, as the loader would build it. */
  private readonly packed: PackedSize;
  /** Sum over elements of what a hash table entry costs (entry + sds strings). */
  private table = 0;
  /** Bytes of the value's packed containers in the file (sets, sorted sets, hashes kept as stored). */
  private blobBytes = 0;
  private stringBytes = ROBJ;
  private stringEncoding = 'embstr';

  // sets: integers only so far (intset), their width, members read before the first other one
  private integersOnly = true;
  private intWidth = 2;
  private integersBeforeOther = -1;
  private smallestInteger = 0;
  private largestInteger = 0;
  // hashes: the pending field, the first pair (1-based) with a string too long for a listpack
  private fieldLength = 0;
  private fieldInteger: number | null = null;
  private firstLongPair = 0;
  /** Bytes of the TTL entries a listpackex would hold. */
  private fieldTtls = 0;
  // lists: the node being filled (its bytes, not yet rounded to a class), and the nodes done
  private node = Node.None;
  /** Bytes of a kept or plain node; a built one is nodePacked. */
  private nodeBytes = 0;
  private readonly nodePacked: PackedSize;
  private nodeItems = 0;
  private nodes = 0;
  private nodesTotal = 0;
  /** Bytes of the last node done, when it is packed (not a plain node); else -1. */
  private packedNodeBytes = -1;
  private readonly stream: StreamSize;
  private moduleBytes = 0;
  private readonly estimate: ValueEstimate = { bytes: 0, encoding: '' };

  constructor(options: RedisSizerOptions) {
    this.quantum = options.quantum;
    this.rules = options.rules;
    this.packed = new PackedSize(options.rules.packedFormat);
    this.nodePacked = new PackedSize(options.rules.packedFormat);
    this.stream = new StreamSize(options.rules, options.quantum);
    this.skiplistNode = expectedSkiplistNode(options.quantum);
  }

  begin(rdbType: number, keyLength: number, expires: boolean): void {
    // Most keys are strings: what only other types use is reset only after one of them.
    if (this.type !== T.STRING) this.resetCollection();
    this.type = rdbType;
    this.keyLength = keyLength;
    this.expires = expires;
    const q = this.quantum;
    switch (this.rules.keyEmbedding) {
      case 'sds':
        this.object = ROBJ;
        this.keyPart = sdsSize(keyLength, q) + DICT_ENTRY;
        break;
      case 'dict-entry':
        this.object = ROBJ;
        this.keyPart = sizeClass(EMBEDDED_ENTRY + sdsHeader(keyLength) + keyLength + 1, q);
        break;
      case 'kvobj':
        this.object = embeddedObject(keyLength, null, expires, this.rules, q).bytes;
        this.keyPart = 0;
        break;
      case 'kvobj-uncounted':
        this.object = ROBJ;
        this.keyPart = 0;
    }
    this.stringBytes = this.object;
    this.stringEncoding = 'embstr';
  }

  private resetCollection(): void {
    this.n = 0;
    this.longest = 0;
    this.packed.reset();
    this.table = 0;
    this.blobBytes = 0;
    this.integersOnly = true;
    this.intWidth = 2;
    this.integersBeforeOther = -1;
    this.smallestInteger = 0;
    this.largestInteger = 0;
    this.firstLongPair = 0;
    this.fieldTtls = 0;
    this.node = Node.None;
    this.nodeBytes = 0;
    this.nodeItems = 0;
    this.nodes = 0;
    this.nodesTotal = 0;
    this.packedNodeBytes = -1;
    this.stream.reset();
    this.moduleBytes = 0;
  }

  string(length: number, integer: number | null): void {
    const q = this.quantum;
    if (integer !== null) this.stringEncoding = 'int';
    else if (length <= EMBSTR_MAX && (this.rules.keyEmbedding === 'kvobj' || this.rules.keyEmbedding === 'kvobj-uncounted')) this.kvobjString(length);
    else if (length <= EMBSTR_MAX) this.stringBytes = this.rules.exactContainers ? ROBJ + length + 2 : sizeClass(length + EMBSTR_OVERHEAD, q);
    else {
      this.stringBytes = this.object + sdsSize(length, q);
      this.stringEncoding = 'raw';
    }
  }

  /** Redis 8.2, Valkey 8.1+: a short string may be embedded in the object that holds its key. */
  private kvobjString(length: number): void {
    const object = embeddedObject(this.keyLength, length, this.expires, this.rules, this.quantum);
    if (object.embedsValue) {
      this.stringBytes = object.bytes;
    } else {
      this.stringBytes = this.object + sdsSize(length, this.quantum);
      this.stringEncoding = 'raw';
    }
  }

  listItem(length: number, integer: number | null): void {
    this.n++;
    if (this.type === T.LIST || this.type === T.LIST_ZIPLIST) {
      // Types 1 and 10: pushed one by one, a new node when the estimate passes the node size.
      if (this.rules.plainLargeListItems && length > LIST_NODE_BYTES) {
        this.closeNode();
        this.openNode(Node.Plain, length);
        this.nodeItems++;
        return;
      }
      if (this.node !== Node.Built || this.nodePacked.bytes + length + pushOverhead(this.nodePacked.format, length) > LIST_NODE_BYTES) {
        this.closeNode();
        this.openNode(Node.Built, 0);
      }
      this.nodePacked.add(length, integer);
    } else if (this.node === Node.Built) {
      this.nodePacked.add(length, integer);
    } else if (this.node === Node.Plain) {
      this.nodeBytes = length;
    }
    this.nodeItems++;
  }

  setMember(length: number, integer: number | null): void {
    if (integer === null) {
      if (this.integersOnly) this.integersBeforeOther = this.n;
      this.integersOnly = false;
    } else {
      this.intWidth = Math.max(this.intWidth, integerWidth(integer));
      if (this.integersOnly) {
        if (this.n === 0 || integer < this.smallestInteger) this.smallestInteger = integer;
        if (this.n === 0 || integer > this.largestInteger) this.largestInteger = integer;
      }
    }
    this.n++;
    if (length > this.longest) this.longest = length;
    this.table += this.rules.setEntry + sdsSize(length, this.quantum);
    if (this.rules.listpackSets && this.n <= SET_MAX_LISTPACK) this.packed.add(length, integer);
  }

  zsetMember(length: number, integer: number | null, score: number): void {
    this.n++;
    this.longest = Math.max(this.longest, length);
    this.table += sdsSize(length, this.quantum) + this.rules.zsetEntry;
    // The listpack the loader would build: only while the value can still end as one (printing every
    // score of a large sorted set the way Redis does would cost more than all the rest).
    if (this.type !== T.ZSET_LISTPACK && this.n <= ZSET_MAX_LISTPACK) {
      // A ziplist's scores are converted as the text its writer printed (Redis <= 6.2: %.17g); others are printed by the loader.
      const stored = redisScoreText(score, this.type === T.ZSET_ZIPLIST ? 'printf17' : this.rules.scorePrinting);
      this.packed.add(length, integer);
      this.packed.add(stored.length, stored.integer);
    }
  }

  hashField(length: number, integer: number | null): void {
    this.fieldLength = length;
    this.fieldInteger = integer;
  }

  hashValue(length: number, integer: number | null, expires: boolean): void {
    this.n++;
    const field = this.fieldLength;
    if (this.firstLongPair === 0 && (field > MAX_LISTPACK_VALUE || length > MAX_LISTPACK_VALUE)) this.firstLongPair = this.n;
    if (this.rules.tables === 'hashtable') {
      this.table += hashtableEntrySize(field, length, expires, this.quantum);
    } else {
      const fieldBytes = this.rules.hashFieldTtl ? hashFieldSize(field, expires, this.quantum) : sdsSize(field, this.quantum);
      this.table += DICT_ENTRY + fieldBytes + sdsSize(length, this.quantum);
    }
    this.packed.add(field, this.fieldInteger);
    this.packed.add(length, integer);
    // A listpackex's third entry per field: its expire time (ms, a 64-bit integer), or 0 without one.
    this.fieldTtls += expires ? 10 : 2;
  }

  blob(kind: number, bytes: number): void {
    if (this.type === T.LIST_QUICKLIST || this.type === T.LIST_QUICKLIST_2) {
      // Quicklists: a node per container, kept as the file has it, except ziplists from 7.0 on (rebuilt as listpacks).
      this.closeNode();
      if (kind === abi.BLOB_PLAIN) this.openNode(Node.Plain, 0);
      else if (kind === abi.BLOB_LISTPACK || this.rules.packedFormat === 'ziplist') this.openNode(Node.Kept, bytes);
      else this.openNode(Node.Built, 0);
      return;
    }
    this.blobBytes += bytes;
  }

  streamListpack(masterKey: Uint8Array, bytes: number): void {
    this.stream.listpack(masterKey, bytes);
  }

  streamEntry(): void {
    this.n++;
  }

  streamGroup(): void {
    this.stream.group();
  }

  streamPending(id: Uint8Array): void {
    this.stream.groupPending(id);
  }

  streamConsumer(nameLength: number): void {
    this.stream.consumer(nameLength);
  }

  streamConsumerPending(id: Uint8Array): void {
    this.stream.consumerPendingEntry(id);
  }

  moduleValue(bytes: number): void {
    this.moduleBytes = bytes;
  }

  end(): ValueEstimate {
    const estimate = this.value();
    estimate.bytes += this.keyPart;
    return estimate;
  }

  /** A hash table of n entries: a dict of `slots` buckets, or Valkey's hashtable (sized for n, `metadata` bytes). */
  private hashTableBytes(slots: number, n: number, metadata: number): number {
    return this.rules.tables === 'hashtable' ? hashtableBytes(n, metadata) : this.rules.dictStruct + BUCKET * slots;
  }

  /** What MEMORY USAGE counts for a packed container (ziplist, listpack, intset): its class, its exact size up to 6.2. */
  private container(bytes: number): number {
    return this.rules.exactContainers ? bytes : sizeClass(bytes, this.quantum);
  }

  /** The value's estimate, in the one object end() hands out (a key at a time, nothing allocated). */
  private result(bytes: number, encoding: string): ValueEstimate {
    const estimate = this.estimate;
    estimate.bytes = bytes;
    estimate.encoding = encoding;
    return estimate;
  }

  private value(): ValueEstimate {
    if (this.type === T.STRING) return this.result(this.stringBytes, this.stringEncoding); // most keys
    switch (valueTypeOf(this.type)) {
      case 'list': return this.list();
      case 'set': return this.set();
      case 'zset': return this.zset();
      case 'hash': return this.hash();
      case 'stream': return this.result(this.stream.bytes(this.object), 'stream');
      default: return this.result(this.object + this.moduleBytes, 'module');
    }
  }

  private openNode(kind: Node, bytes: number): void {
    this.node = kind;
    this.nodeBytes = bytes;
    this.nodePacked.reset();
    this.nodeItems = 0;
  }

  private closeNode(): void {
    if (this.node === Node.None) return;
    // The loader drops containers that hold no element.
    if (this.nodeItems > 0) {
      const bytes = this.node === Node.Built ? this.nodePacked.bytes : this.nodeBytes;
      this.nodes++;
      this.nodesTotal += this.rules.quicklistNode + (this.node === Node.Plain ? sizeClass(bytes, this.quantum) : this.container(bytes));
      this.packedNodeBytes = this.node === Node.Plain ? -1 : bytes;
    }
    this.node = Node.None;
  }

  private list(): ValueEstimate {
    this.closeNode();
    // 7.2+: a quicklist of one packed node within the node size becomes that listpack (not from a type-10 ziplist).
    if (this.rules.listpackLists && this.type !== T.LIST_ZIPLIST && this.nodes === 1 && this.packedNodeBytes >= 0 && this.packedNodeBytes <= LIST_NODE_BYTES) {
      return this.result(this.object + sizeClass(this.packedNodeBytes, this.quantum), 'listpack');
    }
    return this.result(averaged(this.object + QUICKLIST, this.nodesTotal, this.rules.listAveragePerElement ? this.n : this.nodes), 'quicklist');
  }

  private set(): ValueEstimate {
    const q = this.quantum;
    const n = this.n;
    if (this.type === T.SET_INTSET && n <= SET_MAX_INTSET) return this.result(this.object + this.container(this.blobBytes), 'intset');
    if (this.type === T.SET && n <= SET_MAX_INTSET && this.integersOnly) {
      return this.result(this.object + this.container(8 + n * this.intWidth), 'intset');
    }
    const listpackMax = this.rules.listpackSets ? SET_MAX_LISTPACK : SET_MAX_INTSET;
    if (this.type === T.SET_LISTPACK && n <= listpackMax) return this.result(this.object + sizeClass(this.blobBytes, q), 'listpack');
    if (this.rules.listpackSets && this.type === T.SET && n <= SET_MAX_LISTPACK && this.longest <= MAX_LISTPACK_VALUE) {
      return this.result(this.object + sizeClass(Math.max(this.convertedListpackCapacity(), this.packed.bytes), q), 'listpack');
    }
    let slots: number;
    if (this.type === T.SET && n <= SET_MAX_INTSET && !this.rules.listpackSets) {
      // 7.0: read into an intset until the first member that is not an integer, then converted: a dict
      // sized for the integers so far, asked to expand to the whole set (a rehash), then filled.
      const k = this.integersBeforeOther;
      const dict = new DictSlots();
      dict.expand(k);
      for (let i = 0; i < k; i++) dict.add();
      dict.expand(n);
      for (let i = k; i < n; i++) dict.add();
      slots = dict.slots;
    } else {
      slots = DictSlots.presized(n);
    }
    // Valkey 8.0: members beyond the first of their bucket have an entry (buckets are filled at random).
    const entries = this.rules.bareSetMembers ? NO_VALUE_ENTRY * Math.round(n - DictSlots.expectedNonEmpty(slots, n)) : 0;
    return this.result(averaged(this.object + this.hashTableBytes(slots, n, 0), this.table + entries, n), 'hashtable');
  }

  /**
   * 7.2+: the listpack an intset of k integers is converted into when a string member arrives is
   * allocated for k entries as wide as the widest of its smallest and largest, and never shrunk.
   */
  private convertedListpackCapacity(): number {
    const k = this.integersBeforeOther;
    if (k <= 0) return LISTPACK_EMPTY;
    const widest = Math.max(listpackEntrySize(0, this.smallestInteger), listpackEntrySize(0, this.largestInteger));
    return LISTPACK_EMPTY + widest * k;
  }

  private zset(): ValueEstimate {
    const q = this.quantum;
    const n = this.n;
    const fromPlain = this.type === T.ZSET || this.type === T.ZSET_2;
    if (n <= ZSET_MAX_LISTPACK && (!fromPlain || this.longest <= MAX_LISTPACK_VALUE)) {
      const kept = this.type === T.ZSET_LISTPACK || (this.type === T.ZSET_ZIPLIST && this.rules.packedFormat === 'ziplist');
      return this.result(this.object + this.container(kept ? this.blobBytes : this.packed.bytes), this.rules.packedFormat);
    }
    let slots: number;
    if (fromPlain || this.rules.presizedZsetConversion) {
      slots = DictSlots.presized(n);
    } else {
      // zsetConvert in 7.0 does not pre-size its dict: it grows (and rehashes) one add at a time.
      const dict = new DictSlots();
      for (let i = 0; i < n; i++) dict.add();
      slots = dict.slots;
    }
    const base = this.object + ZSET + ZSKIPLIST + this.hashTableBytes(slots, n, 0) + skiplistHeader(q);
    return this.result(averaged(base, this.table + Math.round(n * this.skiplistNode), n), 'skiplist');
  }

  private hash(): ValueEstimate {
    const q = this.quantum;
    const n = this.n;
    const withFieldTtls = this.rules.hashFieldTtl && HASH_TYPES_WITH_TTLS.has(this.type);
    // Valkey 9.0 loads a hash whose fields may have TTLs into a hashtable whatever its size.
    if (n <= HASH_MAX_LISTPACK && this.type !== T.VALKEY_HASH_2) {
      if (withFieldTtls) {
        const kept = this.type === T.HASH_LISTPACK_EX || this.type === T.HASH_LISTPACK_EX_PRE_GA;
        if (kept || this.firstLongPair === 0) {
          const listpack = kept ? this.blobBytes : this.packed.bytes + this.fieldTtls;
          return this.result(this.object + sizeClass(this.rules.listpackEx, q) + sizeClass(listpack, q), 'listpackex');
        }
      } else if (this.type === T.HASH_LISTPACK || this.type === T.HASH_LISTPACK_EX || this.type === T.HASH_LISTPACK_EX_PRE_GA) {
        return this.result(this.object + sizeClass(this.blobBytes, q), 'listpack');
      } else if (this.type === T.HASH_ZIPLIST && this.rules.packedFormat === 'ziplist') {
        return this.result(this.object + this.container(this.blobBytes), 'ziplist');
      } else if (this.type === T.HASH_ZIPLIST || this.firstLongPair === 0) {
        return this.result(this.object + this.container(this.packed.bytes), this.rules.packedFormat);
      }
    }
    let slots: number;
    if (n <= HASH_MAX_LISTPACK && (this.type === T.HASH || withFieldTtls)) {
      // A listpack until pair j brings a long string: converted into a dict sized for j - 1 pairs (6.2:
      // not sized), pair j added, the dict asked to expand to the pairs still to come (when more than 4),
      // then filled.
      const j = this.firstLongPair;
      const dict = new DictSlots();
      if (this.rules.presizedHashConversion) dict.expand(j - 1);
      for (let i = 0; i < j; i++) dict.add();
      const remaining = n - j;
      if (remaining > INITIAL_DICT) dict.expand(remaining);
      for (let i = 0; i < remaining; i++) dict.add();
      slots = dict.slots;
    } else if (withFieldTtls) {
      // 7.4: a large hash with field TTLs starts as an empty dict that is never pre-sized.
      const dict = new DictSlots();
      for (let i = 0; i < n; i++) dict.add();
      slots = dict.slots;
    } else {
      slots = DictSlots.presized(n);
    }
    return this.result(averaged(this.object + this.hashTableBytes(slots, n, this.rules.hashTableMetadata), this.table, n), 'hashtable');
  }

}

/**
 * Valkey 8.1+'s hash entry: field and value in one allocation when both fit in 128 bytes (the value as
 * a type-8 sds), else the field after a pointer to the value's own sds; an expire time in front of a
 * field with a TTL (Valkey 9.0).
 */
function hashtableEntrySize(field: number, value: number, expires: boolean, quantum: Quantum): number {
  const expire = expires ? 8 : 0;
  const fieldBytes = expire > 0 && field < 32 ? 3 + field + 1 : sdsRequest(field);
  if (fieldBytes + expire + 3 + value + 1 <= 128) return sizeClass(fieldBytes + expire + 3 + value + 1, quantum);
  const pointed = field < 32 ? 3 + field + 1 : fieldBytes; // a field before a value pointer is type 8 or wider
  return sizeClass(expire + 8 + pointed, quantum) + sdsSize(value, quantum);
}

/** RDB types of hashes whose fields may have TTLs (Redis 7.4+). */
const HASH_TYPES_WITH_TTLS = new Set<number>([T.HASH_METADATA, T.HASH_METADATA_PRE_GA, T.HASH_LISTPACK_EX, T.HASH_LISTPACK_EX_PRE_GA]);

/** 7.4's hash field (hfield, an mstr): header 1, 3, 3 or 9 bytes; metadata when it has a TTL. */
function hashFieldSize(length: number, expires: boolean, quantum: Quantum): number {
  const header = length < 32 ? 1 : length < 65536 ? 3 : 9;
  return sizeClass((expires ? FIELD_TTL_META : 0) + header + length + 1, quantum);
}

/** Bytes an intset needs per element for this value: 2, 4 or 8. */
function integerWidth(v: number): number {
  if (v >= -32768 && v <= 32767) return 2;
  if (v >= -2147483648 && v <= 2147483647) return 4;
  return 8;
}
