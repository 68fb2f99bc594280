// The low-level streaming RESP reader: feed bytes in chunks of any size, receive batches of events
// (resp-abi.ts). Replies (RESP2/RESP3) or, after PSYNC, a master's replication stream.
import * as abi from './abi.js';
import { RESP_MODE_REPLICATION, RESP_MODE_REPLY } from './resp-abi.js';
import { EventBatch } from './event-batch.js';
import { pumpEvents, type StreamingCore } from './event-pump.js';
import { RespError } from './resp-error.js';
import { RESP_WASM_BASE64 } from './resp-wasm.generated.js';
import { decodeBase64 } from './base64.js';

/** The functions build/resp.wasm exports (assembly/resp/index.ts). */
interface RespCoreExports extends StreamingCore {
  init(inputCap: number, eventCap: number, mode: number, maxBulk: number, maxElements: number, maxDepth: number): number;
  setMode(mode: number): number;
  atBoundary(): number;
}

export interface RespReaderOptions {
  /** 'reply' (default): replies to commands; 'replication': what a master sends after PSYNC. */
  mode?: 'reply' | 'replication';
  /** Input buffer bytes (default 256 KiB, at least 4 KiB). Bulk strings over half of it arrive in chunks. */
  inputBufferSize?: number;
  /** Event records per batch (default 4096). */
  eventCapacity?: number;
  /** Longest bulk string accepted (default 512 MiB, Redis's proto-max-bulk-len). */
  maxBulkBytes?: number;
  /** Most elements one aggregate may declare (default 2^32 - 1, hiredis's limit). */
  maxElements?: number;
  /** Deepest nesting of aggregates (default 128). */
  maxDepth?: number;
}

export type RespSink = (events: EventBatch) => void;

/**
 * What the events of a sink call were read from: `chunk`, the one passed to write(), whose bytes from
 * `start` on were copied to module memory at `address` before the feed that produced them. An event's
 * bytes at ptr >= address are therefore chunk[start + ptr - address ...] too; bytes before `address`
 * were fed earlier (a command's beginning, kept in the input buffer until its end arrived).
 */
export interface FeedSource {
  chunk: Uint8Array;
  start: number;
  address: number;
}

let compiled: WebAssembly.Module | undefined;

function respModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(decodeBase64(RESP_WASM_BASE64));
  return compiled;
}

const MODES = { reply: RESP_MODE_REPLY, replication: RESP_MODE_REPLICATION } as const;

export class RespReader {
  private readonly core: RespCoreExports;
  private readonly batch = new EventBatch();
  private status: number = abi.ST_NEED_MORE;
  /** Valid during a sink call (updated in place before every feed). */
  readonly feeding: FeedSource = { chunk: new Uint8Array(0), start: 0, address: 0 };

  constructor(options: RespReaderOptions = {}) {
    this.core = new WebAssembly.Instance(respModule(), {}).exports as unknown as RespCoreExports;
    const ok = this.core.init(
      Math.max(options.inputBufferSize ?? 256 << 10, 4096),
      Math.max(options.eventCapacity ?? 4096, 64),
      MODES[options.mode ?? 'reply'],
      options.maxBulkBytes ?? 512 << 20,
      options.maxElements ?? 2 ** 32 - 1,
      options.maxDepth ?? 128,
    );
    if (!ok) throw new RangeError('could not set up the RESP reader memory');
  }

  /** Stream offset of the first byte not consumed yet (bytes fed since the reader was created). */
  get consumed(): number {
    return this.core.consumed();
  }

  /** True when every byte fed was consumed and no reply or command is partly read. */
  get atBoundary(): boolean {
    return this.core.atBoundary() === 1;
  }

  /** Switches between replies and a replication stream; only between replies (else throws). */
  setMode(mode: 'reply' | 'replication'): void {
    if (!this.core.setMode(MODES[mode])) {
      this.status = abi.ST_ERROR;
      throw this.error();
    }
  }

  /** Parses a chunk of any size, calling sink for every batch of events. Throws RespError (sticky). */
  write(chunk: Uint8Array, sink: RespSink): void {
    if (this.status === abi.ST_ERROR) throw this.error();
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.core.inputSpace(), chunk.length - off);
      if (n === 0) throw new RespError('internal', this.consumed, 0);
      const address = this.core.inputPtr();
      new Uint8Array(this.core.memory.buffer, address, n).set(chunk.subarray(off, off + n));
      this.feeding.chunk = chunk;
      this.feeding.start = off;
      this.feeding.address = address;
      off += n;
      this.settle(this.core.feed(n), sink);
    }
  }

  private settle(status: number, sink: RespSink): void {
    this.status = pumpEvents(this.core, this.batch, status, sink);
    if (this.status === abi.ST_ERROR) throw this.error();
  }

  private error(): RespError {
    return RespError.fromCore(this.core.errorCode(), this.core.errorOffset(), this.core.errorDetail());
  }
}
