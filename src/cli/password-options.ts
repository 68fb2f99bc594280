// Passwords kept off the command line, where `ps` shows them to every user of the machine: read from a
// file (--password-file) or taken from the environment, then put into the URL redistap connects with.
import { isSentinelUrl, parseSentinelUrl } from '../replica/sentinel.js';
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { parseRedisUrl } from '../replica/redis-url.js';
import { CliError } from './cli-error.js';

function fileOption(prefix: string): Option {
  return new Option(`--${prefix}password-file <file>`);
}

/** Adds --<prefix>password-file to `cmd`; `whose` names the server in the help, `env` the variable read without it. */
export function addPasswordOption(cmd: Command, prefix: string, whose: string, env: string): Command {
  const option = fileOption(prefix);
  option.description = `read ${whose} password from this file (without a final newline); without it and without a ` +
    `password in the URL, from the environment variable ${env}`;
  return cmd.addOption(option);
}

function readPassword(file: string, option: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`${option}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new CliError(`${option}: ${file} is empty`);
  return password;
}

/**
 * `url` with the password from --<prefix>password-file (among commander's `opts`), or else from the
 * environment variable `env`, when the URL carries none; a file and a password in the URL are an error.
 * A user name in the URL is kept (redis://user@host with REDISCLI_AUTH=... authenticates as user). `check`
 * validates the URL first (default: a redis:// or rediss:// one).
 */
export function urlWithPassword(opts: object, prefix: string, url: string, env: string, check: (url: string) => unknown = parseRedisUrl): string {
  const option = fileOption(prefix);
  const file = (opts as Record<string, string | undefined>)[option.attributeName()];
  // A Sentinel URL's host list (a,b:26380) is no URL host: it stands aside while the password is set.
  const sentinels = isSentinelUrl(url) ? /^[^:]+:\/\/(?:[^@/]*@)?([^/]+)/.exec(url)?.[1] : undefined;
  try {
    if (isSentinelUrl(url)) parseSentinelUrl(url);
    else check(url);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const u = new URL(sentinels ? url.replace(sentinels, SENTINELS) : url);
  if (file !== undefined && u.password !== '') throw new CliError(`${option.long}: the URL has a password too: leave it out of the URL`);
  const password = file !== undefined ? readPassword(file, option.long!) : u.password === '' ? process.env[env] : undefined;
  if (!password) return url;
  u.password = encodeURIComponent(password);
  return sentinels ? u.href.replace(SENTINELS, sentinels) : u.href;
}

const SENTINELS = 'sentinels.invalid';
