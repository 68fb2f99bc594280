// `redistap report` vs `redistap parse --format jsonl`: time and peak RSS on the same files, same run.
//
//   node bench/report.mjs [--corpus DIR] [--only mixed,small-keys] [--runs N]
//
// The issue's targets: report's throughput within 1.5x of parse --format jsonl on the same file, and its
// resident set well under the dump's size. Every measurement is a fresh process timed by wall clock from
// spawn to exit; the peak RSS comes from GNU time. See bench/README.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  corpusCommandLine, environmentLine, expectedCounts, fail, fmt, gitState, haveGnuTime, median, timedRun, writeResults,
} from './common.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH_DIR);
const CLI = path.join(ROOT, 'dist/cli/main.js');
const RUN_TIMEOUT_MS = 20 * 60 * 1000;
const TARGET_RATIO = 1.5;

const HELP = `redistap report vs redistap parse --format jsonl: wall time and peak RSS on the files of a corpus.

Usage: node bench/report.mjs [options]

  --corpus DIR    the .rdb files to read (default bench/corpus; write it with npm run bench:corpus,
                  i.e. ../shared/tools/perf-corpus)
  --only NAMES    comma-separated file names without .rdb (e.g. mixed,small-keys)
  --runs N        timed runs per contender and file, median reported (default 5)
  -h, --help      this text

Contenders: (peer) redistap parse FILE --format jsonl -o /dev/null; (ours) redistap report FILE --json
-o /dev/null. Every run is a fresh process timed from spawn to exit, the two interleaved (who goes first
alternates); peak RSS by GNU /usr/bin/time -f %M. Target: report/jsonl <= ${TARGET_RATIO}, report's RSS well
under the file size. Uses the built CLI in dist/ as it is (npm run build first). See bench/README.md.`;

const { corpusDir, files, runs } = corpusCommandLine(HELP, { runs: 5, usage: 'node bench/report.mjs' });
const expected = expectedCounts(corpusDir);
if (!fs.existsSync(CLI)) fail(`${CLI} does not exist: npm run build first`, 1);

// The two contenders. `warmupOutput` (ours only): in the untimed warm-up the report goes to a temp file
// instead, and is checked (key count against corpus.json, checksum verified).
const contenders = [
  {
    id: 'jsonl', label: 'parse --format jsonl',
    argv: (file, out = '/dev/null') => [process.execPath, CLI, 'parse', file, '--format', 'jsonl', '-o', out],
  },
  {
    id: 'report', label: 'report --json',
    argv: (file, out = '/dev/null') => [process.execPath, CLI, 'report', file, '--json', '-o', out],
    warmupOutput: true,
  },
];

main();

function main() {
  const startedAt = new Date();
  console.log(environmentLine({
    before: [`redistap ${cliVersion() ?? '?'}`],
    after: haveGnuTime ? [] : [`no /usr/bin/time (Debian package time): peak RSS not measured`],
  }));
  console.log(`corpus ${corpusDir}: ${files.map((f) => path.basename(f)).join(', ')}; ${runs} runs each, median\n`);
  const results = files.map(benchFile);
  printTable(results);
  const out = writeJson(startedAt, results);
  console.log(`\nresult: ${path.relative(process.cwd(), out)}`);
  const failed = results.some((r) => Object.values(r.contenders).some((c) => c.error));
  process.exitCode = failed ? 1 : 0;
}

/** Warm-up (page cache, untimed, and the report checked), then `runs` rounds of both contenders; who goes
 *  first alternates, so that a drift in machine noise within a round does not always favour one of them. */
function benchFile(file) {
  const bytes = fs.statSync(file).size;
  const name = path.basename(file);
  const state = Object.fromEntries(contenders.map((c) => [c.id, { times: [], rssKb: [], error: null, check: null }]));
  const rounds = []; // per round: { jsonl: ms, report: ms }, only rounds where both succeeded
  process.stderr.write(`${name}: warm-up`);
  for (const c of contenders) {
    let out;
    if (c.warmupOutput) out = path.join(os.tmpdir(), `report-bench-${process.pid}.json`);
    const r = runOnce(c, file, out);
    state[c.id].error = r.error ?? null; // a contender that fails its warm-up is not timed
    if (out) {
      if (!r.error) state[c.id].check = checkReport(out, expected[name]);
      fs.rmSync(out, { force: true });
    }
  }
  for (let rep = 1; rep <= runs; rep++) {
    process.stderr.write(` ${rep}`);
    const order = rep % 2 ? contenders : [...contenders].reverse();
    const round = {};
    for (const c of order) {
      const s = state[c.id];
      if (s.error) continue;
      const r = runOnce(c, file);
      if (r.error) { s.error = r.error; continue; }
      s.times.push(r.ms);
      round[c.id] = r.ms;
      if (r.rssKb != null) s.rssKb.push(r.rssKb);
    }
    if (round.jsonl != null && round.report != null) rounds.push(round);
  }
  process.stderr.write('\n');

  const result = { file: name, bytes, expected: expected[name] ?? null, contenders: {} };
  for (const c of contenders) {
    const s = state[c.id];
    const ms = s.error ? null : median(s.times);
    const rssKb = s.rssKb.length ? median(s.rssKb) : null;
    result.contenders[c.id] = {
      label: c.label,
      command: c.argv(file).join(' '),
      error: s.error,
      timesMs: s.times,
      medianMs: ms,
      mbPerSec: ms ? bytes / 1e6 / (ms / 1000) : null,
      rssKb: s.rssKb,
      medianRssKb: rssKb,
      maxRssKb: s.rssKb.length ? Math.max(...s.rssKb) : null,
      medianRssPercentOfFile: rssKb != null ? (rssKb * 1024 * 100) / bytes : null,
      check: s.check,
    };
  }
  const j = result.contenders.jsonl.medianMs;
  const rep = result.contenders.report.medianMs;
  result.roundRatios = rounds.map((r) => r.report / r.jsonl);
  result.medianRoundRatio = median(result.roundRatios); // report time ÷ jsonl time, > 1 = report slower
  result.ratioOfMedians = j && rep ? rep / j : null;
  result.withinTarget = result.medianRoundRatio != null ? result.medianRoundRatio <= TARGET_RATIO : null;
  return result;
}

