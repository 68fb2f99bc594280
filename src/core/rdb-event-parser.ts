// The low-level streaming RDB parser: feed bytes in chunks of any size, receive batches of typed events.
import * as abi from './abi.js';
import { EventBatch } from './event-batch.js';
import { pumpEvents } from './event-pump.js';
import { RdbError } from './errors.js';
import { applyTestDuplicateCap, duplicateCheckGapOf, instantiateRdbCore, loadRdbCore, loadRdbCoreSync, repeatedKeysOf, type DuplicateCheckGap, type RdbCoreExports, type RdbCoreHost } from './wasm.js';

export interface RdbParserOptions {
  /** Verify the CRC64 trailer when it is not 0 (default true). */
  verifyChecksum?: boolean;
  /**
   * With verifyChecksum: false, still compute the CRC64 of the first this many bytes: an ExternalChecksum
   * computes the rest on another thread and verifyChecksumWith joins the two (see its `from`).
   */
  checksumPrefix?: number;
  /**
   * Also report every packed container (ziplist, listpack, intset, zipmap, quicklist node, stream listpack)
   * as an E_BLOB event before its elements, with its size in the file (default false).
   */
  blobEvents?: boolean;
  /**
   * Also report where each key's value starts in the stream, as an E_VALUE_SPAN event after its E_KEY
   * (its end is E_KEY_END's n2): the value's bytes as the file holds them (default false).
   */
  valueSpans?: boolean;
  /** Parse a DUMP/RESTORE payload instead of a whole RDB file; its footer must be passed. */
  dump?: { version: number; flavor?: 'redis' | 'valkey' };
  /** Bytes of the core's input buffer (default 1 MiB, at least 4 KiB). Strings up to half of it arrive in one piece. */
  inputBufferSize?: number;
  /** Event records per batch (default 8192). */
  eventCapacity?: number;
  /** Most memory one key, field or packed container may need (default 1 GiB). */
  maxScratchBytes?: number;
  /**
   * Let the core itself write canonical JSON lines (FORMAT.md) for every type; take them with
   * canonicalOutput(). The sink then only receives batches that hold something
   * else too (other types, metadata); they still contain every event.
   */
  canonicalJson?: CanonicalJsonOptions;
  /**
   * Let the core itself write each key as `RESTORE key expire payload REPLACE ABSTTL` (RESP, SELECT as the
   * db changes), the payload being the value exactly as the snapshot stores it: for copying into a server
   * that loads this RDB version. Take them with restoreOutput(); the sink receives no batches.
   */
  restoreCommands?: RestoreCommandsOptions;
}

export interface RestoreCommandsOptions {
  /**
   * The db a key goes to, or -1 to leave it out (key bytes valid during the call). Asked about module
   * values (without it they are left out), and about every key with routeEveryKey.
   */
  routeKey?: RdbCoreHost['routeKey'];
  /** Ask routeKey about every key (a db map, a key filter); else keys keep their db (default false). */
  routeEveryKey?: boolean;
  /**
   * Write `FUNCTION LOAD REPLACE <code>` for each function library of the snapshot, for a target that has
   * functions (Redis 7.0+, Valkey); else they are only counted (librariesLeftOut). Default false.
   */
  functions?: boolean;
}

/** RESTORE commands the core has written since they were last taken (a view into WebAssembly memory). */
export interface RestoreOutput {
  bytes: Uint8Array;
  /** Commands in bytes (SELECTs included): the replies to expect. */
  commands: number;
  /** Keys among them. */
  keys: number;
  /** Function libraries of the snapshot not written as FUNCTION LOAD (see RestoreCommandsOptions.functions). */
  librariesLeftOut: number;
  /** The db the commands leave the connection in (-1: they select none, nor did earlier ones). */
  endDb: number;
}

export interface CanonicalJsonOptions {
  /** Value types to write (default: all); module values have no line, but selected they are counted. */
  types?: Array<'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream' | 'module'>;
  /** Only these databases (default: all). */
  dbs?: number[];
  /** Per-key selection, asked for every key when given. */
  keepKey?: RdbCoreHost['keepKey'];
  /** Count the selected keys (module values included) that repeat one before them in their db: repeatedKeys(). */
  duplicateKeys?: boolean;
}

const JSON_TYPE_BITS = { module: 1 << 0, string: 1 << 1, list: 1 << 2, set: 1 << 3, zset: 1 << 4, hash: 1 << 5, stream: 1 << 6 } as const;

export type EventSink = (events: EventBatch) => void;

export interface UnverifiedChecksum {
  stored: bigint;
  length: number;
  prefixCrc: bigint;
  prefixLength: number;
}

const DEFAULT_INPUT = 1 << 20;
const DEFAULT_EVENTS = 8192;
const DEFAULT_SCRATCH = 1 << 30;

export class RdbEventParser {
  private readonly core: RdbCoreExports;
  private readonly batch = new EventBatch();
  private status: number = abi.ST_NEED_MORE;
  private u8: Uint8Array;

