// Complete replies as JavaScript values, built from the RESP reader's events. For command replies
// (handshakes, tools), not for the replication stream, which is read event by event.
import * as r from '../core/resp-abi.js';
import type { EventBatch } from '../core/event-batch.js';
import { RespReader, type RespReaderOptions } from '../core/resp-reader.js';

/** An error reply ('-' or RESP3 '!'): a value, not thrown. `code` is its first word (ERR, NOAUTH, LOADING...). */
export class RespErrorReply {
  readonly code: string;
  constructor(readonly message: string) {
    this.code = message.split(' ', 1)[0]!;
  }
}

/** RESP3 map: entries in the order the server sent them (keys may be any value). */
export class RespMap {
  constructor(readonly entries: Array<[RespValue, RespValue]>) {}
}

/** RESP3 set and push (out-of-band data) replies. */
export class RespSet {
  constructor(readonly items: RespValue[]) {}
}
export class RespPush {
  constructor(readonly items: RespValue[]) {}
}

/** RESP3 verbatim string: its three-letter format (txt, mkd) and content. */
export class RespVerbatim {
  constructor(readonly format: string, readonly bytes: Uint8Array) {}
}

export type RespValue =
  | string | number | bigint | boolean | null | Uint8Array | RespValue[]
  | RespErrorReply | RespMap | RespSet | RespPush | RespVerbatim;

const utf8 = new TextDecoder();

/** A reply read as text: a bulk string decoded as UTF-8, anything else as String() spells it. */
export function replyText(value: RespValue): string {
  return value instanceof Uint8Array ? utf8.decode(value) : String(value);
}

/** Whether a simple string is OK: most replies to a pipeline are, and need no decoding. */
function isOk(b: EventBatch, i: number): boolean {
  const at = b.ptr(i);
  return b.len(i) === 2 && b.memory[at] === 0x4f && b.memory[at + 1] === 0x4b;
}

function double(text: string): number {
  if (text === 'inf' || text === '+inf') return Infinity;
  if (text === '-inf') return -Infinity;
  if (text === 'nan') return NaN;
  return Number(text);
}

interface Open {
  type: number;
  items: RespValue[];
}

/**
 * Reads replies from a byte stream: `write(chunk)` returns the replies it completed, in order.
 * Bulk strings become Uint8Array copies; integers beyond 2^53 become bigint. RESP3 attributes are
 * read and dropped.
 */
export class RespReplyReader {
  private readonly reader: RespReader;
  private readonly stack: Open[] = [];
  private chunks: Uint8Array[] = [];
  private done: RespValue[] = [];

  constructor(options: Omit<RespReaderOptions, 'mode'> = {}) {
    this.reader = new RespReader(options);
  }

  /** The underlying reader, e.g. to switch it to replication mode after the last reply. */
  get raw(): RespReader {
    return this.reader;
  }

  write(chunk: Uint8Array): RespValue[] {
    this.reader.write(chunk, (b) => this.consume(b));
    const out = this.done;
    this.done = [];
    return out;
  }

  private consume(b: EventBatch): void {
    for (let i = 0; i < b.count; i++) {
      switch (b.kind(i)) {
        case r.RE_CHUNK:
          this.chunks.push(b.bytes(i));
          break;
        case r.RE_VALUE:
          this.add(this.scalar(b, i));
          break;
        case r.RE_AGGREGATE:
          this.stack.push({ type: b.aux(i), items: [] });
          break;
        case r.RE_AGGREGATE_END:
          this.close(this.stack.pop()!);
          break;
      }
    }
  }

  private scalar(b: EventBatch, i: number): RespValue {
    const flags = b.flags(i);
    if (flags & r.RF_NULL) return null;
    const type = b.aux(i);
    switch (type) {
      case r.T_SIMPLE: return isOk(b, i) ? 'OK' : b.text(i);
      case r.T_INTEGER: return Number.isSafeInteger(b.n1(i)) ? b.n1(i) : b.n1Signed(i);
      case r.T_BOOLEAN: return b.n1(i) === 1;
      case r.T_DOUBLE: return double(b.text(i));
      case r.T_BIG_NUMBER: return BigInt(b.text(i));
    }
    const bytes = flags & r.RF_CHUNKED ? this.takeChunks() : b.bytes(i);
    if (type === r.T_ERROR || type === r.T_BLOB_ERROR) return new RespErrorReply(utf8.decode(bytes));
    if (type === r.T_VERBATIM) return new RespVerbatim(utf8.decode(bytes.subarray(0, 3)), bytes.subarray(4));
    return bytes;
  }

  private takeChunks(): Uint8Array {
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    this.chunks = [];
    return out;
  }

  private close(open: Open): void {
    switch (open.type) {
      case r.T_ATTRIBUTE: return; // annotations of the next value: dropped
      case r.T_MAP: {
        const entries: Array<[RespValue, RespValue]> = [];
        for (let k = 0; k < open.items.length; k += 2) entries.push([open.items[k]!, open.items[k + 1]!]);
        return this.add(new RespMap(entries));
      }
      case r.T_SET: return this.add(new RespSet(open.items));
      case r.T_PUSH: return this.add(new RespPush(open.items));
      default: return this.add(open.items);
    }
  }

  private add(v: RespValue): void {
    const top = this.stack[this.stack.length - 1];
    if (top) top.items.push(v);
    else this.done.push(v);
  }
}
