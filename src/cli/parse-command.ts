// `redistap parse <file|->`: every key of a dump, converted to an output format.
import { Command, Option } from 'commander';
import { CanonicalJsonl } from '../rdb/canonical-jsonl.js';
import { checksumOptions } from '../core/external-checksum.js';
import { openInput } from './input.js';
import { Output } from './output.js';
import { addSelectionOptions, selectionFrom } from './selection-options.js';
import { warnTrailing } from './warnings.js';

interface ParseOptions {
  format: 'jsonl';
  output?: string;
  checksum: boolean;
  db?: string[];
  type?: string[];
  key?: string;
}

export function parseCommand(): Command {
  const cmd = new Command('parse')
    .description('convert every key of an RDB file to another format')
    .argument('<file>', 'the RDB file, or - for standard input')
    .addOption(new Option('-f, --format <format>', 'output format: jsonl = one canonical JSON object per key').choices(['jsonl']).default('jsonl'))
    .option('-o, --output <file>', 'write to this file instead of standard output')
    .option('--no-checksum', 'do not verify the CRC64 checksum (read files whose checksum is wrong)');
  addSelectionOptions(cmd);
  cmd.addHelpText('after', `
Output (jsonl): one line per key, in file order, as defined by the canonical format:
  {"db":0,"key":"user:1","type":"hash","expire_ms":null,"value":[["name","Ada"]]}
Byte strings that are not valid UTF-8 are written as {"b64":"..."}; module values and
empty collections (which Redis drops on load) are left out.

Examples:
  redistap parse dump.rdb > keys.jsonl
  redistap parse dump.rdb --db 0 --type hash,zset --key '^user:'
  cat dump.rdb | redistap parse - | head`);
  return cmd.action(async (file: string, opts: ParseOptions) => {
    const input = openInput(file);
    const out = Output.to(opts.output);
    const checksum = opts.checksum ? input.parallelChecksum() : null;
    const converter = await CanonicalJsonl.create({ verifyChecksum: opts.checksum, ...checksumOptions(checksum), selection: selectionFrom(opts) });
    // The converter hands out views valid only during its call; Output copies them only for pipes.
    // (Output.write takes the bytes before its first await, so calling it here is enough.)
    let pending: Promise<void> = Promise.resolve();
    const sink = (bytes: Uint8Array) => {
      const written = out.write(bytes);
      pending = pending.then(() => written);
    };
    try {
      if (input.readInto) {
        while (!out.closed && converter.fill(input.readInto, sink) > 0) await pending;
      } else {
        for await (const chunk of input.source) {
          converter.write(chunk, sink);
          await pending;
          if (out.closed) break;
        }
      }
      if (!out.closed) {
        converter.end(sink);
        await pending;
        if (checksum) await converter.verifyChecksumWith(checksum);
      }
    } finally {
      checksum?.close();
    }
    await out.end();
    warnTrailing(converter.metadata.trailingBytes);
  });
}
