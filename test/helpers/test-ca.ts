// A certificate authority for TLS tests, made with the openssl CLI in a temporary directory: its
// certificate (ca.crt), and keys with certificates it signs.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The openssl CLI makes the test CA; in CI a missing one is a failure, never a skip. */
export function haveOpenssl(): boolean {
  const found = spawnSync('openssl', ['version']).status === 0;
  if (!found && process.env.CI) throw new Error('CI is set but openssl is not installed (.ci/run installs it)');
  return found;
}

export class TestCa {
  readonly dir = mkdtempSync(join(tmpdir(), 'redistap-tls-'));

  constructor() {
    this.run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=redistap test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  }

  /** Writes <name>.key and <name>.crt, signed by the CA; `ext` lines go into the certificate's extensions. */
  issue(name: string, subject: string, ext: string[]): void {
    writeFileSync(join(this.dir, `${name}.ext`), ext.join('\n') + '\n');
    this.run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`,
      '-out', `${name}.csr`, '-subj', subject]);
    this.run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(Date.now()),
      '-days', '1', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  file(name: string): Buffer {
    return readFileSync(this.path(name));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private run(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }
}
