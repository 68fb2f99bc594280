// `redistap summary <file|->`: what a dump holds, at a glance.
import { Command } from 'commander';
import { summarizeRdb, type RdbSummary } from '../rdb/summary.js';
import { openInput } from './input.js';
import { addSelectionOptions, selectionFrom, type SelectionFlags } from './selection-options.js';
import { formatBytes } from '../analysis/report-format.js';
import { warnTrailing } from './warnings.js';

function table(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

function counts(m: Map<string | number, number>, label: (k: string | number) => string): Array<[string, string]> {
  return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, n]) => [`  ${label(k)}`, n.toLocaleString('en-US')]);
}

export function renderSummary(s: RdbSummary, name: string, size: number | null): string {
  const product = s.flavor === 'valkey' ? 'Valkey' : 'Redis';
  const rows: Array<[string, string]> = [
    ['File', size === null ? name : `${name} (${formatBytes(size)})`],
    ['RDB version', `${s.rdbVersion}${s.serverVersion ? ` (written by ${product} ${s.serverVersion})` : ''}`],
    ['Checksum', s.checksum ?? 'absent'],
    ['Keys', `${s.keys.toLocaleString('en-US')} (${s.expiringKeys.toLocaleString('en-US')} with an expire time)`],
    ...counts(s.keysByDb, (db) => `db ${db}`),
    ['Types', ''],
    ...counts(s.keysByType, String),
    ['Encodings', ''],
    ...counts(s.keysByEncoding, String),
  ];
  if (s.functions) rows.push(['Function libraries', String(s.functions)]);
  return table(rows);
}

export function summaryCommand(): Command {
  const cmd = new Command('summary')
    .description('show the RDB and server version, keys per database, type and encoding, and expiring keys')
    .argument('<file>', 'the RDB file, or - for standard input')
    .option('--no-checksum', 'do not verify the CRC64 checksum');
  return addSelectionOptions(cmd, { memory: false })
    .action(async (file: string, opts: SelectionFlags & { checksum: boolean }) => {
      const input = openInput(file);
      const summary = await summarizeRdb(input.source, {
        verifyChecksum: opts.checksum, externalChecksum: input.parallelChecksum, selection: selectionFrom(opts),
      });
      process.stdout.write(`${renderSummary(summary, input.name, input.size)}\n`);
      warnTrailing(summary.trailingBytes);
    });
}
