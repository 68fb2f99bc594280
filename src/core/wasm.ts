// Loading the RDB core: the module is compiled once per process (or worker) and instantiated once per
// parser, so every stream has its own linear memory and global state (DESIGN.md rule 6).
import { RDB_SIMD_WASM_BASE64, RDB_WASM_BASE64 } from './rdb-wasm.generated.js';
import { parseScoreText } from './scores.js';
import { decodeBase64 } from './base64.js';
import type { StreamingCore } from './event-pump.js';

/** The functions build/rdb.wasm exports (assembly/rdb/index.ts). */
export interface RdbCoreExports extends StreamingCore {
  init(inputCap: number, eventCap: number, scratchMax: number, mode: number, options: number, dumpVersion: number, dumpFlavor: number, crcPrefix: number): number;
  finish(): number;
  rdbVersion(): number;
  rdbFlavor(): number;
  trailerStored(): bigint;
  trailerLength(): number;
  prefixCrc(): bigint;
  crc64(crc: bigint, ptr: number, n: number): bigint;
  crc64Join(crcA: bigint, crcB: bigint, lengthB: number): bigint;
  jsonEnable(types: number, hostFlags: number, dbs: number): number;
  jsonDbList(): number;
  jsonConsume(): void;
  jsonHostNeeded(): number;
  jsonModulesLeftOut(): number;
  duplicatesCheck(): number;
  duplicatesDb(i: number): number;
  duplicatesRepeats(i: number): number;
  duplicatesEnable(): number;
  duplicatesCap(n: number): void;
  duplicatesLogLimit(n: number): void;
  duplicatesIncomplete(): number;
  duplicatesNoted(): number;
  duplicatesSpace(n: number): number;
  duplicatesAdd(db: number, ptr: number, n: number): number;
  jsonOutputPtr(): number;
  jsonOutputLength(): number;
  jsonFlushed(): void;
  restoreEnable(hostRoutes: number, functions: number): number;
  restoreConsume(): number;
  restoreOutputPtr(): number;
  restoreOutputLength(): number;
  restoreCommands(): number;
  restoreKeys(): number;
  restoreLibrariesLeftOut(): number;
  restoreTargetDb(): number;
  restoreFlushed(): void;
}

/** What the core may ask its host while it writes canonical JSON or RESTORE commands. */
export interface RdbCoreHost {
  /**
   * Whether the key (bytes valid during the call; expire time in Unix ms or null) is selected; only asked
   * when a key filter is set.
   */
  keepKey?(db: number, rdbType: number, key: Uint8Array, expireMs: number | null): boolean;
  /**
   * The db to restore the key into, or -1 to leave it out (RESTORE commands); asked for every key when
   * given, else only for module values, which are then left out.
   */
  routeKey?(db: number, rdbType: number, key: Uint8Array, expireMs: number | null): number;
}

/** Why a duplicate-key check left keys out: past the cap (4,194,304 keys), or memory ran out. */
export interface DuplicateCheckGap {
  /** The keys noted: the check covers at most these. */
  keys: number;
  reason: 'cap' | 'memory';
}

/** After duplicatesCheck (repeatedKeysOf): null when it covered every key, else what it covered. */
export function duplicateCheckGapOf(core: RdbCoreExports): DuplicateCheckGap | null {
  const why = core.duplicatesIncomplete();
  return why === 0 ? null : { keys: core.duplicatesNoted(), reason: why === 1 ? 'cap' : 'memory' };
}

/**
 * For tests only: a smaller cap than 4,194,304 keys from REDISTAP_TEST_DUPLICATE_KEYS_CAP, set before the
 * check is enabled (once per instance, nothing per key).
 */
export function applyTestDuplicateCap(core: RdbCoreExports): void {
  const n = Number(globalThis.process?.env?.REDISTAP_TEST_DUPLICATE_KEYS_CAP ?? 0);
  if (Number.isSafeInteger(n) && n > 0) core.duplicatesCap(n);
}

/** duplicatesCheck's count: for each db with any, the keys that repeat one noted before them in it. */
export function repeatedKeysOf(core: RdbCoreExports): Map<number, number> {
  const found = new Map<number, number>();
  for (let i = 0, n = core.duplicatesCheck(); i < n; i++) found.set(core.duplicatesDb(i), core.duplicatesRepeats(i));
  return found;
}

/** Which build of the core to load: the SIMD one where the engine supports it, or the portable one. */
export type RdbCoreBuild = 'auto' | 'simd' | 'portable';

let build: RdbCoreBuild = 'auto';
let compiled: WebAssembly.Module | undefined;
let compiling: Promise<WebAssembly.Module> | undefined;

/** Chooses the build for parsers created from now on (tests run both; 'auto' is the default). */
export function useRdbCoreBuild(choice: RdbCoreBuild): void {
  if (choice !== build) {
    build = choice;
    compiled = undefined;
    compiling = undefined;
  }
}

/** The builds to try, best first: an engine without SIMD rejects the SIMD build at validation. */
function candidates(): Uint8Array<ArrayBuffer>[] {
  if (build === 'portable') return [decodeBase64(RDB_WASM_BASE64)];
  const simd = decodeBase64(RDB_SIMD_WASM_BASE64);
  if (build === 'simd') return [simd];
  return WebAssembly.validate(simd) ? [simd] : [decodeBase64(RDB_WASM_BASE64)];
}

/** Compiles the core asynchronously (required on browser main threads); cached. */
export function loadRdbCore(): Promise<WebAssembly.Module> {
  if (compiled) return Promise.resolve(compiled);
  compiling ??= WebAssembly.compile(candidates()[0]!).then((m) => (compiled = m));
  return compiling;
}

/** Compiles the core synchronously (Node, workers); cached. */
export function loadRdbCoreSync(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(candidates()[0]!);
  return compiled;
}

const latin1 = new TextDecoder('latin1');

export function instantiateRdbCore(module: WebAssembly.Module, host: RdbCoreHost = {}): RdbCoreExports {
  let memory: WebAssembly.Memory | undefined;
  const bytes = (ptr: number, len: number) => new Uint8Array(memory!.buffer, ptr, len);
  const imports = {
    host: {
      // Scores the core cannot convert exactly itself: JS's own conversions are the reference.
      parseScore: (ptr: number, len: number) => parseScoreText(latin1.decode(bytes(ptr, len))),
      formatScore: (x: number, dst: number) => {
        const text = String(x);
        const out = bytes(dst, text.length);
        for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
        return text.length;
      },
      keepKey: (db: number, rdbType: number, ptr: number, len: number, expireMs: number) =>
        (host.keepKey ? host.keepKey(db, rdbType, bytes(ptr, len), Number.isNaN(expireMs) ? null : expireMs) : true) ? 1 : 0,
      routeKey: (db: number, rdbType: number, ptr: number, len: number, expireMs: number) =>
        (host.routeKey ? host.routeKey(db, rdbType, bytes(ptr, len), Number.isNaN(expireMs) ? null : expireMs) : -1),
    },
  };
  const exports = new WebAssembly.Instance(module, imports).exports as unknown as RdbCoreExports;
  memory = exports.memory;
  return exports;
}
