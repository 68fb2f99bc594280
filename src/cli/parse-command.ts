// `redistap parse <file|->`: every selected key of a dump, converted to an output format.
import { Command, Option } from 'commander';
import { MeasuredKeys } from '../analysis/measure-keys.js';
import { SelectedEntries } from '../analysis/selected-entries.js';
import type { MeasuredKey } from '../analysis/key-measurer.js';
import type { MemoryModelOptions } from '../analysis/memory/memory-model.js';
import { checksumOptions } from '../core/external-checksum.js';
import { CSV_HEADER, csvRow } from '../convert/csv.js';
import { RespCommandWriter } from '../convert/resp-commands.js';
import { canonicalLine } from '../rdb/canonical-json.js';
import { CanonicalJsonl } from '../rdb/canonical-jsonl.js';
import { DuplicateKeys } from '../rdb/duplicate-keys.js';
import type { RdbEntry, RdbMetadata } from '../rdb/entry.js';
import type { KeySelection } from '../rdb/key-filter.js';
import { readEvents } from '../rdb/read-events.js';
import type { EventSink } from '../core/rdb-event-parser.js';
import { openInput, type CliInput } from './input.js';
import { addMemoryOptions, memoryModelFrom, type MemoryFlags } from './memory-options.js';
import { Output } from '../node/output.js';
import { ByteProgress } from './progress.js';
import { addSelectionOptions, selectionFrom, type SelectionFlags } from './selection-options.js';
import { warn, warnDuplicateCheckGap, warnDuplicateKeys, warnModulesLeftOut, warnTrailing } from './warnings.js';
import type { DuplicateCheckGap } from '../core/wasm.js';

const FORMATS = ['jsonl', 'csv', 'resp', 'keys'] as const;
type Format = (typeof FORMATS)[number];

interface ParseFlags extends SelectionFlags, MemoryFlags {
  format: Format;
  output?: string;
  checksum: boolean;
}

/** Text and bytes gathered into ~1 MiB writes. */
class Batcher {
  private parts: Uint8Array[] = [];
  private size = 0;
  private readonly encoder = new TextEncoder();

  constructor(private readonly out: Output) {}

  text(s: string): void {
    this.bytes(this.encoder.encode(s));
  }

  /** Keeps `b` until the next flush: give it a copy of anything that changes. */
  bytes(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.length;
  }

  async flush(threshold = 1 << 20): Promise<void> {
    if (this.size < threshold) return;
    const all = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) { all.set(p, at); at += p.length; }
    this.parts = [];
    this.size = 0;
    await this.out.write(all);
  }
}

interface Job {
  input: CliInput;
  out: Output;
  /** Where converted text and bytes gather before they are written. */
  batch: Batcher;
  selection: KeySelection;
  memoryModel: MemoryModelOptions;
  verifyChecksum: boolean;
  progress: ByteProgress;
  /**
   * Counts the selected keys that repeat one before them in their db (Redis refuses such a file): noted by
   * the core's JSON writer, or by the formats built in JS into a DuplicateKeys.
   */
  repeatedKeys: () => Map<number, number>;
  /** After repeatedKeys(): the keys the check left out, if any (past its cap, or out of memory). */
  duplicateCheckGap: () => DuplicateCheckGap | null;
  /** Module values the format has no place for. */
  modulesLeftOut: number;
}

/**
 * Reads the input through `sink`, awaiting `drain` between chunks; stops early when the output closed.
 * `measure`: the sink estimates memory (it needs the core's container events). When the input fails
 * (a truncated or damaged file), the keys read whole before the failure are written, then it throws.
 */
async function pump(job: Job, measure: boolean, sink: EventSink, metadata: RdbMetadata, drain: () => Promise<void>): Promise<void> {
  const stop = new AbortController();
  let failure: { error: unknown } | null = null;
  try {
    await readEvents(job.input.source, sink, metadata, {
      blobEvents: measure,
      verifyChecksum: job.verifyChecksum,
      externalChecksum: job.input.parallelChecksum,
      signal: stop.signal,
      onProgress: (bytes) => job.progress.update(bytes, job.input.size),
      drain: async () => {
        await drain();
        if (job.out.closed) stop.abort();
      },
    });
  } catch (error) {
    if (!stop.signal.aborted) failure = { error };
  }
  await drain();
  await job.batch.flush(0);
  if (failure) throw failure.error;
}

