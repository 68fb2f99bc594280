// The Replica against masters that want credentials: a password (requirepass), an ACL user allowed only
// the replication commands, and TLS with a test CA (generated here with the openssl CLI) and a client
// certificate. Each syncs (entries equal to the master's keyspace as the shared canonical dumper reads it)
// and streams a write; each refusal (wrong password, missing permission, certificate) ends the replica
// with a non-retryable ReplicaError after one attempt instead of a reconnect loop.
import type { ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplicaEvent } from '../src/replica/events.js';
import { ReplicaError } from '../src/replica/link.js';
import { Replica } from '../src/replica/replica.js';
import { sync } from '../src/sync/sync.js';
import { cli } from './helpers/cli-process.js';
import { freePort, haveRedisServer, RedisClient, sharedTool, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { collect, entryLines, keyspace } from './helpers/replica-events.js';
import { haveOpenssl, TestCa } from './helpers/test-ca.js';

const live = haveRedisServer();

const openssl = live && haveOpenssl();

/** Events until the iterator ends or throws, `until` says stop, 3 link-downs (a reconnect loop) or `ms` pass. */
async function drain(replica: Replica, until: (e: ReplicaEvent) => boolean = () => false, ms = 5000) {
  const it = replica[Symbol.asyncIterator]();
  const events: ReplicaEvent[] = [];
  let error: unknown = null;
  try {
    await collect(it, (e) => {
      events.push(e);
      return until(e) || events.filter((d) => d.type === 'link-down').length >= 3;
    }, ms);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('timed out')) throw err;
    error = err;
  }
  return { it, events, error };
}

/** The replica ended after a single attempt with a non-retryable ReplicaError matching `message`. */
function expectRefused(r: Awaited<ReturnType<typeof drain>>, message: RegExp): void {
  const downs = r.events.filter((e) => e.type === 'link-down');
  expect(downs.map((e) => e.type === 'link-down' && [String(e.error), e.reconnectInMs])).toEqual([[String(r.error), null]]);
  expect(r.error).toBeInstanceOf(ReplicaError);
  expect(r.error).toMatchObject({ retryable: false, message: expect.stringMatching(message) });
  expect(r.events.some((e) => e.type === 'full-sync-start')).toBe(false);
}

const args = (e: ReplicaEvent | undefined) => (e?.type === 'command' ? e.command.args.map((a) => Buffer.from(a).toString()) : null);

async function connectionsReceived(client: RedisClient): Promise<number> {
  return Number(await client.info('stats', 'total_connections_received'));
}

/** A few keys of several types, in two databases (binary values, a TTL). */
async function writeKeys(client: RedisClient): Promise<void> {
  await client.ok('SET', 'str', Buffer.from([0, 1, 13, 10, 255]));
  await client.ok('SET', 'ttl', 'v');
  await client.ok('PEXPIREAT', 'ttl', 4102444800000);
  await client.ok('RPUSH', 'list', 'a', 'b', 'c');
  await client.ok('HSET', 'hash', 'f1', 'v1', 'f2', '2');
  await client.ok('SELECT', '2');
  await client.ok('SADD', 'set', 'x', 'y', '3');
  await client.ok('ZADD', 'zset', '1.5', 'm', '-2', 'n');
  await client.ok('SELECT', '0');
}

/**
 * The canonical dumper cannot AUTH: with requirepass cleared for the moment it reads the keyspace, then
 * the password is set again (before any replica connects).
 */
async function dumpWithoutPassword(server: RedisServer, admin: RedisClient, password: string): Promise<string[]> {
  await admin.ok('CONFIG', 'SET', 'requirepass', '');
  try {
    return keyspace(server.port);
  } finally {
    await admin.ok('CONFIG', 'SET', 'requirepass', password);
  }
}

