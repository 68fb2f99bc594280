// Commands encoded as RESP straight into one buffer, many per socket write: the pipelining path, where
// encodeCommand's allocation per command would dominate.
export type BufferedArg = Uint8Array | string | number | bigint;

/** The first arguments of a command sent many times (XADD <stream> ...), encoded once as bulk strings. */
export interface EncodedArgs {
  readonly bytes: Uint8Array;
  readonly count: number;
}

export class CommandBuffer {
  private buffer: Buffer;
  /** Bytes written since the last take(). */
  length = 0;
  /** Commands written since the last take() or cut(). */
  commands = 0;
  /** Where the bytes not yet cut() begin. */
  private cutAt = 0;

  constructor(private readonly initialSize = 1 << 16) {
    this.buffer = Buffer.allocUnsafe(initialSize);
  }

  /** Appends one command: `*<n>` then a bulk string per argument (strings and numbers as UTF-8 text). */
  command(args: readonly BufferedArg[]): void {
    this.header(0x2a, args.length);
    for (const arg of args) this.bulk(arg);
    this.commands++;
  }

  /** Appends a command whose arguments are views (e.g. a replicated command's), without copying them first. */
  commandOf(count: number, arg: (i: number) => BufferedArg): void {
    this.header(0x2a, count);
    for (let i = 0; i < count; i++) this.bulk(arg(i));
    this.commands++;
  }

  /** Appends a command: `head`'s arguments (encodeArgs), then `rest`'s. */
  commandAfter(head: EncodedArgs, rest: readonly BufferedArg[]): void {
    this.header(0x2a, head.count + rest.length);
    this.room(head.bytes.length);
    this.buffer.set(head.bytes, this.length);
    this.length += head.bytes.length;
    for (const arg of rest) this.bulk(arg);
    this.commands++;
  }

  /** Arguments as bulk strings, to start many commands with (commandAfter). */
  static encodeArgs(args: readonly BufferedArg[]): EncodedArgs {
    const buffer = new CommandBuffer(256);
    for (const arg of args) buffer.bulk(arg);
    return { bytes: buffer.take(), count: args.length };
  }

  /** The bytes written so far; the buffer starts afresh (a socket may still hold the returned bytes). */
  take(): Uint8Array {
    const out = this.buffer.subarray(0, this.length);
    this.buffer = Buffer.allocUnsafe(Math.max(this.initialSize, this.length));
    this.length = this.cutAt = 0;
    this.commands = 0;
    return out;
  }

  /**
   * The bytes written since the last cut, as a view nothing is ever written over again: many small
   * pieces (a message per command) out of one buffer, with neither a copy nor an allocation each.
   */
  cut(): Uint8Array {
    const out = this.buffer.subarray(this.cutAt, this.length);
    this.cutAt = this.length;
    this.commands = 0;
    if (this.buffer.length - this.length < this.initialSize >> 2) {
      this.buffer = Buffer.allocUnsafe(this.initialSize);
      this.length = this.cutAt = 0;
    }
    return out;
  }

  private bulk(arg: BufferedArg): void {
    if (arg instanceof Uint8Array) {
      this.header(0x24, arg.length);
      this.room(arg.length + 2);
      this.buffer.set(arg, this.length);
      this.length += arg.length;
    } else {
      const text = String(arg);
      const n = Buffer.byteLength(text);
      this.header(0x24, n);
      this.room(n + 2);
      this.length += this.buffer.write(text, this.length);
    }
    this.buffer[this.length++] = 0x0d;
    this.buffer[this.length++] = 0x0a;
  }

  /** `*<n>\r\n` or `$<n>\r\n`: the count's digits written in place, most significant first. */
  private header(marker: number, n: number): void {
    this.room(24);
    const buffer = this.buffer;
    buffer[this.length++] = marker;
    let digits = 1;
    for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    for (let i = digits - 1, rest = n; i >= 0; i--, rest = Math.floor(rest / 10)) buffer[this.length + i] = 0x30 + (rest % 10);
    this.length += digits;
    buffer[this.length++] = 0x0d;
    buffer[this.length++] = 0x0a;
  }

  private room(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + n));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}
