// When a command that keeps a link gives up: a first connection that fails ends it at once (a URL that
// can never work must not look hung) unless --wait; a link lost later is retried until --max-retry-time
// has passed without one. tail and sync share the flags and their meaning.
import type { Command } from 'commander';
import { positiveNumber } from './selection-options.js';

export interface RetryFlags {
  wait?: boolean;
  maxRetryTime: string;
}

export interface RetryRule {
  /** Retry a first connection that fails, instead of ending. */
  wait: boolean;
  /** Give up after this long without a working link (Infinity: never). */
  maxRetryTimeMs: number;
}

/** Adds --wait and --max-retry-time; `link` names what is retried in the help ("the link", "both links"). */
export function addRetryOptions(cmd: Command, link: string): Command {
  return cmd
    .option('--wait', 'if the first connection fails, retry it (by default the command ends: exit 2)')
    .option('--max-retry-time <seconds>', `give up (exit 2) when reconnecting has not brought ${link} back for this long; 0: never`, '300');
}

export function retryRuleFrom(opts: RetryFlags): RetryRule {
  const seconds = positiveNumber(opts.maxRetryTime, '--max-retry-time', { unit: 'seconds', zero: true });
  return { wait: opts.wait === true, maxRetryTimeMs: seconds * 1000 || Infinity };
}