/** Syncs, checks the entries against `expected` (and `synced`), then streams a SET made by `writer`. */
async function syncAndStream(replica: Replica, writer: RedisClient, expected: string[], synced?: () => Promise<void>): Promise<void> {
  try {
    const sync = await drain(replica, (e) => e.type === 'full-sync-end', 8000);
    expect(sync.error).toBe(null);
    expect(sync.events[0]?.type).toBe('link-up');
    expect(entryLines(sync.events)).toEqual(expected);
    await synced?.();
    await writer.ok('SET', 'written-after-sync', 'yes');
    const events = await collect(sync.it, (e) => e.type === 'command', 5000);
    expect(args(events.find((e) => e.type === 'command'))).toEqual(['SET', 'written-after-sync', 'yes']);
  } finally {
    replica.stop();
    await writer.ok('DEL', 'written-after-sync'); // the next test's expected keyspace has no such key
  }
}

describe.skipIf(!live)('a master with requirepass', () => {
  const password = 'secret';
  let server: RedisServer;
  let admin: RedisClient;
  let expected: string[];

  beforeAll(async () => {
    server = await startRedisServer(['--requirepass', password, '--repl-diskless-sync-delay', '0'], { auth: { password } });
    admin = await RedisClient.connect(server.port, { password });
    await writeKeys(admin);
    expected = await dumpWithoutPassword(server, admin, password);
  }, 30_000);

  afterAll(async () => {
    admin?.close();
    await server?.stop();
  });

  it('is not awaited forever by startRedisServer without the password: NOAUTH fails the start', async () => {
    await expect(startRedisServer(['--requirepass', 'x'])).rejects.toThrow(/NOAUTH/);
  }, 10_000);

  it('syncs with redis://:secret@ and streams a write', async () => {
    expect(expected.length).toBe(6);
    await syncAndStream(new Replica({ url: `redis://:${password}@127.0.0.1:${server.port}` }), admin, expected);
  }, 10_000);

  it.each([
    ['a wrong password', ':wrong@', /^authentication failed: WRONGPASS/],
    ['no password', '', /^the master refused PING: NOAUTH/],
  ])('with %s, fails once with a non-retryable error', async (_what, credentials, message) => {
    const before = await connectionsReceived(admin);
    const replica = new Replica({ url: `redis://${credentials}127.0.0.1:${server.port}`, reconnect: { initialDelayMs: 20 } });
    expectRefused(await drain(replica), message);
    // The master saw one connection from it (the INFO calls use the admin's open connection).
    expect(await connectionsReceived(admin) - before).toBe(1);
  }, 10_000);
});

describe.skipIf(!live)('an ACL user for replication only', () => {
  // Characters that must be percent-encoded in a URL's password.
  const password = 'p@ss:w/rd %';
  const url = (user: string) => `redis://${user}:${encodeURIComponent(password)}@127.0.0.1:${server.port}`;
  let server: RedisServer;
  let admin: RedisClient;
  let expected: string[];

  beforeAll(async () => {
    // The default user needs a password too, or anyone could replicate without one.
    server = await startRedisServer(['--requirepass', 'admin', '--repl-diskless-sync-delay', '0'], { auth: { password: 'admin' } });
    admin = await RedisClient.connect(server.port, { password: 'admin' });
    // What the issue asks for. A new user has no keys, channels or other commands.
    await admin.ok('ACL', 'SETUSER', 'repl', 'reset', 'on', `>${password}`, '+psync', '+replconf', '+ping');
    // Redis 7.0 needs only these two from this replica: it sends PING before AUTH, as Redis's replicas do,
    // so PING runs as the default user (answered NOAUTH, which the handshake accepts), and the master
    // streams writes to a replica whatever its user may read. +ping is for replicas that PING after AUTH.
    await admin.ok('ACL', 'SETUSER', 'repl-min', 'reset', 'on', `>${password}`, '+psync', '+replconf');
    await admin.ok('ACL', 'SETUSER', 'repl-nopass', 'reset', 'on', 'nopass', '+psync', '+replconf');
    await admin.ok('ACL', 'SETUSER', 'no-psync', 'reset', 'on', `>${password}`, '+replconf', '+ping');
    await admin.ok('ACL', 'SETUSER', 'no-replconf', 'reset', 'on', `>${password}`, '+psync', '+ping');
    await writeKeys(admin);
    expected = await dumpWithoutPassword(server, admin, 'admin');
  }, 30_000);

  afterAll(async () => {
    admin?.close();
    await server?.stop();
  });

  it('is really limited: it may not read a key', async () => {
    const c = await RedisClient.connect(server.port, { username: 'repl', password });
    try {
      expect(await c.call('GET', 'ttl')).toEqual({ error: expect.stringMatching(/^NOPERM/) });
    } finally {
      c.close();
    }
  });

  it.each(['repl', 'repl-min'])('%s syncs and streams a write made by another client', async (user) => {
    await syncAndStream(new Replica({ url: url(user) }), admin, expected);
  }, 10_000);

  it('a nopass user given without a password (redis://user@) authenticates as that user', async () => {
    await syncAndStream(new Replica({ url: `redis://repl-nopass@127.0.0.1:${server.port}` }), admin, expected);
  }, 10_000);

  it.each([
    ['no-psync', /^the master refused PSYNC: NOPERM .*'psync'/],
    ['no-replconf', /^REPLCONF listening-port failed: NOPERM .*'replconf'/],
  ])('%s fails once with a non-retryable error', async (user, message) => {
    expectRefused(await drain(new Replica({ url: url(user), reconnect: { initialDelayMs: 20 } })), message);
  }, 10_000);
});

