// The largest keys: sortable by any column, filtered by a text in the key, each key a button that asks
// the worker for a preview of its value.
import { formatBytes, formatCount, keyText, ttlText, type KeyRow } from '../../src/browser.js';
import { h } from './dom.js';

type Column = { title: string; numeric: boolean; value: (k: KeyRow) => number | string };

const COLUMNS: Column[] = [
  { title: 'Key', numeric: false, value: (k) => keyText(k.key, 1000) },
  { title: 'DB', numeric: true, value: (k) => k.db },
  { title: 'Type', numeric: false, value: (k) => k.type },
  { title: 'Encoding', numeric: false, value: (k) => k.encoding },
  { title: 'Memory', numeric: true, value: (k) => k.memory },
  { title: 'Elements', numeric: true, value: (k) => k.elements },
  { title: 'Largest element', numeric: true, value: (k) => k.largestElement },
  { title: 'TTL', numeric: true, value: (k) => k.expireMs ?? Infinity },
];

export class KeyTable {
  private sortColumn = 4;
  private descending = true;
  private filter = '';
  private selected: KeyRow | null = null;
  readonly element: HTMLElement;
  private readonly body = h('tbody');
  private readonly head = h('tr');
  private readonly count = h('span', { class: 'muted', 'aria-live': 'polite' });

  constructor(private readonly keys: KeyRow[], private readonly ttlAtMs: number, private readonly onPick: (k: KeyRow) => void) {
    const filter = h('input', { type: 'search', placeholder: 'filter keys', 'aria-label': 'Filter keys by text', id: 'key-filter' });
    filter.addEventListener('input', () => { this.filter = filter.value; this.render(); });
    this.element = h('div', {},
      h('div', { class: 'toolbar' }, filter, this.count),
      h('div', { class: 'scroll keys-scroll', tabindex: '0', role: 'region', 'aria-label': 'Largest keys' },
        h('table', { id: 'key-table' }, h('thead', {}, this.head), this.body)));
    this.render();
  }

  /** The rows as shown: filtered and sorted. */
  visible(): KeyRow[] {
    const column = COLUMNS[this.sortColumn]!;
    const needle = this.filter.toLowerCase();
    const rows = this.keys.filter((k) => needle === '' || keyText(k.key, 1000).toLowerCase().includes(needle));
    return rows.sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return this.descending ? -order : order;
    });
  }

  private sortBy(index: number): void {
    if (this.sortColumn === index) this.descending = !this.descending;
    else {
      this.sortColumn = index;
      this.descending = COLUMNS[index]!.numeric;
    }
    this.render();
  }

  private render(): void {
    this.head.replaceChildren(...COLUMNS.map((c, i) => {
      const sorted = i === this.sortColumn ? (this.descending ? 'descending' : 'ascending') : 'none';
      return h('th', { scope: 'col', class: c.numeric ? 'num' : '', 'aria-sort': sorted },
        h('button', { type: 'button', onclick: () => this.sortBy(i) }, c.title, sorted === 'none' ? '' : sorted === 'descending' ? ' ▼' : ' ▲'));
    }));
    const rows = this.visible();
    this.count.textContent = `${rows.length} of ${this.keys.length} keys`;
    this.body.replaceChildren(...rows.map((k) => h('tr', { class: k === this.selected ? 'selected' : '' },
      h('td', { class: 'key' }, h('button', { type: 'button', class: 'link', onclick: () => this.pick(k) }, keyText(k.key, 120))),
      h('td', { class: 'num' }, k.db),
      h('td', {}, k.type),
      h('td', {}, k.encoding),
      h('td', { class: 'num' }, formatBytes(k.memory)),
      h('td', { class: 'num' }, formatCount(k.elements)),
      h('td', { class: 'num' }, formatBytes(k.largestElement)),
      h('td', { class: 'num' }, ttlText(k.expireMs, this.ttlAtMs)))));
  }

  private pick(k: KeyRow): void {
    this.selected = k;
    this.render();
    this.onPick(k);
  }
}
