// `redistap parse <file|->`: every key of a dump, converted to an output format.
import { Command, Option } from 'commander';
import { parseRdb } from '../node.js';
import { canonicalLine } from '../rdb/canonical-json.js';
import { keyFilter } from '../rdb/key-filter.js';
import { openInput } from './input.js';
import { LineWriter } from './output.js';
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
    const out = LineWriter.to(opts.output);
    const reader = parseRdb(input.source, {
      verifyChecksum: opts.checksum,
      filter: keyFilter(selectionFrom(opts)),
    });
    for await (const entry of reader) {
      const line = canonicalLine(entry);
      if (line !== null) {
        const wait = out.line(line);
        if (wait) await wait;
      }
      if (out.closed) break;
    }
    await out.end();
    warnTrailing(reader.metadata.trailingBytes);
  });
}