  private readonly prefix: number;

  private constructor(module: WebAssembly.Module, options: RdbParserOptions) {
    this.prefix = options.verifyChecksum === false ? options.checksumPrefix ?? 0 : 0;
    const json = options.canonicalJson;
    this.core = instantiateRdbCore(module, { keepKey: json?.keepKey, routeKey: options.restoreCommands?.routeKey });
    const dump = options.dump;
    const ok = this.core.init(
      Math.max(options.inputBufferSize ?? DEFAULT_INPUT, 4096),
      Math.max(options.eventCapacity ?? DEFAULT_EVENTS, 64),
      Math.min(options.maxScratchBytes ?? DEFAULT_SCRATCH, 0xffff0000) >>> 0,
      dump ? abi.MODE_DUMP : abi.MODE_FILE,
      (options.verifyChecksum === false ? 0 : abi.OPT_VERIFY_CHECKSUM) | (options.blobEvents ? abi.OPT_BLOB_EVENTS : 0) |
        (options.valueSpans ? abi.OPT_VALUE_SPANS : 0),
      dump?.version ?? 0,
      dump?.flavor === 'valkey' || (dump && dump.version >= 80) ? abi.FLAVOR_VALKEY : abi.FLAVOR_REDIS,
      options.checksumPrefix ?? -1,
    );
    if (!ok) throw new RangeError('could not set up the RDB parser memory');
    this.u8 = new Uint8Array(this.core.memory.buffer);
    if (options.canonicalJson) this.enableJson(options.canonicalJson);
    if (options.restoreCommands) {
      if (options.canonicalJson) throw new RangeError('canonicalJson and restoreCommands cannot be combined');
      if (!this.core.restoreEnable(options.restoreCommands.routeEveryKey ? 1 : 0, options.restoreCommands.functions ? 1 : 0)) throw new RangeError('could not set up the RESTORE writer memory');
      this.restore = true;
    }
  }

  private json = false;
  private restore = false;

  private enableJson(o: CanonicalJsonOptions): void {
    const types = o.types ?? (['module', 'string', 'list', 'set', 'zset', 'hash', 'stream'] as const);
    const mask = types.reduce((m, t) => m | JSON_TYPE_BITS[t], 0);
    const dbs = o.dbs ?? [];
    if (dbs.length > 64) throw new RangeError('canonicalJson.dbs: at most 64 databases');
    const hostFlags = (o.keepKey ? abi.JSON_HOST_FILTER : 0) | (o.duplicateKeys ? abi.JSON_DUPLICATE_KEYS : 0);
    if (o.duplicateKeys) applyTestDuplicateCap(this.core);
    if (!this.core.jsonEnable(mask, hostFlags, dbs.length)) throw new RangeError('could not set up the JSON writer memory');
    const list = new BigInt64Array(this.core.memory.buffer, this.core.jsonDbList(), dbs.length);
    dbs.forEach((db, i) => { list[i] = BigInt(db); });
    this.json = true;
  }

  /**
   * The batch being read. In canonicalJson mode the core's writer reads each batch before the sink does,
   * and asks keepKey while reading it: a keepKey that needs events before the key (the AUX fields) finds
   * the ones the sink has not seen yet here.
   */
  get batchInProgress(): EventBatch {
    return this.batch;
  }

  /** Bytes of completed canonical lines waiting (canonicalJson mode). */
  get canonicalOutputLength(): number {
    return this.json ? this.core.jsonOutputLength() : 0;
  }

  /**
   * The completed canonical lines as a view into WebAssembly memory; call canonicalOutputTaken() once
   * they are written out (the view is then reused).
   */
  canonicalOutput(): Uint8Array {
    return new Uint8Array(this.core.memory.buffer, this.core.jsonOutputPtr(), this.core.jsonOutputLength());
  }

  canonicalOutputTaken(): void {
    this.core.jsonFlushed();
  }

  /** Selected module values, which have no canonical line (canonicalJson mode). */
  get modulesLeftOut(): number {
    return this.json ? this.core.jsonModulesLeftOut() : 0;
  }

  /**
   * For each db with any, how many selected keys repeat one before them in it (canonicalJson with
   * duplicateKeys): counted over the keys read so far, the first 4,194,304 of them.
   */
  repeatedKeys(): Map<number, number> {
    return this.json ? repeatedKeysOf(this.core) : new Map();
  }

  /** After repeatedKeys(): null when it covered every key read, else how many it covered and why not all. */
  duplicateCheckGap(): DuplicateCheckGap | null {
    return this.json ? duplicateCheckGapOf(this.core) : null;
  }

  /** The RESTORE commands written so far (restoreCommands mode); call restoreOutputTaken() once sent. */
  restoreOutput(): RestoreOutput {
    const core = this.core;
    return {
      bytes: new Uint8Array(core.memory.buffer, core.restoreOutputPtr(), core.restoreOutputLength()),
      commands: core.restoreCommands(),
      keys: core.restoreKeys(),
      librariesLeftOut: core.restoreLibrariesLeftOut(),
      endDb: core.restoreTargetDb(),
    };
  }

