// Small helpers shared by the benchmark scripts in bench/ (rdb-parse, replication-parse, replication-live, publish,
// web-report); live-servers.mjs has what the benches against running servers share.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** Prints `message` to stderr and exits with `code` (2: bad usage, the default). */
export function fail(message, code = 2) {
  console.error(message);
  process.exit(code);
}

/**
 * The command line parsed with node:util parseArgs (`options` plus -h/--help): prints `help` and exits on
 * --help; a bad option is a one-line usage error (exit 2) instead of a stack trace.
 */
export function parseOptions(options, help) {
  let values;
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h', default: false } } }));
  } catch (err) {
    fail(`${err.message} (--help lists the options)`);
  }
  if (values.help) {
    console.log(help);
    process.exit(0);
  }
  return values;
}

/**
 * The command line of the benches that read a corpus (--corpus DIR, --only NAMES, --runs N, -h): the
 * corpus directory, its files to read and the runs per file. `usage` is the command, for error messages.
 */
export function corpusCommandLine(help, { runs = 5, usage }) {
  const opts = parseOptions({
    corpus: { type: 'string', default: path.join(ROOT, 'bench', 'corpus') },
    only: { type: 'string' },
    runs: { type: 'string', default: String(runs) },
  }, help);
  const runsPerFile = positiveInt('--runs', opts.runs);
  const corpusDir = path.resolve(opts.corpus);
  return { corpusDir, files: corpusFiles(corpusDir, opts.only, usage), runs: runsPerFile };
}

/** `x` with exactly `digits` fraction digits and thousands separators; 'n/a' for null, undefined or NaN. */
export function fmt(x, digits) {
  if (x == null || Number.isNaN(x)) return 'n/a';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The median of `xs` (the mean of the middle two for an even count); null when empty. */
export function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Prints a table: `header`, a rule, then `rows`, two spaces between columns; the columns whose index is in
 * the Set `left` are left-aligned, the others right-aligned.
 */
export function printRows(header, rows, left) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => '  ' + cells.map((v, i) => (left.has(i) ? String(v).padEnd(widths[i]) : String(v).padStart(widths[i]))).join('  ').trimEnd();
  console.log(line(header));
  console.log('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The option value `v` as an integer >= 1, or fail() naming the option `name`. */
export function positiveInt(name, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fail(`${name} must be a positive integer, got ${v}`);
  return n;
}

/** The checkout's commit and whether src/ or assembly/ have uncommitted changes; null outside git. */
export function gitState() {
  const rev = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (rev.status !== 0) return null;
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src', 'assembly'], { cwd: ROOT, encoding: 'utf8' });
  return { commit: rev.stdout.trim(), dirty: dirty.stdout.trim() !== '' };
}

/**
 * The one-line environment summary a bench prints first: `before` items, the Node version, the CPU
 * model and count, then `after` items, joined by ' | '.
 */
export function environmentLine({ before = [], after = [] } = {}) {
  const node = [`node ${process.version}`, `${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}`];
  return [...before, ...node, ...after].join(' | ');
}

/**
 * The .rdb files of a corpus directory, sorted, or those named in `only` ("a,b", names without .rdb);
 * fails with how to create the corpus when there are none. `usage` is the command that takes --corpus.
 */
export function corpusFiles(dir, only, usage) {
  const all = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.rdb')).sort() : [];
  if (all.length === 0) {
    fail(`no .rdb files in ${dir}\n` +
      'Create the benchmark corpus with:  npm run bench:corpus   (writes bench/corpus, needs redis-server)\n' +
      `or point at an existing one with:   ${usage} --corpus DIR`, 1);
  }
  if (!only) return all.map((f) => path.join(dir, f));
  return only.split(',').map((name) => {
    const f = name.trim().replace(/\.rdb$/, '') + '.rdb';
    if (!all.includes(f)) fail(`${f} not in ${dir} (has: ${all.join(', ')})`);
    return path.join(dir, f);
  });
}

/** Key counts recorded by perf-corpus in the corpus's corpus.json (empty when it has none). */
export function expectedCounts(dir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'corpus.json'), 'utf8')).files ?? {};
  } catch {
    return {};
  }
}

/** Writes a bench's results as bench/results/<name>-<start time>.json and returns the path. */
export function writeResults(name, startedAt, doc) {
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, `${name}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(out, JSON.stringify({ startedAt: startedAt.toISOString(), ...doc }, null, 2) + '\n');
  return out;
}

const GNU_TIME = '/usr/bin/time';

/** Whether GNU time is installed (Debian package `time`): peak RSS is measured only then. */
export const haveGnuTime = fs.existsSync(GNU_TIME);

/**
 * Runs argv as a fresh process, timed by wall clock from spawn to exit, its peak RSS read by GNU time
 * when installed. Returns {ms, rssKb, stdout} or {error} (the failure and the last lines it printed).
 */
export function timedRun(argv, { stdout = 'pipe', timeoutMs = 20 * 60 * 1000 } = {}) {
  // GNU time writes the peak RSS to a file of its own, leaving the contender's stderr clean.
  const rssFile = haveGnuTime ? path.join(os.tmpdir(), `redistap-bench-rss-${process.pid}`) : null;
  if (rssFile) argv = [GNU_TIME, '-f', '%M', '-o', rssFile, ...argv];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', stdout, 'pipe'], maxBuffer: 64 << 20, timeout: timeoutMs });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let rssKb = null;
  if (rssFile) {
    // On failure GNU time prepends "Command exited with non-zero status N"; the RSS is the last line.
    const lines = fs.existsSync(rssFile) ? fs.readFileSync(rssFile, 'utf8').trim().split('\n') : [];
    rssKb = Number(lines.at(-1)) || null;
    fs.rmSync(rssFile, { force: true });
  }
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
    const said = [r.stdout, r.stderr].map((b) => b?.toString().trim() ?? '').filter(Boolean).join('\n');
    return { error: said ? `${why}:\n${said.split('\n').slice(-8).join('\n')}` : why };
  }
  return { ms, rssKb, stdout: r.stdout };
}