/** Where the formats built in JS note their keys. */
function noteDuplicates(job: Job): DuplicateKeys {
  const duplicates = new DuplicateKeys();
  job.repeatedKeys = () => duplicates.perDb();
  job.duplicateCheckGap = () => duplicates.gap();
  return duplicates;
}

/** csv and keys: one line per key from its record (valid during the call only). */
async function recordLines(job: Job, line: (r: MeasuredKey) => void): Promise<RdbMetadata> {
  const duplicates = noteDuplicates(job);
  const keys = new MeasuredKeys({ ...job.memoryModel, selection: job.selection }, (r) => {
    duplicates.add(r.db, r.keyBytes, r.keyStart, r.keyEnd);
    line(r);
  });
  await pump(job, true, (b) => keys.consume(b), keys.metadata, () => job.batch.flush());
  return keys.metadata;
}

/** resp, and jsonl with a memory threshold: whole entries. */
async function entryOutput(job: Job, write: (e: RdbEntry) => void): Promise<RdbMetadata> {
  const entries = new SelectedEntries({ ...job.memoryModel, selection: job.selection });
  const duplicates = noteDuplicates(job);
  const drain = async () => {
    for (const entry of entries.take()) {
      duplicates.add(entry.db, entry.key);
      write(entry);
    }
    await job.batch.flush();
  };
  await pump(job, job.selection.minMemory !== undefined, (b) => entries.consume(b), entries.metadata, drain);
  return entries.metadata;
}

/** jsonl at full speed: lines written inside the core. */
async function fastJsonl(job: Job): Promise<RdbMetadata> {
  const { input, out } = job;
  const checksum = job.verifyChecksum ? input.parallelChecksum() : null;
  const converter = await CanonicalJsonl.create({
    verifyChecksum: job.verifyChecksum, ...checksumOptions(checksum), selection: job.selection, duplicateKeys: true,
  });
  job.repeatedKeys = () => converter.repeatedKeys();
  job.duplicateCheckGap = () => converter.duplicateCheckGap();
  // The converter hands out views valid only during its call; Output copies them only for pipes.
  // (Output.write takes the bytes before its first await, so calling it here is enough.)
  let pending: Promise<void> = Promise.resolve();
  const sink = (bytes: Uint8Array) => {
    const written = out.write(bytes);
    pending = pending.then(() => written);
  };
  const { progress } = job;
  let read = 0;
  try {
    if (input.readInto) {
      for (let n; !out.closed && (n = converter.fill(input.readInto, sink)) > 0;) {
        progress.update((read += n), input.size);
        await pending;
      }
    } else {
      for await (const chunk of input.source) {
        converter.write(chunk, sink);
        progress.update((read += chunk.length), input.size);
        await pending;
        if (out.closed) break;
      }
    }
    if (!out.closed) {
      converter.end(sink);
      await pending;
      if (checksum) await converter.verifyChecksumWith(checksum);
    }
  } catch (error) {
    await pending; // the lines of the keys read whole, which the converter passed out before throwing
    throw error;
  } finally {
    checksum?.close();
    job.modulesLeftOut = converter.modulesLeftOut;
  }
  return converter.metadata;
}

const NEWLINE = new Uint8Array([0x0a]);

