// The key-selection options the dump commands share (--db, --type, --key, --prefix, --expired /
// --no-expired, and --min-size where memory is estimated), parsed into a KeySelection.
import { Option, type Command } from 'commander';
import type { KeySelection } from '../rdb/key-filter.js';
import type { RdbValueType } from '../rdb/entry.js';
import { CliError } from './cli-error.js';

const TYPES: RdbValueType[] = ['string', 'list', 'set', 'zset', 'hash', 'stream', 'module'];
const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** commander argParser: values repeated or comma-separated, collected in order. */
export function list(value: string, previous: string[] = []): string[] {
  return previous.concat(value.split(',').map((s) => s.trim()).filter(Boolean));
}

/** commander argParser: a repeatable option's values, in order. */
export function repeated(value: string, previous: string[] = []): string[] {
  return previous.concat(value);
}

/** "512", "4k", "1.5M", "2GiB" → bytes (binary units). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new CliError(`--min-size expects a size such as 4096, 64k or 1.5M, got "${text}"`);
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

/** Adds the options; `memory`: the command estimates memory, so --min-size applies. */
export function addSelectionOptions(cmd: Command, { memory }: { memory: boolean }): Command {
  cmd
    .addOption(new Option('--db <n>', 'only keys of these databases (repeatable, or comma-separated)').argParser(list))
    .addOption(new Option('--type <type>', `only keys of these types: ${TYPES.join(', ')} (repeatable, or comma-separated)`).argParser(list))
    .option('--key <regex>', 'only keys matching this regular expression (keys are matched as UTF-8 text)')
    .addOption(new Option('--prefix <prefix>', 'only keys beginning with this text (repeatable)').argParser(repeated))
    .option('--expired', 'only keys whose expire time had passed when the dump was saved')
    .option('--no-expired', 'leave out keys whose expire time had passed when the dump was saved');
  if (memory) cmd.option('--min-size <bytes>', 'only keys whose estimated memory is at least this (e.g. 4096, 64k, 1M)');
  return cmd;
}

/** A database number given to `option`; a CliError naming the option otherwise. */
/** The number an option gives: above 0 (or 0 itself with `zero`, where 0 means something); `unit` for the message. */
export function positiveNumber(text: string, option: string, { unit, zero = false }: { unit?: string; zero?: boolean } = {}): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zero)) {
    throw new CliError(`${option} expects a ${zero ? 'non-negative' : 'positive'} number${unit ? ` of ${unit}` : ''}, got "${text}"`);
  }
  return n;
}

export function dbNumber(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || text.trim() === '') throw new CliError(`${option} expects database numbers, got "${text}"`);
  return n;
}

/** --key's regular expression, or undefined without --key; a CliError when it does not compile. */
export function keyPatternOf(text: string | undefined): RegExp | undefined {
  if (text === undefined) return undefined;
  try {
    return new RegExp(text);
  } catch (err) {
    throw new CliError(`--key: invalid regular expression: ${(err as Error).message}`);
  }
}

export interface SelectionFlags {
  db?: string[];
  type?: string[];
  key?: string;
  prefix?: string[];
  expired?: boolean;
  minSize?: string;
}

export function selectionFrom(opts: SelectionFlags): KeySelection {
  const dbs = opts.db?.map((d) => dbNumber(d, '--db'));
  const types = opts.type?.map((t) => {
    if (!TYPES.includes(t as RdbValueType)) throw new CliError(`--type expects one of ${TYPES.join(', ')}, got "${t}"`);
    return t as RdbValueType;
  });
  const keyPattern = keyPatternOf(opts.key);
  const minMemory = opts.minSize === undefined ? undefined : parseSize(opts.minSize);
  return { dbs, types, keyPattern, prefixes: opts.prefix, expired: opts.expired, minMemory };
}
