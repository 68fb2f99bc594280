// An RDB file's CRC64 computed on a worker thread while the parser reads the same file on this one: on a
// dump of large values the checksum costs about as much as the parse, so this halves the time on a
// machine with a second core. The worker runs a second instance of the same WebAssembly core.
import { availableParallelism } from 'node:os';
import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { loadRdbCoreSync } from '../core/wasm.js';
import type { ExternalChecksum } from '../core/external-checksum.js';

/** Below this size starting a thread (~20 ms) costs more than checksumming inline saves. */
export const PARALLEL_CHECKSUM_MIN_BYTES = 64 << 20;
/**
 * The share of the file the parser checksums itself: the thread starts late and reads the file a second
 * time, so on a file of big values (where parsing costs about what the checksum does) both finish together
 * near 15 %; where parsing costs more, the thread is idle at the end either way.
 */
const PARSER_SHARE = 0.15;
/** Bytes the thread reads at a time; it keeps the CRC at every chunk boundary to rewind to. */
const CHUNK_BYTES = 4 << 20;

// Control words shared with the worker: flag (0 = no target yet, 1 = target set), then the target length.
const FLAG = 0;
const TARGET_AT = 8;

/**
 * The worker's whole program, run from its source text (so it works the same from dist/ and from the
 * TypeScript sources under test). From byte `from`, it checksums the file up to its last 8 bytes (where
 * an RDB without trailing data keeps its checksum) without waiting to be told, keeping the CRC at every
 * chunk boundary; once the parser reports the real extent, it finishes there (rewinding to a boundary if
 * it went past).
 */
function checksumWorker(): void {
  const { workerData, parentPort } = require('node:worker_threads');
  const fs = require('node:fs');
  const { module, path, control, chunkBytes, from } = workerData;
  const stubs: Record<string, Record<string, () => number>> = {};
  for (const imp of WebAssembly.Module.imports(module)) (stubs[imp.module] ??= {})[imp.name] = () => 0;
  const core = new WebAssembly.Instance(module, stubs).exports as any;
  core.init(chunkBytes, 64, 4096, 0, 0, 0, 0, -1);
  const at = core.inputPtr();
  const flag = new Int32Array(control, 0, 1);
  const target = new Float64Array(control, 8, 1);
  const fd = fs.openSync(path, 'r');
  const guess = Math.max(fs.fstatSync(fd).size - 8, from);
  const marks: bigint[] = [0n]; // marks[i]: CRC of the i * chunkBytes bytes from `from`
  let pos = from;
  let crc = 0n;
  for (;;) {
    const told = Atomics.load(flag, 0) === 1;
    const end = told ? target[0]! : guess;
    if (end < from) throw new Error(`asked for the checksum up to byte ${end}, before this thread's start at ${from}`);
    if (pos > end) {
      const mark = Math.floor((end - from) / chunkBytes);
      pos = from + mark * chunkBytes;
      crc = marks[mark]!;
    } else if (pos === end) {
      if (told) return parentPort.postMessage(crc);
      Atomics.wait(flag, 0, 0);
    } else {
      const want = Math.min(chunkBytes - ((pos - from) % chunkBytes), end - pos);
      const n = fs.readSync(fd, new Uint8Array(core.memory.buffer, at, want), 0, want, pos);
      if (n === 0) throw new Error(`${path} ended at byte ${pos}, before the ${end} bytes its checksum covers`);
      crc = core.crc64(crc, at, n);
      pos += n;
      if ((pos - from) % chunkBytes === 0) marks[(pos - from) / chunkBytes] = crc;
    }
  }
}

export class FileChecksum implements ExternalChecksum {
  private readonly control = new SharedArrayBuffer(16);
  private readonly worker: Worker;
  private readonly result: Promise<bigint>;

  private constructor(path: string, readonly from: number, chunkBytes: number) {
    this.worker = new Worker(`(${checksumWorker.toString()})()`, {
      eval: true,
      workerData: { module: loadRdbCoreSync(), path, control: this.control, chunkBytes, from },
    });
    // Until someone waits for the result, the worker must not keep the process alive.
    this.worker.unref();
    this.result = new Promise<bigint>((resolve, reject) => {
      this.worker.once('message', resolve);
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => reject(new Error(`the checksum thread stopped (exit code ${code})`)));
    });
    this.result.catch(() => {}); // a parse that fails first never asks for it
  }

  /** Starts checksumming `path` from byte `from` on a worker thread, reading chunkBytes (≥ 4 KiB) at a time. */
  static start(path: string, from = 0, chunkBytes = CHUNK_BYTES): FileChecksum {
    if (chunkBytes < 4096) throw new RangeError('chunkBytes: at least 4096');
    return new FileChecksum(path, from, chunkBytes);
  }

  /** A FileChecksum when the file is big enough and a second core exists to gain from one; else null. */
  static worthwhile(path: string): FileChecksum | null {
    if (availableParallelism() < 2) return null;
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return null; // the parser's own open reports the problem
    }
    return size >= PARALLEL_CHECKSUM_MIN_BYTES ? new FileChecksum(path, Math.floor(size * PARSER_SHARE), CHUNK_BYTES) : null;
  }

  crc64(length: number): Promise<bigint> {
    new Float64Array(this.control, TARGET_AT, 1)[0] = length;
    const flag = new Int32Array(this.control, FLAG, 1);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    this.worker.ref();
    return this.result;
  }

  close(): void {
    void this.worker.terminate();
  }
}
