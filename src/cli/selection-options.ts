// The key-selection options every command shares (--db, --type, --key), parsed into a KeySelection.
import { Option, type Command } from 'commander';
import type { KeySelection } from '../rdb/key-filter.js';
import type { RdbValueType } from '../rdb/entry.js';
import { CliError } from './cli-error.js';

const TYPES: RdbValueType[] = ['string', 'list', 'set', 'zset', 'hash', 'stream', 'module'];

function list(value: string, previous: string[] = []): string[] {
  return previous.concat(value.split(',').map((s) => s.trim()).filter(Boolean));
}

export function addSelectionOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--db <n>', 'only keys of these databases (repeatable, or comma-separated)').argParser(list))
    .addOption(new Option('--type <type>', `only keys of these types: ${TYPES.join(', ')} (repeatable, or comma-separated)`).argParser(list))
    .option('--key <regex>', 'only keys matching this regular expression (keys are matched as UTF-8 text)');
}

export function selectionFrom(opts: { db?: string[]; type?: string[]; key?: string }): KeySelection {
  const dbs = opts.db?.map((d) => {
    const n = Number(d);
    if (!Number.isInteger(n) || n < 0) throw new CliError(`--db expects database numbers, got "${d}"`);
    return n;
  });
  const types = opts.type?.map((t) => {
    if (!TYPES.includes(t as RdbValueType)) throw new CliError(`--type expects one of ${TYPES.join(', ')}, got "${t}"`);
    return t as RdbValueType;
  });
  let keyPattern: RegExp | undefined;
  if (opts.key !== undefined) {
    try {
      keyPattern = new RegExp(opts.key);
    } catch (err) {
      throw new CliError(`--key: invalid regular expression: ${(err as Error).message}`);
    }
  }
  return { dbs, types, keyPattern };
}
