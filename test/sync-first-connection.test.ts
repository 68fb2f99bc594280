// When `redistap sync` gives up, against real servers: a first attempt that cannot reach the source or the
// target ends the command at once (exit 2, one line) unless --wait; with --wait it syncs once the server is
// there; a failure later is retried, until --max-retry-time passes without reaching both servers.
import { afterEach, describe, expect, it } from 'vitest';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { freePort, haveRedisServer, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { caughtUp, client, later, server, stopAll, syncedKeyspace, url, waitFor } from './helpers/sync-harness.js';

const live = haveRedisServer();
const SOURCE = ['--repl-diskless-sync-delay', '0'];

afterEach(stopAll);

/** `redistap sync --json` as a process, stopped (SIGKILL) after the test if still running. */
function cliSync(source: string, target: string, extra: string[] = []): CliProcess {
  const run = cli(['sync', source, target, '--json', ...extra]);
  later({ stop: () => { if (run.child.exitCode === null) run.child.kill('SIGKILL'); } });
  return run;
}

const events = (run: CliProcess) => run.lines.map((l) => JSON.parse(l) as { type: string; phase?: string; message?: string; detail?: string });
const warnings = (run: CliProcess) => events(run).filter((e) => e.type === 'warning').map((e) => e.message!);

describe.skipIf(!live)('sync: the first connection, and giving up', () => {
  it('ends at once (exit 2, one line) when the source or the target cannot be reached at the start', async () => {
    const closed = await freePort();
    const noSource = cliSync(`redis://127.0.0.1:${closed}`, `redis://127.0.0.1:${closed}`);
    expect(await noSource.exit).toBe(2);
    expect(noSource.err()).toMatch(new RegExp(`^redistap: source: cannot connect to 127\\.0\\.0\\.1:${closed}: [^\\n]*ECONNREFUSED[^\\n]*\\n$`));
    expect(warnings(noSource)).toEqual([]); // not retried

    const source = await server(SOURCE);
    const noTarget = cliSync(url(source), `redis://127.0.0.1:${closed}`);
    expect(await noTarget.exit).toBe(2);
    expect(noTarget.err()).toMatch(new RegExp(`^redistap: target: cannot connect to 127\\.0\\.0\\.1:${closed}: [^\\n]*\\n$`));
    expect(warnings(noTarget)).toEqual([]);
  }, 30_000);

  it('with --wait retries the first attempt until the target is there, then syncs', async () => {
    const source = await server(SOURCE);
    const src = await client(source);
    await src.ok('SET', 'a', '1');
    const port = await freePort();
    const run = cliSync(url(source), `redis://127.0.0.1:${port}`, ['--wait']);
    await waitFor('a retry of the target', () => warnings(run).some((w) => w.startsWith(`target: cannot connect to 127.0.0.1:${port}`)));
    const target: RedisServer = await startRedisServer([], { port });
    later(target);
    await waitFor('streaming', () => events(run).some((e) => e.phase === 'streaming'));
    await src.ok('SET', 'b', '2');
    await caughtUp(src, [await client(target)]);
    expect(syncedKeyspace(target.port)).toEqual(syncedKeyspace(source.port));
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
  }, 60_000);

  it('retries a target lost later, and gives up (exit 2) once --max-retry-time passes without it', async () => {
    const source = await server(SOURCE);
    const target = await server();
    const run = cliSync(url(source), url(target), ['--max-retry-time', '2']);
    await waitFor('streaming', () => events(run).some((e) => e.phase === 'streaming'));
    await target.stop();
    expect(await run.exit).toBe(2);
    // The failure after a working start was retried (more than once), then given up.
    expect(warnings(run).filter((w) => w.includes('trying again in')).length).toBeGreaterThan(1);
    expect(run.err()).toMatch(/^redistap: gave up after \d+ s without reaching both servers: target: [^\n]*\n$/);
  }, 60_000);
});