describe.skipIf(!openssl)('a master on TLS with a test CA', () => {
  let ca: TestCa;
  let server: RedisServer;
  let tlsPort: number;
  let client: RedisClient;
  let expected: string[];
  const file = (name: string) => ca.file(name);

  beforeAll(async () => {
    ca = new TestCa();
    ca.issue('server', '/CN=localhost', ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth']);
    ca.issue('client', '/CN=redistap replica', ['extendedKeyUsage=clientAuth']);
    // A plain port for the test's own clients and the dumper; the replica uses the TLS port, where the
    // master also wants a client certificate from its CA. (tls-replication is the replica-side setting:
    // the master accepts a replica on whichever port it connects to.)
    tlsPort = await freePort();
    server = await startRedisServer(['--tls-port', String(tlsPort), '--tls-cert-file', ca.path('server.crt'),
      '--tls-key-file', ca.path('server.key'), '--tls-ca-cert-file', ca.path('ca.crt'),
      '--tls-auth-clients', 'yes', '--repl-diskless-sync-delay', '0']);
    sharedTool('rdb-fixture-populate', ['--port', String(server.port), '--profile', 'full']);
    client = await RedisClient.connect(server.port);
    expected = keyspace(server.port);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await server?.stop();
    ca?.remove();
  });

  it('syncs over rediss:// with the CA and a client certificate, and streams a write', async () => {
    const replica = new Replica({ url: `rediss://127.0.0.1:${tlsPort}`, tls: { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key') } });
    await syncAndStream(replica, client, expected, async () => {
      // The master lists it as its one replica, connected to the TLS port.
      const replicas = String(await client.ok('CLIENT', 'LIST', 'TYPE', 'replica')).trim().split('\n');
      expect(replicas).toHaveLength(1);
      expect(replicas[0]).toContain(`laddr=127.0.0.1:${tlsPort} `);
    });
  }, 15_000);

  it.each<[string, () => ConnectionOptions, RegExp]>([
    ['without the CA', () => ({ cert: file('client.crt'), key: file('client.key') }),
      /^cannot connect to 127\.0\.0\.1:\d+: the master's TLS certificate failed verification \(SELF_SIGNED_CERT_IN_CHAIN/],
    ['with a name the certificate does not carry', () => ({ ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key'), servername: 'elsewhere.example' }),
      /^cannot connect to 127\.0\.0\.1:\d+: the master's TLS certificate failed verification \(ERR_TLS_CERT_ALTNAME_INVALID/],
    ['without a client certificate', () => ({ ca: file('ca.crt') }),
      /^the master refused our TLS client certificate \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\)/],
  ])('%s, fails once with a non-retryable error', async (_what, tls, message) => {
    const replica = new Replica({ url: `rediss://127.0.0.1:${tlsPort}`, tls: tls(), reconnect: { initialDelayMs: 20 } });
    expectRefused(await drain(replica), message);
  }, 10_000);

  it('redis:// to the TLS port (rediss:// meant) fails once, saying so, instead of reconnecting forever', async () => {
    const replica = new Replica({ url: `redis://127.0.0.1:${tlsPort}`, reconnect: { initialDelayMs: 20 } });
    expectRefused(await drain(replica), new RegExp(`^127\\.0\\.0\\.1:${tlsPort} speaks TLS: use a rediss:// URL$`));
    // The sync's own connections (INFO, the target) too.
    const target = await startRedisServer();
    try {
      const s = sync({ source: `redis://127.0.0.1:${tlsPort}`, target: `redis://127.0.0.1:${target.port}`, reconnect: { initialDelayMs: 20 } });
      await expect(s.done).rejects.toThrow(`source: 127.0.0.1:${tlsPort} speaks TLS: use a rediss:// URL`);
      expect(s.status.restarts).toBe(0);
      const back = sync({ source: `redis://127.0.0.1:${target.port}`, target: `redis://127.0.0.1:${tlsPort}`, reconnect: { initialDelayMs: 20 } });
      await expect(back.done).rejects.toThrow(`target: 127.0.0.1:${tlsPort} speaks TLS: use a rediss:// URL`);
    } finally {
      await target.stop();
    }
  }, 20_000);

  async function until(what: string, test: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
    for (const deadline = Date.now() + ms; !(await test()); await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    }
  }

  const clientFiles = () => ['--tls-cert', ca.path('client.crt'), '--tls-key', ca.path('client.key')];

  it('the CLI: tail over rediss:// with --tls-ca, --tls-cert and --tls-key streams a write; without --tls-ca it stops at once', async () => {
    const tail = cli(['tail', `rediss://127.0.0.1:${tlsPort}`, '--no-rdb', '--tls-ca', ca.path('ca.crt'), ...clientFiles()]);
    try {
      await until('the full sync', () => /full sync done/.test(tail.err()));
      await client.ok('SET', 'written-by-cli-test', 'tls');
      await until('the write', () => tail.lines.some((l) => l.includes('"written-by-cli-test"')));
      expect(JSON.parse(tail.lines.find((l) => l.includes('"written-by-cli-test"'))!)).toMatchObject({ db: 0, cmd: ['SET', 'written-by-cli-test', 'tls'] });
    } finally {
      tail.child.kill('SIGTERM');
      await client.ok('DEL', 'written-by-cli-test');
    }
    expect(await tail.exit).toBe(0);
    const refused = cli(['tail', `rediss://127.0.0.1:${tlsPort}`, '--no-rdb', ...clientFiles()]);
    expect(await refused.exit).toBe(2);
    expect(refused.err()).toMatch(/certificate failed verification \(SELF_SIGNED_CERT_IN_CHAIN/);
  }, 30_000);

  it('the CLI: sync from a rediss:// source with --source-tls-* into a plain target', async () => {
    const target = await startRedisServer();
    const sync = cli(['sync', `rediss://127.0.0.1:${tlsPort}`, `redis://127.0.0.1:${target.port}`, '--json',
      '--source-tls-ca', ca.path('ca.crt'), '--source-tls-cert', ca.path('client.crt'), '--source-tls-key', ca.path('client.key')]);
    try {
      await until('streaming', () => sync.lines.some((l) => /"phase":"streaming"/.test(l)), 20_000);
      await client.ok('SET', 'synced-over-tls', 'yes');
      const copy = await RedisClient.connect(target.port);
      try {
        await until('the write on the target', async () => String(await copy.call('GET', 'synced-over-tls')) === 'yes');
        expect(keyspace(target.port).filter((l) => !l.includes('"key":"redistap:'))).toEqual(keyspace(server.port));
      } finally {
        copy.close();
      }
    } finally {
      sync.child.kill('SIGTERM');
      await client.ok('DEL', 'synced-over-tls');
      expect(await sync.exit).toBe(0);
      await target.stop();
    }
  }, 40_000);
});
