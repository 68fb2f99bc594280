// RDB parsing throughput: redistap vs redis-check-rdb, side by side on the files of a corpus directory.
//
//   node bench/rdb-parse.mjs [--corpus DIR] [--only mixed,small-keys] [--runs N]
//
// Every measurement is a fresh process timed by wall clock from spawn to exit, so the peer's C startup
// and our Node startup + WebAssembly compilation are both included. See bench/README.md.
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
const PEER = '/usr/bin/redis-check-rdb';
const CLI = path.join(ROOT, 'dist/cli/main.js');
const RUN_TIMEOUT_MS = 10 * 60 * 1000;

const HELP = `RDB parsing throughput: redistap vs Debian's redis-check-rdb on the files of a corpus directory.

Usage: node bench/rdb-parse.mjs [options]     (npm run bench -- [options])

  --corpus DIR    the .rdb files to read (default bench/corpus; write it with npm run bench:corpus,
                  i.e. ../shared/tools/perf-corpus)
  --only NAMES    comma-separated file names without .rdb (e.g. mixed,small-keys)
  --runs N        timed runs per contender and file, median reported (default 5)
  -h, --help      this text

Contenders: redis-check-rdb; (a) redistap's raw event parsing; (b) redistap parse --format jsonl
> /dev/null. Every run is a fresh process timed from spawn to exit, the contenders interleaved; (a) also
reports its own in-process time. Uses the built CLI in dist/ (npm run build first). See bench/README.md.`;

const { corpusDir, files, runs } = corpusCommandLine(HELP, { runs: 5, usage: 'npm run bench --' });
const expected = expectedCounts(corpusDir);
const devNull = fs.openSync('/dev/null', 'w');

// The contenders, in the order they run within each repetition. `stdout` is where the process writes:
// the peer's report and the CLI's JSONL are discarded; (a) prints its counts, which we check.
const contenders = [
  {
    // Its report is small and is the only place that says why a file failed the check: captured in the
    // untimed warm-up, discarded in timed runs.
    id: 'peer', label: 'redis-check-rdb', stdout: devNull, warmupStdout: 'pipe',
    argv: (file) => [PEER, file],
    na: fs.existsSync(PEER) ? null : `${PEER} not found (apt-get install redis-tools)`,
  },
  {
    id: 'a', label: '(a) events, kinds only', stdout: 'pipe', parse: JSON.parse,
    argv: (file) => [process.execPath, path.join(BENCH_DIR, 'rdb-events-child.mjs'), file],
    na: fs.existsSync(path.join(ROOT, 'dist/node.js')) ? null : 'dist/node.js missing (npm run build)',
  },
  {
    id: 'b', label: '(b) cli parse --format jsonl', stdout: devNull,
    argv: (file) => [process.execPath, CLI, 'parse', file, '--format', 'jsonl'],
    na: fs.existsSync(CLI) ? null : 'dist/cli/main.js does not exist yet',
  },
];

main();

function main() {
  const startedAt = new Date();
  console.log(environmentLine({
    before: [peerVersion() ?? 'redis-check-rdb ?'],
    after: haveGnuTime ? [] : ['no /usr/bin/time: peak RSS not measured'],
  }));
  console.log(`corpus ${corpusDir}: ${files.map((f) => path.basename(f)).join(', ')}; ${runs} runs each, median\n`);
  const results = files.map(benchFile);
  printTable(results);
  const out = writeJson(startedAt, results);
  console.log(`\nresult: ${path.relative(process.cwd(), out)}`);
  const failed = results.some((r) => Object.values(r.contenders).some((c) => c.error));
  process.exitCode = failed ? 1 : 0;
}

/** Warm-up (page cache, untimed), then `runs` repetitions of every contender, interleaved so that
 *  machine noise (other jobs, thermal, cache eviction) hits all contenders alike. */
