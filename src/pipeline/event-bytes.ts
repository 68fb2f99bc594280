// The bytes of change events, written straight into a shared slab: publish makes one event per write of
// the source, and building each as a string (JSON.stringify of every argument, concatenation, then UTF-8
// encoding) cost most of its time and garbage. Each event taken is a view of the slab; a slab is freed
// once no event of it is held (they are released in the order they were made: confirmed batches).
import { isUtf8 } from 'node:buffer';

/** A couple of hundred events of a few hundred bytes; an event bigger than it gets a slab of its own size. */
const SLAB_BYTES = 64 << 10;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** JSON's two-character escapes of control characters (JSON.stringify's), by byte; 0: written as \u00XX. */
const SHORT_ESCAPES = new Uint8Array(0x20);
SHORT_ESCAPES[0x08] = 0x62; // \b
SHORT_ESCAPES[0x09] = 0x74; // \t
SHORT_ESCAPES[0x0a] = 0x6e; // \n
SHORT_ESCAPES[0x0c] = 0x66; // \f
SHORT_ESCAPES[0x0d] = 0x72; // \r
/**
 * Buffer's native writer and reader of text, what write(text, at, 'utf8') and toString('latin1', …) call
 * after checking their arguments: on Buffer.prototype in every Node release, absent from the typings.
 */
type Slab = Buffer & { utf8Write(text: string, at: number): number; latin1Slice(start: number, end: number): string };

const HEX = Buffer.from('0123456789abcdef', 'latin1');
const B64_OPEN = Buffer.from('{"b64":"', 'latin1');
const B64_CLOSE = Buffer.from('"}', 'latin1');

export class EventBytes {
  private slab = Buffer.allocUnsafe(SLAB_BYTES) as Slab;
  /** Where the event being written starts in the slab, and where the next byte goes. */
  private start = 0;
  private at = 0;

  /** The event written since the last take(), as a view of the slab (the slab's bytes are never written again). */
  take(): Buffer {
    const event = this.slab.subarray(this.start, this.at);
    this.start = this.at;
    return event;
  }

  byte(b: number): void {
    this.room(1);
    this.slab[this.at++] = b;
  }

  /** Bytes written as they are (JSON made once: field names, constant values). */
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.slab.set(bytes, this.at);
    this.at += bytes.length;
  }

  /** Writes again the bytes written from `from` to `to` (positions in the event). */
  repeat(from: number, to: number): void {
    this.room(to - from);
    this.slab.copyWithin(this.at, this.start + from, this.start + to);
    this.at += to - from;
  }

  /** Text as UTF-8 (JSON already, or the inside of a JSON string that needs no escaping). */
  text(text: string): void {
    this.room(3 * text.length);
    this.at += this.slab.utf8Write(text, this.at);
  }

  /** The text of bytes written since `from` (a position in the event): one-byte characters, one per byte (ASCII). */
  latin1Since(from: number): string {
    return this.slab.latin1Slice(this.start + from, this.at);
  }

  /** Where the next byte goes, as a position in the event (for latin1Since and repeat). */
  get position(): number {
    return this.at - this.start;
  }

  /** A non-negative integer's decimal digits (offsets, seqs, dbs). */
  integer(n: number): void {
    let digits = 1;
    for (let power = 10; power <= n; power *= 10) digits++;
    this.room(digits);
    const slab = this.slab;
    let at = this.at + digits;
    this.at = at;
    // Digits from the last: by float division while the rest is past int32, then by int32 division (twice as fast).
    let rest = n;
    for (; rest > 0x7fffffff; rest = Math.floor(rest / 10)) slab[--at] = 0x30 + (rest % 10);
    let small = rest | 0;
    for (; small >= 10; small = (small / 10) | 0) slab[--at] = 0x30 + (small % 10);
    slab[--at] = 0x30 + small;
  }

  /**
   * A Redis byte string as JSON (docs/event-schema.md, "Byte strings"): a string when the bytes are valid
   * UTF-8 (escaped as JSON.stringify escapes), else {"b64":"…"}.
   */
  byteString(bytes: Uint8Array): void {
    // Relative to the event: writing may have moved it to a new slab.
    const from = this.at - this.start;
    if (this.utf8String(bytes)) return;
    this.at = this.start + from;
    this.raw(B64_OPEN);
    this.text(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64'));
    this.raw(B64_CLOSE);
  }

  /**
   * Writes the bytes as a JSON string when they are UTF-8; false (nothing written) when they are not. Most
   * keys and values are plain ASCII: those are copied whole, checked only by a scan here.
   */
  private utf8String(bytes: Uint8Array): boolean {
    const n = bytes.length;
    let plain = 0;
    while (plain < n && isPlain(bytes[plain]!)) plain++;
    this.room(n + 2);
    this.slab[this.at++] = QUOTE;
    if (plain === n) {
      this.slab.set(bytes, this.at);
      this.at += n;
    } else if (!this.escaped(bytes)) {
      return false;
    }
    this.slab[this.at++] = QUOTE;
    return true;
  }

  /** Writes UTF-8 bytes escaped as JSON.stringify escapes them; false (nothing written) when they are not UTF-8. */
  private escaped(bytes: Uint8Array): boolean {
    if (!isUtf8(bytes)) return false;
    const n = bytes.length;
    for (let i = 0; i < n; i++) {
      const b = bytes[i]!;
      if (b >= 0x20 && b !== QUOTE && b !== BACKSLASH) {
        this.slab[this.at++] = b;
      } else {
        // An escape is up to 6 bytes for 1: room for it and what is left.
        this.room(6 + n - i);
        this.at = writeEscape(this.slab, this.at, b);
      }
    }
    return true;
  }

  /** Makes room for n more bytes: a new slab, with the event written so far moved to its start, when this one is full. */
  private room(n: number): void {
    if (this.at + n <= this.slab.length) return;
    const written = this.at - this.start;
    const slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * (written + n))) as Slab;
    this.slab.copy(slab, 0, this.start, this.at);
    this.slab = slab;
    this.start = 0;
    this.at = written;
  }
}

/** A byte of plain ASCII text that JSON needs no escape for. */
function isPlain(b: number): boolean {
  return b >= 0x20 && b < 0x80 && b !== QUOTE && b !== BACKSLASH;
}

/** `"`, `\` or a control character as JSON.stringify escapes it; returns the position after it. */
function writeEscape(slab: Buffer, at: number, b: number): number {
  slab[at++] = BACKSLASH;
  if (b === QUOTE || b === BACKSLASH) {
    slab[at++] = b;
  } else if (SHORT_ESCAPES[b]! !== 0) {
    slab[at++] = SHORT_ESCAPES[b]!;
  } else {
    slab[at++] = 0x75; // u00XX
    slab[at++] = 0x30;
    slab[at++] = 0x30;
    slab[at++] = HEX[b >> 4]!;
    slab[at++] = HEX[b & 0xf]!;
  }
  return at;
}