/** Spawns one contender on one file; returns {ms, rssKb} or {error}. */
function runOnce(contender, file, out) {
  const r = timedRun(contender.argv(file, out), { timeoutMs: RUN_TIMEOUT_MS });
  return r.error ? r : { ms: r.ms, rssKb: r.rssKb };
}

/** The warm-up's JSON report: its key count against corpus.json's, and whether the CRC64 was verified. */
function checkReport(file, want) {
  try {
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    const keys = doc.totals?.keys ?? null;
    return {
      keys, checksum: doc.dump?.checksum ?? null,
      expectedKeys: want?.keys ?? null,
      ok: (want?.keys == null || keys === want.keys) && doc.dump?.checksum === 'verified',
    };
  } catch (err) {
    return { ok: false, problem: `report JSON unreadable: ${err.message}` };
  }
}

function printTable(results) {
  const header = ['file', 'MB', 'jsonl s', 'report s', 'ratio/round', 'ratio/med', 'jsonl MB/s', 'report MB/s'];
  if (haveGnuTime) header.push('jsonl RSS MB', 'report RSS MB', 'report RSS %file');
  const rows = [];
  const notes = [];
  for (const r of results) {
    const j = r.contenders.jsonl;
    const rep = r.contenders.report;
    for (const x of [j, rep]) if (x.error) notes.push(`${r.file} ${x.label} failed: ${x.error}`);
    const secs = (x) => (x.error ? 'ERROR' : fmt(x.medianMs / 1000, 3));
    const ratio = (v) => (v == null ? 'n/a' : `${fmt(v, 2)}x`);
    const row = [r.file, fmt(r.bytes / 1e6, 1), secs(j), secs(rep), ratio(r.medianRoundRatio), ratio(r.ratioOfMedians),
      fmt(j.mbPerSec, 1), fmt(rep.mbPerSec, 1)];
    if (haveGnuTime) {
      const mb = (kb) => (kb == null ? 'n/a' : fmt(kb / 1024, 1));
      row.push(mb(j.medianRssKb), mb(rep.medianRssKb),
        rep.medianRssPercentOfFile == null ? 'n/a' : `${fmt(rep.medianRssPercentOfFile, 1)} %`);
    }
    rows.push(row);
    const c = rep.check;
    if (c) {
      notes.push(c.problem ? `${r.file}: ${c.problem}` :
        `${r.file}: report counted ${c.keys} keys${c.expectedKeys == null ? '' : c.keys === c.expectedKeys ? ' (corpus.json: ok)' : ` (corpus.json says ${c.expectedKeys}: MISMATCH)`}, checksum ${c.checksum}`);
    }
    if (r.roundRatios.length) {
      notes.push(`${r.file}: report/jsonl per round ${r.roundRatios.map((x) => fmt(x, 2)).join(' ')}; ` +
        `target <= ${TARGET_RATIO}x: ${r.withinTarget ? 'met' : 'NOT met'}`);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i] ?? '').length)));
  const line = (cells) => cells.map((v, i) => (i === 0 ? String(v ?? '').padEnd(widths[i]) : String(v ?? '').padStart(widths[i]))).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log('\nratio/round: median of the per-round report/jsonl time ratios; ratio/med: report median / jsonl median' +
    (haveGnuTime ? '\nRSS: median peak RSS of the runs (MB = MiB here, GNU time %M); report RSS %file: of the file\'s bytes' : ''));
  if (notes.length) console.log(`\n${notes.join('\n')}`);
}

function writeJson(startedAt, results) {
  return writeResults('report', startedAt, {
    runs, corpus: corpusDir, targetRatio: TARGET_RATIO,
    environment: { node: process.version, redistap: cliVersion(), cpu: os.cpus()[0]?.model, cpus: os.cpus().length, os: `${os.type()} ${os.release()}`, gnuTime: haveGnuTime, git: gitState() },
    units: { time: 'ms (wall clock, spawn to exit)', throughput: 'MB/s, MB = 1e6 bytes', rss: 'KiB (GNU time %M)', ratio: 'report time / jsonl time (> 1: report slower)' },
    results,
  });
}

// ---------------------------------------------------------------- small helpers

function cliVersion() {
  const r = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