function benchFile(file) {
  const bytes = fs.statSync(file).size;
  const name = path.basename(file);
  const state = Object.fromEntries(contenders.map((c) => [c.id, { times: [], inProcess: [], rssKb: [], error: null }]));
  process.stderr.write(`${name}: warm-up`);
  for (const c of contenders) {
    if (c.na) continue;
    const r = runOnce(c, file, c.warmupStdout ?? c.stdout);
    state[c.id].error = r.error ?? null; // a contender that fails its warm-up is not timed
    if (r.output) state[c.id].output = r.output;
  }
  for (let rep = 1; rep <= runs; rep++) {
    process.stderr.write(` ${rep}`);
    for (const c of contenders) {
      const s = state[c.id];
      if (c.na || s.error) continue;
      const r = runOnce(c, file);
      if (r.error) { s.error = r.error; continue; }
      s.times.push(r.ms);
      if (r.rssKb != null) s.rssKb.push(r.rssKb);
      if (r.output) {
        s.output = r.output;
        if (r.output.parseMs != null) s.inProcess.push(r.output.parseMs);
      }
    }
  }
  process.stderr.write('\n');

  const peerMedian = median(state.peer.times);
  const result = { file: name, bytes, expected: expected[name] ?? null, contenders: {} };
  for (const c of contenders) {
    const s = state[c.id];
    const ms = s.error || c.na ? null : median(s.times);
    result.contenders[c.id] = {
      label: c.label,
      command: c.argv(file).join(' '),
      na: c.na,
      error: s.error,
      timesMs: s.times,
      medianMs: ms,
      mbPerSec: ms ? bytes / 1e6 / (ms / 1000) : null,
      // ours MB/s ÷ theirs MB/s = their time ÷ our time
      ratioToPeer: ms && peerMedian ? peerMedian / ms : null,
      peakRssKb: s.rssKb.length ? Math.max(...s.rssKb) : null,
      output: s.output ?? null,
      // (a) also reports its own time from module compilation to the last event, without Node's startup
      inProcessMedianMs: s.inProcess.length ? median(s.inProcess) : null,
      inProcessRatioToPeer: s.inProcess.length && peerMedian ? peerMedian / median(s.inProcess) : null,
    };
  }
  return result;
}

/** Spawns one contender on one file; returns {ms, rssKb, output} or {error}. */
function runOnce(contender, file, stdout = contender.stdout) {
  const r = timedRun(contender.argv(file), { stdout, timeoutMs: RUN_TIMEOUT_MS });
  if (r.error) return r;
  const output = contender.parse && stdout === 'pipe' ? contender.parse(r.stdout.toString()) : null;
  return { ms: r.ms, rssKb: r.rssKb, output };
}

function printTable(results) {
  const header = ['file', 'MB', 'contender', 'median s', 'MB/s', 'vs check-rdb'];
  if (haveGnuTime) header.push('peak RSS MB');
  const rows = [];
  const notes = new Set(); // a Set: "n/a" would otherwise repeat for every file
  for (const r of results) {
    contenders.forEach((c, i) => {
      const x = r.contenders[c.id];
      const first = i === 0 ? [r.file, fmt(r.bytes / 1e6, 1)] : ['', ''];
      if (x.na || x.error) {
        rows.push([...first, c.label, x.na ? 'n/a' : 'ERROR', '', '']);
        notes.add(x.na ? `${c.label}: n/a, ${x.na}` : `${r.file} ${c.label} failed: ${x.error}`);
        return;
      }
      const row = [...first, c.label, fmt(x.medianMs / 1000, 3), fmt(x.mbPerSec, 1),
        x.ratioToPeer ? `${fmt(x.ratioToPeer, 2)}x` : ''];
      if (haveGnuTime) row.push(x.peakRssKb ? fmt(x.peakRssKb / 1024, 1) : '');
      rows.push(row);
      if (x.inProcessMedianMs) {
        const ms = x.inProcessMedianMs;
        rows.push(['', '', '    same, in-process (no Node start)', fmt(ms / 1000, 3), fmt(r.bytes / 1e6 / (ms / 1000), 1),
          `${fmt(x.inProcessRatioToPeer, 2)}x`, ...(haveGnuTime ? [''] : [])]);
      }
    });
    const a = r.contenders.a.output;
    if (a) {
      const want = r.expected?.keys;
      const check = want == null ? '' : a.keys === want ? ` (corpus.json: ${want} keys, ok)` : ` (corpus.json says ${want} keys: MISMATCH)`;
      notes.add(`${r.file} (a): ${a.keys} keys, ${a.events} events, in-process parse ${fmt(a.parseMs / 1000, 3)} s${check}`);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i] ?? '').length)));
  const leftAligned = new Set([0, 2]);
  const line = (cells) => cells.map((v, i) => (leftAligned.has(i) ? String(v ?? '').padEnd(widths[i]) : String(v ?? '').padStart(widths[i]))).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((row, i) => {
    if (i > 0 && row[0] !== '') console.log('');
    console.log(line(row));
  });
  if (notes.size) console.log(`\n${[...notes].join('\n')}`);
}

function writeJson(startedAt, results) {
  return writeResults('rdb-parse', startedAt, {
    runs, corpus: corpusDir,
    environment: { node: process.version, peer: peerVersion(), cpu: os.cpus()[0]?.model, cpus: os.cpus().length, os: `${os.type()} ${os.release()}`, git: gitState() },
    units: { time: 'ms (wall clock, spawn to exit)', throughput: 'MB/s, MB = 1e6 bytes', rss: 'KiB (GNU time %M)' },
    results,
  });
}

// ---------------------------------------------------------------- small helpers

function peerVersion() {
  const r = spawnSync(PEER, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
