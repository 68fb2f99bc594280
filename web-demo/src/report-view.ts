// The report on the page: the same data `redistap report --json` prints, as cards, tables and charts.
import { formatBytes, formatCount, formatShare, keyText, type ByteText, type KeyRow, type RdbReport, type ValuePreview } from '../../src/browser.js';
import { Charts } from './charts.js';
import { h, table } from './dom.js';
import { KeyTable } from './key-table.js';

const LISTS: Array<[keyof RdbReport['top'], string]> = [
  ['byMemory', 'estimated memory'], ['byElements', 'number of elements'], ['byLargestElement', 'largest element'],
];

export interface ReportActions {
  preview(key: KeyRow): void;
  exportJson(): void;
  exportCsv(keys: KeyRow[]): void;
}

export class ReportView {
  private readonly charts = new Charts();
  private keyTable: KeyTable | null = null;
  private readonly previewPanel = h('div', { class: 'preview', id: 'preview', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Choose a key to see its first elements.'));

  constructor(private readonly root: HTMLElement, private readonly actions: ReportActions) {}

  clear(): void {
    this.charts.dispose();
    this.root.replaceChildren();
    this.root.hidden = true;
  }

  show(report: RdbReport, fileName: string, elapsedMs: number): void {
    this.clear();
    const d = report.dump;
    const t = report.totals;
    const writer = d.serverVersion ? `${d.flavor === 'valkey' ? 'Valkey' : 'Redis'} ${d.serverVersion}` : 'unknown server';
    const cards = h('div', { class: 'cards' },
      card('Keys', h('span', { 'data-testid': 'total-keys' }, String(t.keys)), `${formatCount(t.expiringKeys)} with a TTL`),
      card('Estimated memory', formatBytes(t.memory), d.usedMemory !== null ? `server reported ${formatBytes(d.usedMemory)} in use` : 'no used-mem recorded'),
      card('Written by', writer, `RDB version ${d.rdbVersion}, checksum ${d.checksum}`),
      card('Memory model', report.memoryModel?.name ?? '-', report.memoryModel ? `quantum ${report.memoryModel.quantum}; ${report.memoryModel.reason}` : ''),
    );
    const treemap = h('div', { class: 'chart', role: 'img', 'aria-label': 'Treemap of memory by key prefix' });
    const ttlChart = h('div', { class: 'chart small', role: 'img', 'aria-label': 'Keys by time to live' });
    const keysHost = h('div');
    const listChoice = h('select', { id: 'key-list', 'aria-label': 'Largest keys by' }, ...LISTS.map(([v, label]) => h('option', { value: v }, label)));
    const showList = () => {
      const keys = report.top[listChoice.value as keyof RdbReport['top']];
      this.keyTable = new KeyTable(keys, report.ttlReference.atMs, (k) => this.actions.preview(k));
      keysHost.replaceChildren(this.keyTable.element);
    };
    listChoice.addEventListener('change', showList);
    showList();

    this.root.append(
      h('section', { 'aria-labelledby': 'summary-title' },
        h('h2', { id: 'summary-title' }, `${fileName} `, h('span', { class: 'muted' }, `read in ${(elapsedMs / 1000).toFixed(2)} s (${formatBytes(d.bytes)})`)),
        cards,
        h('div', { class: 'toolbar' },
          h('button', { type: 'button', id: 'export-json', onclick: () => this.actions.exportJson() }, 'Export report (JSON)'),
          h('button', { type: 'button', id: 'export-csv', onclick: () => this.actions.exportCsv(this.keyTable?.visible() ?? []) }, 'Export key table (CSV)'))),
      h('section', { 'aria-labelledby': 'prefix-title' },
        h('h2', { id: 'prefix-title' }, 'Memory by key prefix ', h('span', { class: 'muted' }, `separators "${report.prefixes.separators}"${report.prefixes.truncated ? `, first ${formatCount(report.prefixes.nodes)} prefixes` : ''}; click a prefix to zoom`)),
        treemap, prefixTable(report)),
      h('div', { class: 'grid2' },
        h('section', { 'aria-labelledby': 'types-title' }, h('h2', { id: 'types-title' }, 'By type'), typesTable(report), encodingsTable(report)),
        h('section', { 'aria-labelledby': 'ttl-title' }, h('h2', { id: 'ttl-title' }, 'Time to live ', h('span', { class: 'muted' }, `at ${new Date(report.ttlReference.atMs).toISOString()} (${report.ttlReference.source === 'saved' ? 'when the dump was saved' : 'now'})`)),
          ttlChart, ttlTable(report))),
      h('section', { 'aria-labelledby': 'keys-title' },
        h('h2', { id: 'keys-title' }, 'Largest keys by ', listChoice),
        h('div', { class: 'panel' }, h('h3', {}, 'Value preview'), this.previewPanel),
        keysHost),
      h('div', { class: 'grid2' },
        h('section', { 'aria-labelledby': 'db-title' }, h('h2', { id: 'db-title' }, 'Databases'), databasesTable(report)),
        h('section', { 'aria-labelledby': 'aux-title' }, h('h2', { id: 'aux-title' }, 'AUX fields'), auxTable(report))),
    );
    this.root.hidden = false;
    this.charts.prefixes(treemap, report);
    this.charts.ttl(ttlChart, report);
  }

  previewLoading(k: KeyRow): void {
    this.previewPanel.replaceChildren(h('p', {}, `Reading ${keyText(k.key)}…`));
    this.previewPanel.scrollIntoView({ block: 'nearest' });
  }

  showPreview(p: ValuePreview | null, error?: string): void {
    if (!p) {
      this.previewPanel.replaceChildren(h('p', {}, error ?? 'The key was not found.'));
      return;
    }
    const lines = p.items.map((item) => item.map((x) => (typeof x === 'number' ? String(x) : keyText(x as ByteText, 400))).join('  →  '));
    this.previewPanel.replaceChildren(
      h('p', {}, h('strong', {}, keyText(p.key, 200)), ` — ${p.type} (${p.encoding} in the file), ${formatCount(p.elements)} ${p.type === 'string' ? 'bytes' : 'elements'}`,
        p.expireMs !== null ? `, expires ${new Date(p.expireMs).toISOString()}` : ''),
      h('pre', { 'data-testid': 'preview-items' }, lines.join('\n')),
      ...(p.truncated ? [h('p', { class: 'muted' }, 'Only the first elements and bytes are shown.')] : []));
  }
}

function card(label: string, value: Node | string, sub: string): HTMLElement {
  return h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), h('div', { class: 'sub' }, sub));
}

