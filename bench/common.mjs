// Small helpers shared by the benchmark scripts in bench/ (rdb-parse, replication-parse, replication-live).
import os from 'node:os';
import path from 'node:path';
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
