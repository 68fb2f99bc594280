// The report on a dump (`redistap report`, the browser inspector): totals by database, type and
// encoding, TTLs, the largest keys and the key namespaces, built from one KeyRecord per key in bounded
// memory. The shape is a versioned schema (docs/report-schema.md): add fields freely, bump the version
// when one changes meaning or goes away.
import { byteText, type ByteText } from '../rdb/canonical-json.js';
import type { RdbMetadata, RdbValueType } from '../rdb/entry.js';
import { encodingOf, valueTypeOf } from '../rdb/encodings.js';
import type { TtlReference } from '../rdb/key-filter.js';
import { auxNumber, savedAtMs, writerOf } from '../rdb/metadata-reader.js';
import type { KeyRecord, MeasuredKey } from './key-measurer.js';
import type { MemoryModel } from './memory/memory-model.js';
import { PrefixTree, type PrefixTreeOptions, type PrefixTreeReport } from './prefix-tree.js';
import { TopN } from './top-n.js';
import { TTL_BUCKETS, ttlBucket, type TtlBucket } from './ttl-buckets.js';

export const REPORT_SCHEMA = 'redistap.report';
export const REPORT_VERSION = 1;

/** Keys and their estimated memory in bytes. */
export interface Tally {
  keys: number;
  memory: number;
}

/** One key in a top list. */
export interface KeyRow {
  db: number;
  key: ByteText;
  type: RdbValueType;
  /** Encoding after a load (OBJECT ENCODING). */
  encoding: string;
  memory: number;
  /** Collection elements; for a string, its length in bytes. */
  elements: number;
  /** Bytes of the longest element (a string's length). */
  largestElement: number;
  /** Absolute expire time in Unix ms, or null. */
  expireMs: number | null;
}

export interface RdbReport {
  schema: typeof REPORT_SCHEMA;
  version: typeof REPORT_VERSION;
  dump: {
    rdbVersion: number;
    flavor: 'redis' | 'valkey';
    /** The writer's version (redis-ver / valkey-ver AUX field). */
    serverVersion: string | null;
    /** When the dump was saved (ctime AUX field), Unix ms. */
    savedAtMs: number | null;
    /** The writer's memory use when it saved (used-mem AUX field), bytes. */
    usedMemory: number | null;
    checksum: RdbMetadata['checksum'];
    /** Bytes read, and bytes after the RDB's end that were ignored. */
    bytes: number;
    trailingBytes: number;
  };
  memoryModel: MemoryModel | null;
  ttlReference: TtlReference;
  /** `elements`: of collections only (strings have none). */
  totals: Tally & { expiringKeys: number; elements: number };
  databases: Array<Tally & { db: number; expiringKeys: number }>;
  types: Array<Tally & { type: RdbValueType; elements: number }>;
  encodings: Array<Tally & { type: RdbValueType; encoding: string }>;
  fileEncodings: Array<Tally & { type: RdbValueType; encoding: string }>;
  ttl: Array<Tally & { bucket: TtlBucket }>;
  top: { byMemory: KeyRow[]; byElements: KeyRow[]; byLargestElement: KeyRow[] };
  prefixes: PrefixTreeReport;
  aux: Array<[string, string]>;
  functions: number;
  modules: RdbMetadata['moduleAux'];
}

export interface ReportOptions {
  /** Keys in each top list (default 50). */
  top?: number;
  prefixes?: PrefixTreeOptions & { /** Children kept per prefix in the report (default 50). */ maxChildren?: number };
}

interface Counter extends Tally {
  expiringKeys: number;
  elements: number;
}

/** The keys of one RDB type that load with one encoding (a type has a handful at most). */
interface ShapeCounter {
  encoding: string;
  counter: Counter;
}

const counter = (): Counter => ({ keys: 0, memory: 0, expiringKeys: 0, elements: 0 });

/** Elements of a collection (list items, members, hash fields, stream entries); a string has none. */
const elementsOf = (r: KeyRecord) => (r.type === 'string' ? 0 : r.elements);

function count(c: Counter, r: KeyRecord): void {
  c.keys++;
  c.memory += r.memory;
  c.elements += elementsOf(r);
  if (r.expireMs !== null) c.expiringKeys++;
}

function merge(into: Counter, c: Counter): void {
  into.keys += c.keys;
  into.memory += c.memory;
  into.elements += c.elements;
  into.expiringKeys += c.expiringKeys;
}

function entryOf<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = make()));
  return v;
}

const counterIn = <K>(map: Map<K, Counter>, key: K): Counter => entryOf(map, key, counter);
const encodingsOf = (map: Map<RdbValueType, Map<string, Counter>>, type: RdbValueType) => entryOf(map, type, () => new Map<string, Counter>());

function row(r: KeyRecord): KeyRow {
  return {
    db: r.db, key: byteText(r.key), type: r.type, encoding: r.encoding, memory: r.memory,
    elements: r.elements, largestElement: r.largestElement, expireMs: r.expireMs,
  };
}

/** Offers a record to a top list (the row is built only when the list keeps it). */
function offer(top: TopN<KeyRecord, KeyRow>, score: number, r: KeyRecord): void {
  if (score > top.threshold) top.offer(score, r);
}

const byMemory = <T extends Tally>(a: T, b: T) => b.memory - a.memory || b.keys - a.keys;

/** Encodings per type, flattened: largest memory first. */
function encodingRows(byType: Map<RdbValueType, Map<string, Counter>>): RdbReport['encodings'] {
  const rows: RdbReport['encodings'] = [];
  for (const [type, encodings] of byType) {
    for (const [encoding, c] of encodings) rows.push({ type, encoding, keys: c.keys, memory: c.memory });
  }
  return rows.sort(byMemory);
}

