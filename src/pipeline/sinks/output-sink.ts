// A file or standard output as a sink (tail's lines): each batch written whole, in order. When the
// position file covers the file (tail -o FILE --checkpoint F), the sink says how many bytes of it the
// position covers and makes them durable before the position is saved: a restart cuts the file to that
// length and continues, so each line is in it exactly once.
import type { Output } from '../../node/output.js';
import type { OutputExtent } from '../../replica/checkpoint-file.js';
import { SinkError, type Sink, type SinkBatch } from '../sink.js';

/** The reader of the output went away (`| head`): nothing more can be written, and that is no failure. */
export class OutputClosed extends SinkError {
  override name = 'OutputClosed';
  constructor(name: string) {
    super(`${name} was closed by its reader`, false);
  }
}

export class OutputSink implements Sink<Uint8Array> {
  readonly name: string;
  readonly storesPosition = false;
  /** Bytes written, for --metrics. */
  written = 0;
  /** The last batch's write: the next one starts after it. */
  private writing: Promise<void> = Promise.resolve();
  /** How much of the file holds each batch written (and those before it). */
  private readonly extents = new WeakMap<SinkBatch<Uint8Array>, OutputExtent>();

  /**
   * `covered`: the file the position covers (its absolute path), with the bytes it holds already (those
   * of the position continued from); null when the position does not cover the output.
   */
  constructor(private readonly output: Output, private readonly covered: OutputExtent | null, name = covered?.path ?? 'standard output') {
    this.name = name;
  }

  async connect(): Promise<void> {}

  write(batch: SinkBatch<Uint8Array>): Promise<void> {
    this.writing = this.writing.then(() => this.writeBatch(batch));
    return this.writing;
  }

  extent(batch: SinkBatch<Uint8Array>): OutputExtent | undefined {
    return this.extents.get(batch);
  }

  makeDurable(): void {
    if (this.covered) this.output.sync();
  }

  async close(): Promise<void> {}

  private async writeBatch(batch: SinkBatch<Uint8Array>): Promise<void> {
    const { messages } = batch;
    const bytes = messages.length === 1 ? messages[0]! : Buffer.concat(messages);
    await this.output.write(bytes);
    if (this.output.closed) throw new OutputClosed(this.name);
    this.written += bytes.length;
    if (!this.covered) return;
    this.covered.bytes += bytes.length;
    this.extents.set(batch, { ...this.covered });
  }
}
