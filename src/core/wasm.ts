// Loading the RDB core: the module is compiled once per process (or worker) and instantiated once per
// parser, so every stream has its own linear memory and global state (DESIGN.md rule 6).
import { RDB_WASM_BASE64 } from './rdb-wasm.generated.js';

/** The functions build/rdb.wasm exports (assembly/rdb/index.ts). */
export interface RdbCoreExports {
  memory: WebAssembly.Memory;
  init(inputCap: number, eventCap: number, scratchMax: number, mode: number, options: number, dumpVersion: number, dumpFlavor: number): number;
  inputSpace(): number;
  inputPtr(): number;
  feed(n: number): number;
  resume(): number;
  finish(): number;
  eventsPtr(): number;
  eventsCount(): number;
  errorCode(): number;
  errorDetail(): number;
  errorOffset(): number;
  consumed(): number;
  rdbVersion(): number;
  rdbFlavor(): number;
}

let compiled: WebAssembly.Module | undefined;
let compiling: Promise<WebAssembly.Module> | undefined;

function wasmBytes(): Uint8Array<ArrayBuffer> {
  const text = atob(RDB_WASM_BASE64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** Compiles the core asynchronously (required on browser main threads); cached. */
export function loadRdbCore(): Promise<WebAssembly.Module> {
  if (compiled) return Promise.resolve(compiled);
  compiling ??= WebAssembly.compile(wasmBytes()).then((m) => (compiled = m));
  return compiling;
}

/** Compiles the core synchronously (Node, workers); cached. */
export function loadRdbCoreSync(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(wasmBytes());
  return compiled;
}

export function instantiateRdbCore(module: WebAssembly.Module): RdbCoreExports {
  return new WebAssembly.Instance(module, {}).exports as unknown as RdbCoreExports;
}
