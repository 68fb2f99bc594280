// The inspector page: a file from the picker or a drop goes to the analysis worker; its progress and
// then its report are shown; keys are previewed and the report exported without anything leaving the tab.
import { byteTextBytes, CSV_HEADER, csvRow, formatBytes, formatCount, MEMORY_MODELS, type KeyRow, type MemoryModelName, type RdbReport } from '../../src/browser.js';
import { byId, download } from './dom.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { ReportView } from './report-view.js';

/** The worker's bundled code (build.mjs): started from a blob: URL so that it runs under this page's CSP. */
declare const WORKER_SOURCE: string;

const worker = new Worker(URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' })));
const send = (m: ToWorker) => worker.postMessage(m);

const input = byId<HTMLInputElement>('file');
const drop = byId('drop');
const separators = byId<HTMLInputElement>('separators');
const model = byId<HTMLSelectElement>('model');
const quantum = byId<HTMLSelectElement>('quantum');
for (const name of MEMORY_MODELS) model.add(new Option(name, name));
const status = byId('status');
const progressBar = byId<HTMLProgressElement>('progress');
const progressText = byId('progress-text');
const cancel = byId<HTMLButtonElement>('cancel');
const themeButton = byId<HTMLButtonElement>('theme');

let current: { run: number; file: File; report: RdbReport | null } | null = null;
let runs = 0;
let previewId = 0;

const view = new ReportView(byId('report'), {
  preview(k: KeyRow) {
    view.previewLoading(k);
    send({ type: 'preview', id: ++previewId, db: k.db, key: k.key });
  },
  exportJson() {
    if (current?.report) download(`${baseName()}.report.json`, 'application/json', `${JSON.stringify(current.report, null, 2)}\n`);
  },
  exportCsv(keys: KeyRow[]) {
    const rows = keys.map((k) => csvRow({ ...k, key: byteTextBytes(k.key) }));
    download(`${baseName()}.keys.csv`, 'text/csv', CSV_HEADER + rows.join(''));
  },
});

const baseName = () => (current?.file.name ?? 'dump').replace(/(\.rdb)?(\.gz)?$/i, '');

function setStatus(text: string, options: { busy?: boolean; error?: boolean } = {}): void {
  progressText.textContent = text;
  status.classList.toggle('error', options.error === true);
  progressBar.hidden = !options.busy;
  cancel.hidden = !options.busy;
}

function start(file: File): void {
  current = { run: ++runs, file, report: null };
  view.clear();
  progressBar.value = 0;
  setStatus(`Reading ${file.name} (${formatBytes(file.size)})…`, { busy: true });
  send({
    type: 'analyze',
    run: current.run,
    file,
    options: { separators: separators.value || ':', model: (model.value || undefined) as MemoryModelName | undefined, quantum: quantum.value === '16' ? 16 : 8 },
  });
}

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  if (m.type !== 'preview' && m.run !== current?.run) return; // an analysis since replaced
  switch (m.type) {
    case 'progress': {
      const p = m.progress;
      const rate = p.elapsedMs > 0 ? p.bytes / (p.elapsedMs / 1000) : 0;
      progressBar.value = p.total > 0 ? p.bytes / p.total : 0;
      setStatus(`${formatBytes(p.bytes)} of ${formatBytes(p.total)} · ${formatCount(p.keys)} keys · ${formatBytes(rate)}/s`, { busy: true });
      break;
    }
    case 'report':
      current!.report = m.report;
      setStatus(`Done: ${formatCount(m.report.totals.keys)} keys in ${(m.elapsedMs / 1000).toFixed(2)} s.`);
      view.show(m.report, current!.file.name, m.elapsedMs);
      break;
    case 'cancelled':
      setStatus('Cancelled.');
      break;
    case 'error':
      setStatus(`This file could not be read: ${m.message}`, { error: true });
      break;
    case 'preview':
      if (m.id === previewId) view.showPreview(m.preview, m.error);
      break;
  }
};

input.addEventListener('change', () => {
  if (input.files?.[0]) start(input.files[0]);
  input.value = ''; // choosing the same file again (it may have changed) reads it again
});
cancel.addEventListener('click', () => send({ type: 'cancel' }));
for (const option of [separators, model, quantum]) option.addEventListener('change', () => { if (current) start(current.file); });
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) start(file);
});

function applyTheme(dark: boolean): void {
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  themeButton.setAttribute('aria-pressed', String(dark));
  themeButton.textContent = dark ? 'Light theme' : 'Dark theme';
}
applyTheme(matchMedia('(prefers-color-scheme: dark)').matches);
themeButton.addEventListener('click', () => {
  applyTheme(document.documentElement.dataset.theme !== 'dark');
  if (current?.report) view.show(current.report, current.file.name, 0);
});
