// `redistap summary <file|->`: what a dump holds, at a glance.
import { Command } from 'commander';
import { summarizeRdb, type RdbSummary } from '../rdb/summary.js';
import { openInput } from './input.js';
import { warnTrailing } from './warnings.js';

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(1)} ${units[u]}`;
}

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
  return new Command('summary')
    .description('show the RDB and server version, keys per database, type and encoding, and expiring keys')
    .argument('<file>', 'the RDB file, or - for standard input')
    .option('--no-checksum', 'do not verify the CRC64 checksum')
    .action(async (file: string, opts: { checksum: boolean }) => {
      const input = openInput(file);
      const summary = await summarizeRdb(input.source, { verifyChecksum: opts.checksum, externalChecksum: input.parallelChecksum });
      process.stdout.write(`${renderSummary(summary, input.name, input.size)}\n`);
      warnTrailing(summary.trailingBytes);
    });
}