  restoreOutputTaken(): void {
    this.core.restoreFlushed();
  }

  /** Creates a parser; the WebAssembly module is compiled once and cached. */
  static async create(options: RdbParserOptions = {}): Promise<RdbEventParser> {
    return new RdbEventParser(await loadRdbCore(), options);
  }

  /** Synchronous creation (Node and workers; browsers' main threads need create()). */
  static createSync(options: RdbParserOptions = {}): RdbEventParser {
    return new RdbEventParser(loadRdbCoreSync(), options);
  }

  /** True once the RDB's EOF opcode and checksum (or a DUMP footer) were read. */
  get done(): boolean {
    return this.status === abi.ST_DONE;
  }

  /** Absolute offset of the first byte not consumed yet (after done: the RDB's length). */
  get consumed(): number {
    return this.core.consumed();
  }

  /** Size of the parser's WebAssembly memory (its whole footprint). */
  get memoryBytes(): number {
    return this.core.memory.buffer.byteLength;
  }

  /**
   * With verifyChecksum: false, once done: the checksum the file stores, how many bytes it covers, and the
   * CRC of the first prefixLength of them (see checksumPrefix), for a caller that verifies it elsewhere
   * (verifyChecksumWith). Null when there is nothing to verify (RDB < 5, a writer that stored 0, checksum
   * verified by the parser itself, DUMP payloads).
   */
  get unverifiedChecksum(): UnverifiedChecksum | null {
    const length = this.done ? this.core.trailerLength() : -1;
    if (length < 0) return null;
    return {
      stored: BigInt.asUintN(64, this.core.trailerStored()),
      length,
      prefixCrc: this.core.prefixCrc(),
      prefixLength: Math.min(length, Math.max(this.prefix, 0)),
    };
  }

  /** The CRC64 of bytes A followed by B, from the CRC of each and B's length. */
  joinCrc(crcA: bigint, crcB: bigint, lengthB: number): bigint {
    return BigInt.asUintN(64, this.core.crc64Join(crcA, crcB, lengthB));
  }

  get version(): number {
    return this.core.rdbVersion();
  }

  get flavor(): 'redis' | 'valkey' {
    return this.core.rdbFlavor() === abi.FLAVOR_VALKEY ? 'valkey' : 'redis';
  }

  /** Parses a chunk of any size, calling sink for every batch of events. Throws RdbError. */
  write(chunk: Uint8Array, sink: EventSink): void {
    this.written += chunk.length;
    let off = 0;
    while (off < chunk.length && this.status === abi.ST_NEED_MORE) {
      const n = Math.min(this.core.inputSpace(), chunk.length - off);
      if (this.u8.buffer !== this.core.memory.buffer) this.u8 = new Uint8Array(this.core.memory.buffer);
      this.u8.set(n === chunk.length ? chunk : chunk.subarray(off, off + n), this.core.inputPtr());
      off += n;
      this.settle(this.core.feed(n), sink);
    }
  }

  /**
   * Lets `read` put bytes straight into the parser's input buffer (no copy), then parses them. `read`
   * gets the free space as a view and returns how many bytes it wrote (0: end of input, nothing parsed).
   * Returns that count. For readers that can fill a given buffer, such as fs.readSync.
   */
  fill(read: (into: Uint8Array) => number, sink: EventSink): number {
    if (this.status !== abi.ST_NEED_MORE) return 0;
    const space = this.core.inputSpace();
    const n = read(new Uint8Array(this.core.memory.buffer, this.core.inputPtr(), space));
    if (n > 0) {
      this.written += n;
      this.settle(this.core.feed(n), sink);
    }
    return n;
  }

  private written = 0;

  /** Bytes written after the end of the RDB (not parsed). */
  get trailingBytes(): number {
    return this.done ? this.written - this.core.consumed() : 0;
  }

  /** Signals the end of input; throws a truncation error when the RDB was incomplete. */
  end(sink: EventSink): void {
    this.settle(this.core.finish(), sink);
  }

  private settle(status: number, sink: EventSink): void {
    this.status = pumpEvents(this.core, this.batch, status, this.json ? (batch) => {
      this.core.jsonConsume();
      // In canonicalJson mode, batches the core wrote entirely are not passed on.
      if (this.core.jsonHostNeeded()) sink(batch);
    } : this.restore ? () => {
      if (this.core.restoreConsume()) return;
      this.status = abi.ST_ERROR;
      throw this.error();
    } : sink);
    if (this.status === abi.ST_ERROR) throw this.error();
  }

  private error(): RdbError {
    const version = this.core.rdbVersion();
    return RdbError.fromCore(this.core.errorCode(), this.core.errorOffset(), this.core.errorDetail(),
      version ? { version, flavor: this.flavor } : {});
  }
}
