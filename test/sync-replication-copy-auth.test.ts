// Who gets the snapshot of `sync --copy replication`: only the target, which authenticates to the sync's
// snapshot server with a secret made for the copy and given to it as its masteruser/masterauth. Against
// real servers: connections without the secret are refused and receive nothing of the snapshot while a
// real target still loads it; the target's masteruser/masterauth are its own again after a copy, after a
// stopped one, and (cleared, with a warning) after a sync killed during the copy. A target reached over
// TLS loads the snapshot over TLS (tls-replication yes for the copy), or the copy is refused.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_USER, SnapshotServer } from '../src/sync/snapshot-server.js';
import { populateMixed } from './helpers/mixed-data.js';
import { freePort, haveRedisServer, type RedisClient } from './helpers/redis-server.js';
import { caughtUp, client, later, server, startSync, stopAll, syncedKeyspace, url, waitFor, withoutEntriesRead } from './helpers/sync-harness.js';
import { haveOpenssl, TestCa } from './helpers/test-ca.js';

const live = haveRedisServer();
const MAIN = new URL('../dist/cli/main.js', import.meta.url).pathname;
const SOURCE = ['--repl-diskless-sync-delay', '0'];

afterEach(stopAll);

/** Sends `commands` (RESP) to the snapshot port; resolves with all it received once the server closed the connection. */
function intrude(port: number, commands: string[][]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => { received += d.toString('latin1'); });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.write(commands.map((args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join(''));
  });
}

async function setting(target: RedisClient, name: string): Promise<string> {
  return String((await target.ok('CONFIG', 'GET', name) as Buffer[])[1]);
}

async function credentials(target: RedisClient): Promise<{ user: string; auth: string }> {
  return { user: await setting(target, 'masteruser'), auth: await setting(target, 'masterauth') };
}

async function role(target: RedisClient): Promise<string> {
  return String(await target.info('replication', 'role'));
}

describe.skipIf(!live)('sync --copy replication: only the target gets the snapshot', () => {
  it('connections without the secret, first to the snapshot port, are refused and get nothing; the target still loads the snapshot', async () => {
    const [src, dst] = await Promise.all([server(), server()]);
    const source = await client(src);
    const target = await client(dst);
    await populateMixed(source, 21, 1);
    await source.ok('SAVE');
    const snapshot = readFileSync(join(src.dir, 'dump.rdb'));
    const listening = await SnapshotServer.listen('127.0.0.1', '127.0.0.1');
    later({ stop: () => listening.close() });
    const port = listening.port;
    // A replica's handshake with a wrong password, with the right password for another user, and without AUTH.
    const handshake = [['REPLCONF', 'capa', 'eof'], ['PSYNC', '?', '-1']];
    expect(await intrude(port, [['PING'], ['AUTH', SNAPSHOT_USER, 'guess'], ...handshake]))
      .toBe('+PONG\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    expect(await intrude(port, [['AUTH', 'default', listening.secret], ...handshake]))
      .toBe('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    expect(await intrude(port, handshake)).toBe('-NOAUTH Authentication required.\r\n');
    // The target, given the secret, is served.
    await target.ok('CONFIG', 'SET', 'masteruser', SNAPSHOT_USER);
    await target.ok('CONFIG', 'SET', 'masterauth', listening.secret);
    await target.ok('REPLICAOF', '127.0.0.1', String(port));
    await listening.attached(10_000);
    await listening.write(snapshot);
    listening.end();
    await waitFor('the target to load the snapshot', async () =>
      (await target.info('replication', 'master_link_status')) === 'up' && (await target.info('replication', 'master_sync_in_progress')) === '0');
    await target.ok('REPLICAOF', 'NO', 'ONE');
    expect(syncedKeyspace(dst.port)).toEqual(syncedKeyspace(src.port));
    expect(syncedKeyspace(dst.port).length).toBeGreaterThan(100);
    // Once the target has its link, nobody else can even connect.
    await expect(intrude(port, handshake)).rejects.toThrow(/ECONNREFUSED/);
  }, 60_000);

  it('the target is given a secret for the copy; its masteruser/masterauth are its own again after the copy, and after a stopped copy', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const target = await client(dst);
    await target.ok('CONFIG', 'SET', 'masteruser', 'its-user');
    await target.ok('CONFIG', 'SET', 'masterauth', 'its-password');
    await populateMixed(source, 22, 2);
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 200); // a snapshot that lasts
    const first = startSync(src, dst, { copy: 'replication' }).sync;
    await waitFor('the target to load from us', async () => first.status.copy.rdbBytes > 0 && (await role(target)) === 'slave');
    const during = await credentials(target);
    expect(during.user).toBe(SNAPSHOT_USER);
    expect(during.auth).toMatch(/^redistap-copy-[0-9a-f]{48}$/);
    first.stop();
    await first.done;
    expect(await role(target)).toBe('master');
    expect(await credentials(target)).toEqual({ user: 'its-user', auth: 'its-password' });
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 0);
    const { sync: again, events } = startSync(src, dst, { copy: 'replication' });
    await waitFor('streaming', () => again.status.phase === 'streaming' || again.status.phase === 'failed', 60_000);
    expect(events.filter((e) => e.type === 'phase' && e.phase === 'failed')).toEqual([]);
    await caughtUp(source, [target]);
    expect(withoutEntriesRead(syncedKeyspace(dst.port))).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
    expect(await credentials(target)).toEqual({ user: 'its-user', auth: 'its-password' });
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  }, 120_000);

  it('a sync killed during the copy leaves its secret; the next start clears it, says so, and copies', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const target = await client(dst);
    await target.ok('CONFIG', 'SET', 'masterauth', 'its-password');
    await populateMixed(source, 23, 2);
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 2000); // a snapshot that lasts (2 ms a key)
    const child = spawn(process.execPath, [MAIN, 'sync', url(src), url(dst), '--copy', 'replication', '--json'], { stdio: 'ignore' });
    later({ stop: () => { if (child.exitCode === null) child.kill('SIGKILL'); } });
    await waitFor('the target to load from the sync', async () => (await role(target)) === 'slave'
      && (await target.info('replication', 'master_sync_in_progress')) === '1', 60_000);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    await waitFor('the target to see its link end', async () => (await target.info('replication', 'master_sync_in_progress')) === '0');
    expect((await credentials(target)).auth).toMatch(/^redistap-copy-/);
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 0);
    const { sync: next, events } = startSync(src, dst, { copy: 'replication' });
    await waitFor('streaming', () => next.status.phase === 'streaming' || next.status.phase === 'failed', 60_000);
    expect(next.status.phase).toBe('streaming');
    expect(events.filter((e) => e.type === 'warning').map((e) => e.type === 'warning' && e.message)).toEqual([
      'the target was still a replica of an interrupted --copy replication: made it a master again, and cleared the masteruser/masterauth ' +
      'it was given for that copy (what it had before was lost with the interrupted process: set them again if it needs them); copying again',
    ]);
    expect(await credentials(target)).toEqual({ user: '', auth: '' });
    await caughtUp(source, [target]);
    expect(withoutEntriesRead(syncedKeyspace(dst.port))).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
    expect(await role(target)).toBe('master');
  }, 120_000);
});

