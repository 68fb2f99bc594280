// The report as aligned tables for people (the JSON schema is for machines). Colour only on a terminal.
import Table from 'cli-table3';
import pc from 'picocolors';
import type { KeyRow, RdbReport, Tally } from '../analysis/report.js';
import type { PrefixNode } from '../analysis/prefix-tree.js';
import type { TtlBucket } from '../analysis/ttl-buckets.js';
import { formatBytes, formatCount as int, formatShare as share, keyText, ttlText } from '../analysis/report-format.js';

export interface ViewOptions {
  /** Rows in each top-keys table. */
  top: number;
  /** Prefix levels shown, and children per prefix. */
  prefixDepth: number;
  prefixChildren: number;
  colour: boolean;
}

const TTL_LABELS: Record<TtlBucket, string> = {
  expired: 'already expired', 'under-1h': 'under 1 hour', 'under-1d': 'under 1 day',
  'under-7d': 'under 7 days', longer: '7 days or more', none: 'no expire time',
};

const NO_BORDER = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '',
  'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
};

export class ReportView {
  private readonly bold: (s: string) => string;
  private readonly dim: (s: string) => string;

  constructor(private readonly report: RdbReport, private readonly options: ViewOptions) {
    const colours = pc.createColors(options.colour);
    this.bold = colours.bold;
    this.dim = colours.dim;
  }

  render(): string {
    return [
      this.overview(), this.databases(), this.types(), this.encodings(), this.ttl(),
      this.topKeys('Largest keys by memory', this.report.top.byMemory),
      this.topKeys('Largest keys by elements', this.report.top.byElements),
      this.biggestElements(), this.prefixes(), this.aux(),
    ].filter(Boolean).join('\n\n') + '\n';
  }

  private table(head: string[], rows: string[][], rightAligned: number[]): string {
    const t = new Table({
      head: head.map((h) => this.bold(h)),
      chars: NO_BORDER,
      style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
      colAligns: head.map((_, i) => (rightAligned.includes(i) ? 'right' : 'left')),
    });
    t.push(...rows);
    return t.toString();
  }

  private section(title: string, body: string): string {
    return `${this.bold(title)}\n${body}`;
  }

  private overview(): string {
    const { dump, totals, memoryModel, ttlReference } = this.report;
    const product = dump.flavor === 'valkey' ? 'Valkey' : 'Redis';
    const rows: Array<[string, string]> = [
      ['RDB version', `${dump.rdbVersion}${dump.serverVersion ? ` (written by ${product} ${dump.serverVersion})` : ''}`],
      ['Saved at', dump.savedAtMs === null ? 'not recorded' : new Date(dump.savedAtMs).toISOString()],
      ['Checksum', dump.checksum ?? 'absent'],
      ['Keys', `${int(totals.keys)} (${int(totals.expiringKeys)} with an expire time)`],
      ['Estimated memory', `${formatBytes(totals.memory)}${dump.usedMemory ? ` (the server reported ${formatBytes(dump.usedMemory)} in use when it saved)` : ''}`],
    ];
    if (memoryModel) rows.push(['Memory model', `${memoryModel.name}, allocator quantum ${memoryModel.quantum} (${memoryModel.reason})`]);
    if (ttlReference.source === 'analysis') rows.push(['TTLs from', `now (${new Date(ttlReference.atMs).toISOString()}): the dump has no save time`]);
    const width = Math.max(...rows.map(([k]) => k.length));
    return rows.map(([k, v]) => `${this.bold(k.padEnd(width))}  ${v}`).join('\n');
  }

  private memoryCells(t: Tally): string[] {
    return [int(t.keys), formatBytes(t.memory), share(t.memory, this.report.totals.memory)];
  }

  private databases(): string {
    const rows = this.report.databases.map((d) => [`db${d.db}`, ...this.memoryCells(d), int(d.expiringKeys)]);
    return this.section('Databases', this.table(['db', 'keys', 'memory', 'share', 'expiring'], rows, [1, 2, 3, 4]));
  }

  private types(): string {
    const rows = this.report.types.map((t) => [t.type, ...this.memoryCells(t), t.type === 'string' ? '-' : int(t.elements)]);
    return this.section('Types', this.table(['type', 'keys', 'memory', 'share', 'elements'], rows, [1, 2, 3, 4]));
  }

  private encodings(): string {
    const rows = this.report.encodings.map((e) => [e.type, e.encoding, ...this.memoryCells(e)]);
    return this.section('Encodings after loading', this.table(['type', 'encoding', 'keys', 'memory', 'share'], rows, [2, 3, 4]));
  }

  private ttl(): string {
    const rows = this.report.ttl.map((b) => [TTL_LABELS[b.bucket], ...this.memoryCells(b)]);
    const from = this.report.ttlReference.source === 'saved' ? 'when the dump was saved' : 'now';
    return this.section(`Time to live (from ${from})`, this.table(['ttl', 'keys', 'memory', 'share'], rows, [1, 2, 3]));
  }

  private topKeys(title: string, keys: KeyRow[]): string {
    if (keys.length === 0) return '';
    const at = this.report.ttlReference.atMs;
    const rows = keys.slice(0, this.options.top).map((k) => [
      keyText(k.key), String(k.db), k.type, k.encoding, formatBytes(k.memory), int(k.elements), ttlText(k.expireMs, at),
    ]);
    return this.section(title, this.table(['key', 'db', 'type', 'encoding', 'memory', 'elements', 'ttl'], rows, [1, 4, 5]));
  }

  private biggestElements(): string {
    const keys = this.report.top.byLargestElement;
    if (keys.length === 0) return '';
    const rows = keys.slice(0, this.options.top).map((k) => [keyText(k.key), String(k.db), k.type, formatBytes(k.largestElement), int(k.elements)]);
    return this.section('Biggest elements (the longest string, member, field or value in a key)',
      this.table(['key', 'db', 'type', 'largest element', 'elements'], rows, [1, 3, 4]));
  }

  private prefixes(): string {
    const p = this.report.prefixes;
    const rows: string[][] = [];
    const walk = (node: PrefixNode, depth: number) => {
      if (depth > this.options.prefixDepth) return;
      const shown = node.children.slice(0, this.options.prefixChildren);
      for (const child of shown) {
        rows.push([`${'  '.repeat(depth - 1)}${keyText(child.prefix, 50)}`, ...this.memoryCells(child)]);
        walk(child, depth + 1);
      }
      const rest = node.children.length - shown.length;
      if (rest > 0) rows.push([this.dim(`${'  '.repeat(depth - 1)}(${int(rest)} more)`), '', '', '']);
    };
    walk(p.root, 1);
    if (rows.length === 0) return '';
    const note = p.truncated ? this.dim(`\n(the prefix cap of ${int(p.nodes)} was reached: keys under prefixes seen after it count in their parent)`) : '';
    return this.section(`Key prefixes (separators ${JSON.stringify(p.separators)})`, this.table(['prefix', 'keys', 'memory', 'share'], rows, [1, 2, 3]) + note);
  }

  private aux(): string {
    const { aux } = this.report;
    if (aux.length === 0) return '';
    return this.section('AUX fields', this.table(['field', 'value'], aux.map(([k, v]) => [k, keyText(v, 80)]), []));
  }
}