/** Accumulates KeyRecords into a report. */
export class ReportBuilder {
  private readonly dbs = new Map<number, Counter>();
  // Keys come grouped by database: the last one's counter saves a lookup per key.
  private lastDb = -1;
  private lastDbCounter = counter();
  /** Per RDB type (which fixes the value type and file encoding): a counter per encoding after a load. */
  private readonly shapes = new Map<number, ShapeCounter[]>();
  // Keys of one type often come in runs: the last type's list saves a lookup.
  private lastRdbType = -1;
  private lastShapes: ShapeCounter[] = [];
  private readonly ttl = Object.fromEntries(TTL_BUCKETS.map((b) => [b, counter()])) as Record<TtlBucket, Counter>;
  private readonly topMemory: TopN<KeyRecord, KeyRow>;
  private readonly topElements: TopN<KeyRecord, KeyRow>;
  private readonly topLargestElement: TopN<KeyRecord, KeyRow>;
  private readonly prefixes: PrefixTree;

  /** `reference` says when TTLs are measured from (ttlReferenceOf: fixed once asked). */
  constructor(private readonly reference: () => TtlReference, private readonly options: ReportOptions = {}) {
    const n = options.top ?? 50;
    this.topMemory = new TopN(n, row);
    this.topElements = new TopN(n, row);
    this.topLargestElement = new TopN(n, row);
    this.prefixes = new PrefixTree(options.prefixes);
  }

  /** Counts a key (the record may be reused once this returns). */
  add(r: MeasuredKey): void {
    if (r.db !== this.lastDb) {
      this.lastDb = r.db;
      this.lastDbCounter = counterIn(this.dbs, r.db);
    }
    count(this.lastDbCounter, r);
    count(this.shapeCounter(r), r);
    // Keys without a TTL are the rest of the totals (finish): most keys, so they are not counted here.
    if (r.expireMs !== null) count(this.ttl[ttlBucket(r.expireMs, this.reference().atMs)], r);
    offer(this.topMemory, r.memory, r);
    if (r.type !== 'string') offer(this.topElements, r.elements, r);
    offer(this.topLargestElement, r.largestElement, r);
    this.prefixes.add(r.keyBytes, r.keyStart, r.keyEnd, r.memory);
  }

  private shapeCounter(r: KeyRecord): Counter {
    if (r.rdbType !== this.lastRdbType) {
      this.lastRdbType = r.rdbType;
      this.lastShapes = entryOf(this.shapes, r.rdbType, () => []);
    }
    const shapes = this.lastShapes;
    for (let k = 0; k < shapes.length; k++) if (shapes[k]!.encoding === r.encoding) return shapes[k]!.counter;
    const created = { encoding: r.encoding, counter: counter() };
    shapes.push(created);
    return created.counter;
  }

  finish(metadata: RdbMetadata, model: MemoryModel | null, bytes: number): RdbReport {
    const { types, encodings, fileEncodings } = this.byType();
    const totals = counter();
    for (const c of types.values()) merge(totals, c);
    const { keys, memory, expiringKeys, elements } = totals;
    return {
      schema: REPORT_SCHEMA,
      version: REPORT_VERSION,
      dump: {
        rdbVersion: metadata.version, flavor: metadata.flavor, serverVersion: writerOf(metadata.aux)?.version ?? null, savedAtMs: savedAtMs(metadata),
        usedMemory: auxNumber(metadata, 'used-mem'), checksum: metadata.checksum, bytes, trailingBytes: metadata.trailingBytes,
      },
      memoryModel: model,
      ttlReference: this.reference(),
      totals: { keys, memory, expiringKeys, elements },
      databases: [...this.dbs].sort(([a], [b]) => a - b)
        .map(([db, c]) => ({ db, keys: c.keys, memory: c.memory, expiringKeys: c.expiringKeys })),
      types: [...types].map(([type, c]) => ({ type, keys: c.keys, memory: c.memory, elements: c.elements })).sort(byMemory),
      encodings: encodingRows(encodings),
      fileEncodings: encodingRows(fileEncodings),
      ttl: this.ttlRows(totals),
      top: {
        byMemory: this.topMemory.sorted().map((x) => x.item),
        byElements: this.topElements.sorted().map((x) => x.item),
        byLargestElement: this.topLargestElement.sorted().map((x) => x.item),
      },
      prefixes: this.prefixes.report(this.options.prefixes?.maxChildren ?? 50),
      aux: metadata.aux,
      functions: metadata.functions.length,
      modules: metadata.moduleAux,
    };
  }

  /** Keys per TTL bucket; those with none are what the other buckets leave of the totals. */
  private ttlRows(totals: Counter): RdbReport['ttl'] {
    const rows = TTL_BUCKETS.map((bucket) => ({ bucket, keys: this.ttl[bucket].keys, memory: this.ttl[bucket].memory }));
    const none = rows.find((row) => row.bucket === 'none')!;
    none.keys = totals.keys - totals.expiringKeys;
    none.memory = totals.memory - rows.reduce((sum, row) => sum + row.memory, 0);
    return rows;
  }

  /** The per-shape counters summed per value type, per encoding after a load, and per file encoding. */
  private byType() {
    const types = new Map<RdbValueType, Counter>();
    const encodings = new Map<RdbValueType, Map<string, Counter>>();
    const fileEncodings = new Map<RdbValueType, Map<string, Counter>>();
    for (const [rdbType, shapes] of this.shapes) {
      const type = valueTypeOf(rdbType);
      for (const { encoding, counter: c } of shapes) {
        merge(counterIn(types, type), c);
        merge(counterIn(encodingsOf(encodings, type), encoding), c);
        merge(counterIn(encodingsOf(fileEncodings, type), encodingOf(rdbType)), c);
      }
    }
    return { types, encodings, fileEncodings };
  }
}