describe.skipIf(!live || !haveOpenssl())('sync --copy replication into a target reached over TLS', () => {
  let ca: TestCa;
  beforeAll(() => {
    ca = new TestCa();
    ca.issue('server', '/CN=localhost', ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth']);
    // The sync's certificate: shown to the target as a client, and served to it on the snapshot link.
    ca.issue('redistap', '/CN=redistap', ['extendedKeyUsage=serverAuth,clientAuth']);
  });
  afterAll(() => ca?.remove());

  /** A target with a TLS port (a client certificate, if any, from the CA); the test's clients use its plain port. */
  async function tlsTarget(): Promise<{ port: number; tlsUrl: string }> {
    const tlsPort = await freePort();
    const target = await server(['--tls-port', String(tlsPort), '--tls-cert-file', ca.path('server.crt'), '--tls-key-file', ca.path('server.key'),
      '--tls-ca-cert-file', ca.path('ca.crt'), '--tls-auth-clients', 'optional']);
    return { port: target.port, tlsUrl: `rediss://127.0.0.1:${tlsPort}` };
  }

  it('the target loads the snapshot over TLS (tls-replication yes for the copy, then as it was)', async () => {
    const src = await server(SOURCE);
    const source = await client(src);
    const dst = await tlsTarget();
    const target = await client(dst);
    await populateMixed(source, 24, 2);
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 100); // a snapshot that lasts
    const { sync: s, events } = startSync(src, dst, { target: dst.tlsUrl, copy: 'replication',
      targetTls: { ca: ca.file('ca.crt'), cert: ca.file('redistap.crt'), key: ca.file('redistap.key') } });
    await waitFor('the target to load from us', async () => s.status.copy.rdbBytes > 0 && (await role(target)) === 'slave');
    expect(await setting(target, 'tls-replication')).toBe('yes');
    await source.ok('CONFIG', 'SET', 'rdb-key-save-delay', 0);
    await waitFor('streaming', () => s.status.phase === 'streaming' || s.status.phase === 'failed', 60_000);
    expect(events.filter((e) => e.type === 'phase' && e.phase === 'failed')).toEqual([]);
    await caughtUp(source, [target]);
    expect(withoutEntriesRead(syncedKeyspace(dst.port))).toEqual(withoutEntriesRead(syncedKeyspace(src.port)));
    expect(await setting(target, 'tls-replication')).toBe('no');
    expect(await role(target)).toBe('master');
  }, 120_000);

  it('without a certificate to serve the link with, the copy is refused before the target is touched', async () => {
    const src = await server(SOURCE);
    const dst = await tlsTarget();
    const target = await client(dst);
    await (await client(src)).ok('SET', 'k', 'v');
    await target.ok('CONFIG', 'SET', 'masterauth', 'its-password');
    const { sync: s } = startSync(src, dst, { target: dst.tlsUrl, copy: 'replication', targetTls: { ca: ca.file('ca.crt') } });
    await expect(s.done).rejects.toThrow(/^the target is reached over TLS \(rediss:\/\/\), so its link to redistap for --copy replication is TLS too: .*--target-tls-cert and --target-tls-key/);
    expect(await credentials(target)).toEqual({ user: '', auth: 'its-password' });
    expect(await role(target)).toBe('master');
  }, 60_000);
});
