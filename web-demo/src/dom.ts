// A little DOM building: elements with attributes and children, text always as text (keys and values
// from a dump are never parsed as HTML).
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | ((e: Event) => void)> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(name, '');
    else if (value !== false) el.setAttribute(name, value);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no #${id}`);
  return el as T;
}

/** A table: header cells (a class 'num' right-aligns numbers) and rows of cells. */
export function table(caption: string, headers: Array<[string, string?]>, rows: Child[][]): HTMLElement {
  // Focusable, so that a table wider than the window scrolls from the keyboard too.
  return h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', {},
      h('caption', { class: 'muted' }, caption),
      h('thead', {}, h('tr', {}, ...headers.map(([text, cls]) => h('th', { scope: 'col', class: cls ?? '' }, text)))),
      h('tbody', {}, ...rows.map((cells) => h('tr', {}, ...cells.map((c, i) => h('td', { class: headers[i]?.[1] ?? '' }, c)))))));
}

/** Offers `text` as a file to save (a blob: URL; nothing is sent anywhere). */
export function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
