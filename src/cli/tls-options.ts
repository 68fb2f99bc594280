// TLS files for a rediss:// connection given on the command line: the CA that signed the server's
// certificate (a private CA), and a client certificate with its key (servers with tls-auth-clients).
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Option, type Command } from 'commander';
import { CliError } from './cli-error.js';

/** Adds --<prefix>tls-ca/-cert/-key to `cmd`; `whose` names the server in the help ("the server's", "the source's"). */
export function addTlsOptions(cmd: Command, prefix: string, whose: string): Command {
  return cmd
    .addOption(new Option(`--${prefix}tls-ca <file>`, `PEM file of the CA that signed ${whose} TLS certificate (default: the system's CAs)`))
    .addOption(new Option(`--${prefix}tls-cert <file>`, `PEM client certificate to show ${whose.replace(/'s?$/, '')} (with --${prefix}tls-key)`))
    .addOption(new Option(`--${prefix}tls-key <file>`, `PEM private key of --${prefix}tls-cert`));
}

function readPem(file: string, option: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError(`${option}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The connection options the --<prefix>tls-* flags among commander's `opts` ask for, for `url`; undefined
 * when none is given. Flags with a URL whose scheme is not one of `tlsSchemes` (redis://), or a certificate
 * without its key (or the reverse), are errors.
 */
export function tlsOptionsFrom(opts: object, prefix: string, url: string, tlsSchemes: readonly string[] = ['rediss']): ConnectionOptions | undefined {
  const option = (k: string) => `--${prefix}tls-${k}`;
  // commander's name for --source-tls-ca is sourceTlsCa
  const value = (k: string) => (opts as Record<string, string | undefined>)[option(k).slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
  const flags = { ca: value('ca'), cert: value('cert'), key: value('key') };
  const given = (['ca', 'cert', 'key'] as const).filter((k) => flags[k] !== undefined);
  if (given.length === 0) return undefined;
  const scheme = url.split('://')[0]!.toLowerCase();
  // rediss+sentinel:// speaks TLS as rediss:// does.
  if (!tlsSchemes.includes(scheme.replace(/\+sentinel$/, ''))) {
    throw new CliError(`${option(given[0]!)} is for TLS: use a ${tlsSchemes.map((s) => `${s}://`).join(' or ')} URL (got ${scheme}://)`);
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new CliError(`${option('cert')} and ${option('key')} go together: a client certificate and its private key`);
  }
  return {
    ...(flags.ca !== undefined ? { ca: readPem(flags.ca, option('ca')) } : {}),
    ...(flags.cert !== undefined ? { cert: readPem(flags.cert, option('cert')), key: readPem(flags.key!, option('key')) } : {}),
  };
}
