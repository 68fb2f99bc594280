// `redistap report <file|->`: where a dump's memory goes, as tables or as the versioned JSON report.
import { Command } from 'commander';
import { analyzeRdb } from '../analysis/analyze.js';
import { separatorsProblem } from '../analysis/prefix-tree.js';
import { CliError } from './cli-error.js';
import { openInput } from './input.js';
import { addMemoryOptions, memoryModelFrom, type MemoryFlags } from './memory-options.js';
import { Output } from '../node/output.js';
import { ByteProgress } from './progress.js';
import { ReportView } from './report-view.js';
import { addSelectionOptions, selectionFrom, type SelectionFlags } from './selection-options.js';
import { warnTrailing } from './warnings.js';

interface ReportFlags extends SelectionFlags, MemoryFlags {
  json: boolean;
  output?: string;
  top?: string;
  separators: string;
  prefixDepth: string;
  maxPrefixes: string;
  checksum: boolean;
}

function positiveInteger(flag: string, text: string, min = 0): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new CliError(`${flag} expects an integer >= ${min}, got "${text}"`);
  return n;
}

export function reportCommand(): Command {
  const cmd = new Command('report')
    .description('where the memory goes: totals by database, type and encoding, TTLs, the largest keys, key prefixes')
    .argument('<file>', 'the RDB file, or - for standard input')
    .option('--json', 'print the report as JSON (schema: docs/report-schema.md)')
    .option('-o, --output <file>', 'write the report to this file instead of standard output')
    .option('--top <n>', 'keys in each "largest keys" list (default: 10, or 50 with --json)')
    .option('--separators <chars>', 'characters that end a key prefix segment', ':')
    .option('--prefix-depth <n>', 'deepest prefix level counted (segments)', '8')
    .option('--max-prefixes <n>', 'most distinct prefixes held (bounds memory on dumps with millions of them)', '100000')
    .option('--no-checksum', 'do not verify the CRC64 checksum');
  addMemoryOptions(cmd);
  addSelectionOptions(cmd, { memory: true });
  cmd.addHelpText('after', `
Memory is estimated per key as MEMORY USAGE <key> SAMPLES 0 would report it after the server
loaded the dump (docs/memory-model.md). TTLs are measured from the dump's save time (ctime).

Examples:
  redistap report dump.rdb
  redistap report dump.rdb --json > report.json
  redistap report dump.rdb --db 0 --separators ':/' --top 50
  redistap report dump.rdb --prefix session: --min-size 1M`);
  return cmd.action(async (file: string, flags: ReportFlags) => {
    const top = flags.top === undefined ? (flags.json ? 50 : 10) : positiveInteger('--top', flags.top);
    const separators = separatorsProblem(flags.separators);
    if (separators) throw new CliError(`--separators: ${separators}`);
    const input = openInput(file);
    const progress = new ByteProgress('reading');
    let report;
    try {
      report = await analyzeRdb(input.source, {
        selection: selectionFrom(flags),
        ...memoryModelFrom(flags),
        top,
        prefixes: {
          separators: flags.separators,
          maxDepth: positiveInteger('--prefix-depth', flags.prefixDepth, 1),
          maxNodes: positiveInteger('--max-prefixes', flags.maxPrefixes),
        },
        verifyChecksum: flags.checksum,
        externalChecksum: input.parallelChecksum,
        onProgress: ({ bytes }) => progress.update(bytes, input.size),
      });
    } finally {
      progress.stop();
    }
    const out = Output.to(flags.output);
    const colour = !flags.output && !flags.json && process.stdout.isTTY === true && !process.env.NO_COLOR;
    const text = flags.json
      ? `${JSON.stringify(report, null, 2)}\n`
      : new ReportView(report, { top, prefixDepth: 3, prefixChildren: 10, colour }).render();
    await out.write(new TextEncoder().encode(text));
    await out.end();
    warnTrailing(report.dump.trailingBytes);
  });
}
