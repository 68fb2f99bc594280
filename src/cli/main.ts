#!/usr/bin/env node
// The `redistap` command: one subcommand per job; each lives in its own file and only wires options to
// the library.
import { Command } from 'commander';
import { RdbError } from '../core/errors.js';
import { CliError } from './cli-error.js';
import { parseCommand } from './parse-command.js';
import { summaryCommand } from './summary-command.js';

const program = new Command('redistap')
  .description('Read Redis and Valkey RDB files (dump.rdb) with a WebAssembly parser.')
  .version('0.1.0')
  .showHelpAfterError()
  .addCommand(summaryCommand())
  .addCommand(parseCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof RdbError || err instanceof CliError) {
    process.stderr.write(`redistap: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    throw err;
  }
}