function typesTable(r: RdbReport): HTMLElement {
  return table('Keys and estimated memory per type', [['Type'], ['Keys', 'num'], ['Memory', 'num'], ['Share', 'num'], ['Elements', 'num']],
    r.types.map((t) => [t.type, formatCount(t.keys), formatBytes(t.memory), formatShare(t.memory, r.totals.memory), formatCount(t.elements)]));
}

function encodingsTable(r: RdbReport): HTMLElement {
  return table('Encodings after a load', [['Type'], ['Encoding'], ['Keys', 'num'], ['Memory', 'num']],
    r.encodings.map((e) => [e.type, e.encoding, formatCount(e.keys), formatBytes(e.memory)]));
}

function ttlTable(r: RdbReport): HTMLElement {
  return table('Keys per TTL bucket', [['TTL'], ['Keys', 'num'], ['Memory', 'num']],
    r.ttl.map((b) => [b.bucket, formatCount(b.keys), formatBytes(b.memory)]));
}

function prefixTable(r: RdbReport): HTMLElement {
  const total = r.totals.memory;
  return table('Largest top-level prefixes', [['Prefix'], ['Keys', 'num'], ['Memory', 'num'], ['Share', 'num']],
    r.prefixes.root.children.slice(0, 15).map((p) => [keyText(p.prefix, 80), formatCount(p.keys), formatBytes(p.memory), formatShare(p.memory, total)]));
}

function databasesTable(r: RdbReport): HTMLElement {
  return table('Keys per database', [['DB', 'num'], ['Keys', 'num'], ['With a TTL', 'num'], ['Memory', 'num']],
    r.databases.map((d) => [d.db, formatCount(d.keys), formatCount(d.expiringKeys), formatBytes(d.memory)]));
}

function auxTable(r: RdbReport): HTMLElement {
  return table('What the dump says about itself', [['Field'], ['Value']], r.aux.map(([k, v]) => [k, v]));
}
