// The browser inspector end to end in real headless Chromium (Debian's, driven by playwright-core): the
// built page is served from 127.0.0.1, a fixture goes through its file input, and what the page shows
// and exports must equal what the CLI says about the same file (`redistap report --json`, `parse
// --format csv`). The page must make no network request once loaded. A screenshot is kept in
// test/artifacts/ (git-ignored) for people to look at.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RdbReport } from '../src/analysis/report.js';
import { fixture } from './helpers/fixtures.js';
import { sampleMemory, workerSession } from '../scripts/chromium-probes.mjs';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/cli/main.js');
const ARTIFACTS = join(ROOT, 'test/artifacts');

/** True when Debian's Chromium is installed; in CI a missing browser is a failure, never a skip. */
function haveChromium(): boolean {
  const found = existsSync(CHROMIUM);
  if (!found && process.env.CI) throw new Error(`CI is set but ${CHROMIUM} is missing (.ci/run installs the chromium package)`);
  return found;
}

function cli(args: string[]): Buffer {
  const r = spawnSync(process.execPath, [CLI, ...args], { maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`redistap ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** An RDB 9 file of n string keys `key:<i>` with 16-byte values (no checksum), written fast. */
function manyStrings(n: number): Buffer {
  const parts: Buffer[] = [Buffer.from('REDIS0009')];
  for (let i = 0; i < n; i += 10_000) {
    const rows: string[] = [];
    for (let k = i; k < Math.min(n, i + 10_000); k++) {
      const key = `key:${k}`;
      rows.push(`\x00${String.fromCharCode(key.length)}${key}\x10${'v'.repeat(16)}`);
    }
    parts.push(Buffer.from(rows.join(''), 'latin1'));
  }
  parts.push(Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 0]));
  return Buffer.concat(parts);
}

/** The report without what depends on when it was made (the TTL reference is "now" for a dump without a save time). */
function comparable(r: RdbReport): unknown {
  return r.ttlReference.source === 'saved' ? r : { ...r, ttlReference: { source: r.ttlReference.source }, ttl: undefined, top: undefined };
}

describe.skipIf(!haveChromium())('browser inspector (web-demo) in headless Chromium', () => {
  let server: esbuild.BuildContext;
  let url: string;
  let browser: Browser;
  let page: Page;
  const requestsAfterLoad: string[] = [];
  const dump = fixture('redis-7.4.1-full-nocompress');

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const built = spawnSync(process.execPath, [join(ROOT, 'web-demo/build.mjs')], { encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`web-demo build failed: ${built.stderr}`);
    server = await esbuild.context({});
    const { port } = await server.serve({ servedir: join(ROOT, 'web-demo/dist'), host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    page.on('pageerror', (e) => { throw e; });
    await page.goto(url, { waitUntil: 'load' });
    page.on('request', (r) => requestsAfterLoad.push(r.url()));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  const scratch = mkdtempSync(join(tmpdir(), 'redistap-web-'));
  function temporary(name: string, data: Buffer): string {
    const path = join(scratch, name);
    writeFileSync(path, data);
    return path;
  }

  async function open(path: string): Promise<void> {
    await page.setInputFiles('input[type=file]', path);
    await page.waitForSelector('[data-testid=total-keys]', { timeout: 60_000 });
  }

  async function downloaded(buttonId: string): Promise<string> {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#${buttonId}`)]);
    return readFileSync((await download.path())!, 'utf8');
  }

  it('shows the same report as `redistap report --json` and exports it', async () => {
    await open(dump.path);
    const expected = JSON.parse(cli(['report', dump.path, '--json', '--top', '100']).toString()) as RdbReport;
    expect(await page.textContent('[data-testid=total-keys]')).toBe(String(expected.totals.keys));
    const exported = JSON.parse(await downloaded('export-json')) as RdbReport;
    expect(comparable(exported)).toEqual(comparable(expected));
    await page.screenshot({ path: join(ARTIFACTS, 'web-demo.png'), fullPage: true });
  }, 90_000);

  it('exports the key table as the CSV rows `redistap parse --format csv` writes for those keys', async () => {
    const csv = (await downloaded('export-csv')).split('\r\n').filter((l) => l !== '');
    const all = new Set(cli(['parse', dump.path, '--format', 'csv']).toString().split('\r\n'));
    expect(csv[0]).toBe('database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry');
    expect(csv.length).toBeGreaterThan(50);
    for (const row of csv.slice(1)) expect(all.has(row), row).toBe(true);
  });

  it("previews a key's value from the file", async () => {
    const first = page.locator('#key-table tbody tr').first();
    const key = (await first.locator('td.key').textContent())!;
    await first.locator('button').click();
    await page.waitForSelector('[data-testid=preview-items]');
    const text = (await page.textContent('#preview'))!;
    expect(text.startsWith(key)).toBe(true);
    const elements = (await first.locator('td').nth(5).textContent())!;
    expect(text).toContain(`${elements} elements`);
    // From the keyboard: focus the second key's button, press Enter.
    const second = page.locator('#key-table tbody tr').nth(1);
    const secondKey = (await second.locator('td.key').textContent())!;
    await second.locator('button').focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction((k) => document.querySelector('#preview')?.textContent?.startsWith(k) === true, secondKey);
  });

  it('sorts the key table by a column and filters it by a text in the key', async () => {
    const column = async (n: number) => page.locator('#key-table tbody tr').evaluateAll((rows, i) => rows.map((r) => r.children[i]!.textContent!), n);
    await page.click('#key-table thead th:nth-child(6) button'); // Elements, largest first
    const elements = (await column(5)).map((t) => Number(t.replace(/,/g, '')));
    expect(elements).toEqual([...elements].sort((a, b) => b - a));
    expect(await page.getAttribute('#key-table thead th:nth-child(6)', 'aria-sort')).toBe('descending');
    await page.click('#key-table thead th:nth-child(6) button');
    expect(await page.getAttribute('#key-table thead th:nth-child(6)', 'aria-sort')).toBe('ascending');
    const keys = await column(0);
    const needle = keys[0]!.slice(0, 3);
    await page.fill('#key-filter', needle);
    const filtered = await column(0);
    expect(filtered.length).toBe(keys.filter((k) => k.toLowerCase().includes(needle.toLowerCase())).length);
    await page.fill('#key-filter', '');
  });

  it('takes a dropped file', async () => {
    const bytes = [...readFileSync(fixture('redis-7.2.6-lru').path)];
    const expected = JSON.parse(cli(['report', fixture('redis-7.2.6-lru').path, '--json']).toString()) as RdbReport;
    await page.evaluate((data) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(data)], 'dropped.rdb'));
      document.querySelector('#drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, bytes);
    await page.waitForFunction((n) => document.querySelector('[data-testid=total-keys]')?.textContent === n, String(expected.totals.keys));
    expect(await page.textContent('#summary-title')).toContain('dropped.rdb');
    await open(dump.path);
  });

  it('estimates memory as the chosen server and allocator', async () => {
    await page.selectOption('#model', 'redis-6.2');
    await page.selectOption('#quantum', '16');
    await page.waitForFunction(() => document.querySelector('[data-testid=total-keys]') !== null && document.querySelector('#progress')?.hasAttribute('hidden'));
    const expected = JSON.parse(cli(['report', dump.path, '--json', '--top', '100', '--memory-model', 'redis-6.2', '--allocator-quantum', '16']).toString()) as RdbReport;
    const exported = JSON.parse(await downloaded('export-json')) as RdbReport;
    expect(exported.memoryModel).toEqual({ name: 'redis-6.2', quantum: 16, reason: 'chosen' });
    expect(comparable(exported)).toEqual(comparable(expected));
    await page.selectOption('#model', '');
    await page.selectOption('#quantum', '8');
  }, 60_000);

  it("reads a dump without the worker's heap growing with it (measured, printed)", async () => {
    const big = temporary('heap.rdb', manyStrings(1_500_000));
    await page.reload({ waitUntil: 'load' });
    const cdp = await browser.newBrowserCDPSession();
    const sampler = sampleMemory(cdp, await workerSession(cdp), 20);
    await open(big);
    const { heapMax, rssMaxKb } = await sampler.stop();
    await cdp.detach();
    const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
    console.log(`inspector reading a ${mib(readFileSync(big).length)} dump: worker JS heap at most ${mib(heapMax)}, tab (renderer) RSS at most ${mib(rssMaxKb * 1024)}`);
    expect(await page.textContent('[data-testid=total-keys]')).toBe('1500000');
    expect(heapMax).toBeLessThan(32 * 1048576);
  }, 60_000);

  it('stops reading a dump on Cancel', async () => {
    const big = temporary('big.rdb', manyStrings(1_500_000));
    // A warm worker reads these 42 MB in ~0.2 s, faster than a click from here lands: the page itself
    // clicks Cancel right after the file is chosen, so the worker gets the request while it reads.
    await page.evaluate(() => {
      document.querySelector('#file')!.addEventListener('change', () => setTimeout(() => (document.querySelector('#cancel') as HTMLButtonElement).click()), { once: true });
    });
    await page.setInputFiles('input[type=file]', big);
    await page.waitForFunction(() => document.querySelector('#progress-text')?.textContent === 'Cancelled.');
    expect(await page.$('[data-testid=total-keys]')).toBeNull();
  }, 60_000);

  it('reads a gzipped dump the same way', async () => {
    const gz = temporary('dump.rdb.gz', gzipSync(readFileSync(dump.path)));
    await page.reload({ waitUntil: 'load' });
    requestsAfterLoad.length = 0;
    await open(gz);
    const expected = JSON.parse(cli(['report', dump.path, '--json']).toString()) as RdbReport;
    expect(await page.textContent('[data-testid=total-keys]')).toBe(String(expected.totals.keys));
  }, 60_000);

  it('has no accessibility violations (axe-core) at 1280×800 in light and on a narrow window in dark', async () => {
    // axe is injected into the page, which the page's own CSP forbids: this context bypasses it.
    for (const [width, scheme] of [[1280, 'light'], [400, 'dark']] as const) {
      const context = await browser.newContext({ bypassCSP: true, viewport: { width, height: 800 }, colorScheme: scheme });
      const p = await context.newPage();
      await p.goto(url, { waitUntil: 'load' });
      await p.setInputFiles('input[type=file]', dump.path);
      await p.waitForSelector('[data-testid=total-keys]');
      await p.addScriptTag({ path: join(ROOT, 'node_modules/axe-core/axe.min.js') });
      const violations = await p.evaluate(async () => {
        const result = await (window as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string; nodes: unknown[] }> }> } }).axe.run();
        return result.violations.map((v) => `${v.impact} ${v.id} (${v.nodes.length})`);
      });
      expect(violations, `${width}px ${scheme}`).toEqual([]);
      if (width < 600) await p.screenshot({ path: join(ARTIFACTS, 'web-demo-narrow-dark.png') });
      await context.close();
    }
  }, 60_000);

  it('made no network request after loading, and cannot make one (its Content-Security-Policy forbids connections)', async () => {
    expect(requestsAfterLoad).toEqual([]);
    const attempt = await page.evaluate(() => fetch('/index.html').then(() => 'fetched', () => 'refused'));
    expect(attempt).toBe('refused');
    expect(requestsAfterLoad).toEqual([]);
  });
});