async function convert(format: Format, job: Job): Promise<RdbMetadata> {
  const { batch } = job;
  switch (format) {
    case 'jsonl':
      if (job.selection.minMemory === undefined) return fastJsonl(job);
      return entryOutput(job, (e) => {
        const line = canonicalLine(e);
        if (line !== null) batch.text(`${line}\n`);
        else if (e.type === 'module') job.modulesLeftOut++;
      });
    case 'csv':
      batch.text(CSV_HEADER);
      return recordLines(job, (r) => batch.text(csvRow(r)));
    case 'keys': return recordLines(job, (r) => { batch.bytes(r.key.slice()); batch.bytes(NEWLINE); });
    case 'resp': {
      const writer = new RespCommandWriter((bytes) => batch.bytes(bytes));
      try {
        return await entryOutput(job, (e) => writer.write(e));
      } finally {
        job.modulesLeftOut = writer.skippedModules;
        if (writer.skippedStreamEntries > 0) warn(`${writer.skippedStreamEntries} stream entries without fields left out: XADD cannot write them`);
      }
    }
  }
}

export function parseCommand(): Command {
  const cmd = new Command('parse')
    .description('convert every key of an RDB file to another format')
    .argument('<file>', 'the RDB file, or - for standard input')
    .addOption(new Option('-f, --format <format>', 'output format (see below)').choices([...FORMATS]).default('jsonl'))
    .option('-o, --output <file>', 'write to this file instead of standard output')
    .option('--no-checksum', 'do not verify the CRC64 checksum (read files whose checksum is wrong)');
  addSelectionOptions(cmd, { memory: true });
  addMemoryOptions(cmd);
  cmd.addHelpText('after', `
Formats:
  jsonl  one canonical JSON object per key, in file order:
           {"db":0,"key":"user:1","type":"hash","expire_ms":null,"value":[["name","Ada"]]}
         Byte strings that are not valid UTF-8 are written as {"b64":"..."}; module values (with a
         warning) and empty collections (which Redis drops on load) are left out.
  csv    one row per key: database,type,key,size_in_bytes,encoding,num_elements,
         len_largest_element,expiry (estimated memory, encoding after a load, ISO 8601 UTC expiry;
         in keys, a backslash, control characters and invalid UTF-8 bytes are escaped as \\\\ and \\xHH)
  resp   the commands that rebuild the data in an empty server (SELECT, SET, RPUSH, SADD, ZADD,
         HSET, XADD, XGROUP, XCLAIM, PEXPIREAT...), binary-safe, for redis-cli --pipe; module
         values are left out (with a warning); hash field TTLs need Redis 7.4
  keys   the key names, one per line, as raw bytes

A truncated or damaged file: every key it holds whole before the damage is written first (the output
is then the start of what the whole file would give), then the error with its byte offset (exit 2).
Keys that appear twice in one db are all written, with a warning: Redis refuses to load such a file
(checked over the first 4,194,304 keys; a warning says so when there are more, or memory ran out).

Examples:
  redistap parse dump.rdb > keys.jsonl
  redistap parse dump.rdb --format csv -o memory.csv
  redistap parse dump.rdb --format resp --db 0 | redis-cli -p 6380 --pipe
  redistap parse dump.rdb --format keys --prefix session: --no-expired
  redistap parse dump.rdb --db 0 --type hash,zset --key '^user:' --min-size 64k`);
  return cmd.action(async (file: string, flags: ParseFlags) => {
    const selection = selectionFrom(flags);
    const input = openInput(file);
    const out = Output.to(flags.output);
    // Output going to this terminal is its own progress; a progress line would tangle with it.
    const toTerminal = !flags.output && process.stdout.isTTY === true;
    const progress = new ByteProgress('reading', toTerminal ? null : process.stderr);
    const job: Job = {
      input, out, batch: new Batcher(out), selection, memoryModel: memoryModelFrom(flags), verifyChecksum: flags.checksum, progress,
      repeatedKeys: () => new Map(), duplicateCheckGap: () => null, modulesLeftOut: 0,
    };
    try {
      const metadata = await convert(flags.format, job);
      warnTrailing(metadata.trailingBytes);
    } finally {
      progress.stop();
      // Also before the error of a damaged file: about the keys read until then.
      warnDuplicateKeys(job.repeatedKeys());
      warnDuplicateCheckGap(job.duplicateCheckGap());
      warnModulesLeftOut(job.modulesLeftOut, flags.format === 'resp' ? 'no command rebuilds them' : 'the canonical format has no line for them');
    }
  });
}
