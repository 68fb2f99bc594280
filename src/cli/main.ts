#!/usr/bin/env node
// The `redistap` command: one subcommand per job; each lives in its own file and only wires options to
// the library.
import { Command, CommanderError } from 'commander';
import { RdbError } from '../core/errors.js';
import { CliError } from './cli-error.js';
import { parseCommand } from './parse-command.js';
import { publishCommand } from './publish-command.js';
import { reportCommand } from './report-command.js';
import { summaryCommand } from './summary-command.js';
import { syncCommand } from './sync-command.js';
import { tailCommand } from './tail-command.js';

const program = new Command('redistap')
  .description('Read Redis and Valkey RDB files (dump.rdb) with a WebAssembly parser, follow a live server as its replica, sync it into another, and publish its writes to a broker.')
  .version('0.1.0')
  .showHelpAfterError()
  .addCommand(summaryCommand())
  .addCommand(reportCommand())
  .addCommand(parseCommand())
  .addCommand(tailCommand())
  .addCommand(syncCommand())
  .addCommand(publishCommand())
  .addHelpText('after', `
Reads every RDB version from Redis 2.0 to 8.6 (RDB 1-13) and Valkey 9 (VALKEY080/081), verifying the
CRC64 checksum. Errors name the byte offset where the file went wrong.

Examples:
  redistap summary dump.rdb
  redistap report dump.rdb --top 50
  redistap parse dump.rdb --format jsonl > keys.jsonl
  redistap parse dump.rdb --type hash --key '^user:' | head
  redistap tail redis://127.0.0.1:6379 --checkpoint tail.pos
  redistap sync redis://10.0.0.5:6379 redis://10.0.0.9:6379
  redistap publish redis://10.0.0.5:6379 amqp://guest@rabbit:5672 --checkpoint publish.pos`);

// A usage error (unknown option, bad choice, missing argument) exits 2 like every other refusal; commander
// itself would exit 1. Help and --version still exit 0. Commander has printed its message already.
for (const command of [program, ...program.commands]) command.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof RdbError || err instanceof CliError) {
    process.stderr.write(`redistap: ${err.message}\n`);
    process.exitCode = 2;
  } else if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    throw err;
  }
}
