// The browser inspector against the CLI on the same files, in the same run: time to the report, and the
// memory the tab uses while it reads.
//
//   node bench/web-report.mjs [--corpus DIR] [--only mixed] [--runs N]
//
// The targets: a 1 GB dump parses in the page without the tab's memory growing with the file, at
// a throughput within 1.5x of the Node CLI. See bench/README.md.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { corpusCommandLine, environmentLine, fail, fmt, gitState, median, timedRun, writeResults } from './common.mjs';
import { sampleMemory, workerSession } from '../scripts/chromium-probes.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH_DIR);
const CLI = path.join(ROOT, 'dist/cli/main.js');
const CHROMIUM = '/usr/bin/chromium';
const TARGET_RATIO = 1.5;
const SAMPLE_EVERY_MS = 100;

const HELP = `The browser inspector (web-demo) vs redistap report --json: time to the report and the tab's memory.

Usage: node bench/web-report.mjs [options]

  --corpus DIR    the .rdb files to read (default bench/corpus; npm run bench:corpus writes it)
  --only NAMES    comma-separated file names without .rdb (e.g. mixed)
  --runs N        timed runs per contender and file, median reported (default 3)
  -h, --help      this text

Contenders, interleaved: (peer) node dist/cli/main.js report FILE --json -o /dev/null, a fresh process timed
from spawn to exit; (ours) the built page (web-demo/dist, served on 127.0.0.1) in a fresh tab of Debian's
headless Chromium, timed from choosing the file in its input to the report on screen. While the page
reads, the worker's JS heap (CDP Runtime.getHeapUsage) and every renderer process's resident set
(/proc/PID/status VmRSS) are sampled every ${SAMPLE_EVERY_MS} ms; the highest are reported. Target: page/CLI <=
${TARGET_RATIO}. Builds web-demo first; uses dist/ as it is (npm run build first).`;

const { files, runs } = corpusCommandLine(HELP, { runs: 3, usage: 'node bench/web-report.mjs' });
if (!fs.existsSync(CLI)) fail(`${CLI} does not exist: npm run build first`, 1);
if (!fs.existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing (Debian package chromium)`, 1);

await main();

async function main() {
  const startedAt = new Date();
  const built = spawnSync(process.execPath, [path.join(ROOT, 'web-demo/build.mjs')], { encoding: 'utf8' });
  if (built.status !== 0) fail(`web-demo build failed: ${built.stderr}`, 1);
  const server = await esbuild.context({});
  const { port } = await server.serve({ servedir: path.join(ROOT, 'web-demo/dist'), host: '127.0.0.1', port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
  const browserVersion = browser.version();
  console.log(environmentLine({ before: [`Chromium ${browserVersion}`] }));
  console.log(`${files.map((f) => path.basename(f)).join(', ')}; ${runs} runs each, median\n`);
  const results = [];
  try {
    for (const file of files) results.push(await benchFile(browser, `http://127.0.0.1:${port}/`, file));
  } finally {
    await browser.close();
    await server.dispose();
  }
  printTable(results);
  const out = writeResults('web-report', startedAt, { runs, targetRatio: TARGET_RATIO, chromium: browserVersion, git: gitState(), results });
  console.log(`\nresult: ${path.relative(process.cwd(), out)}`);
}

async function benchFile(browser, url, file) {
  const bytes = fs.statSync(file).size;
  const name = path.basename(file);
  process.stderr.write(`${name}: warm-up`);
  const cliRuns = [];
  const pageRuns = [];
  runCli(file);
  const warm = await runPage(browser, url, file);
  for (let rep = 1; rep <= runs; rep++) {
    process.stderr.write(` ${rep}`);
    if (rep % 2) { cliRuns.push(runCli(file)); pageRuns.push(await runPage(browser, url, file)); }
    else { pageRuns.push(await runPage(browser, url, file)); cliRuns.push(runCli(file)); }
  }
  process.stderr.write('\n');
  const cliMs = median(cliRuns);
  const pageMs = median(pageRuns.map((r) => r.ms));
  return {
    file: name, bytes, keys: warm.keys,
    cli: { command: `node ${path.relative(ROOT, CLI)} report ${file} --json -o /dev/null`, timesMs: cliRuns, medianMs: cliMs },
    page: {
      timesMs: pageRuns.map((r) => r.ms),
      medianMs: pageMs,
      workerHeapMaxBytes: Math.max(...pageRuns.map((r) => r.heapMax)),
      rendererRssMaxKb: Math.max(...pageRuns.map((r) => r.rssMaxKb)),
    },
    roundRatios: pageRuns.map((r, i) => r.ms / cliRuns[i]),
    ratio: pageMs / cliMs,
  };
}

function runCli(file) {
  const r = timedRun([process.execPath, CLI, 'report', file, '--json', '-o', '/dev/null']);
  if (r.error) fail(`redistap report ${file}: ${r.error}`, 1);
  return r.ms;
}

/** One fresh tab: choose the file, wait for the report, sampling the worker's heap and the renderers' RSS. */
async function runPage(browser, url, file) {
  const page = await browser.newPage();
  try {
    await page.goto(url, { waitUntil: 'load' });
    const cdp = await browser.newBrowserCDPSession();
    const sampler = sampleMemory(cdp, await workerSession(cdp), SAMPLE_EVERY_MS);
    const started = performance.now();
    await page.setInputFiles('input[type=file]', file);
    await page.waitForSelector('[data-testid=total-keys]', { timeout: 30 * 60 * 1000 });
    const ms = performance.now() - started;
    const { heapMax, rssMaxKb } = await sampler.stop();
    const keys = Number(await page.textContent('[data-testid=total-keys]'));
    await cdp.detach();
    return { ms, heapMax, rssMaxKb, keys };
  } finally {
    await page.close();
  }
}

function printTable(results) {
  const header = ['file', 'MB', 'keys', 'CLI s', 'page s', 'ratio/med', 'page MB/s', 'worker heap MiB', 'tab RSS MiB', 'tab RSS %file'];
  const rows = results.map((r) => [
    r.file, fmt(r.bytes / 1e6, 1), r.keys, fmt(r.cli.medianMs / 1000, 3), fmt(r.page.medianMs / 1000, 3), `${fmt(r.ratio, 2)}x`,
    fmt(r.bytes / 1e6 / (r.page.medianMs / 1000), 1), fmt(r.page.workerHeapMaxBytes / 1048576, 1), fmt(r.page.rendererRssMaxKb / 1024, 1),
    `${fmt((r.page.rendererRssMaxKb * 1024 * 100) / r.bytes, 1)} %`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => cells.map((v, i) => (i === 0 ? String(v).padEnd(widths[i]) : String(v).padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  for (const r of results) {
    console.log(`${r.file}: page/CLI per round ${r.roundRatios.map((x) => fmt(x, 2)).join(' ')}; target <= ${TARGET_RATIO}x: ${median(r.roundRatios) <= TARGET_RATIO ? 'met' : 'NOT met'}`);
  }
}
