// publish when its sink misbehaves, against real servers: a stop while the sink is frozen ends (and the
// next start publishes what the first could not, each id once); a stream's server that comes back without
// events it had confirmed stops publish instead of leaving a gap, and the next start publishes them again.
import { afterEach, describe, expect, it } from 'vitest';
import { publish } from '../src/pipeline/publisher.js';
import { redisStreamSink } from '../src/pipeline/sinks/redis-stream-sink.js';
import { cli } from './helpers/cli-process.js';
import { readEventStream } from './helpers/event-consumer.js';
import { haveRedisServer, type RedisClient } from './helpers/redis-server.js';
import { client, later, server, stopAll, url, waitFor } from './helpers/sync-harness.js';

const live = haveRedisServer();
const SOURCE = ['--repl-diskless-sync-delay', '0'];

afterEach(stopAll);

/** The keys of the write events in the stream, in order. */
async function writtenKeys(stream: RedisClient): Promise<string[]> {
  const { events } = await readEventStream(stream, 'ev');
  return events.filter((e) => e.event === 'write').map((e) => String((e.keys as unknown[])[0]));
}

describe.skipIf(!live)('publish when the sink misbehaves', () => {
  it('a stop while the stream\'s server is frozen ends; the next start publishes what it could not, each event once', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const stream = await client(dst);
    const args = ['publish', url(src), `${url(dst)}?stream=ev`, '--json', '--max-in-flight', '0.01'];
    const first = cli(args);
    later({ stop: () => { if (first.child.exitCode === null) first.child.kill('SIGKILL'); } });
    await waitFor('streaming', () => first.lines.some((l) => l.includes('"phase":"streaming"')));
    process.kill(dst.process.pid!, 'SIGSTOP'); // a sink that takes nothing and says nothing (a blocked broker)
    later({ stop: () => { try { process.kill(dst.process.pid!, 'SIGCONT'); } catch { /* gone */ } } });
    for (let i = 0; i < 300; i++) await source.ok('SET', `k:${i}`, 'v'.repeat(100)); // 30 KB: more than --max-in-flight
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0); // before the fix it waited for room the frozen sink never made
    expect(first.lines.join('\n')).toMatch(/stopped with \d+ events not yet confirmed|"phase":"stopped"/);
    process.kill(dst.process.pid!, 'SIGCONT');
    const second = cli(args);
    later({ stop: () => { if (second.child.exitCode === null) second.child.kill('SIGKILL'); } });
    await waitFor('every write in the stream', async () => (await writtenKeys(stream)).includes('k:299'), 30_000);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
    expect(await writtenKeys(stream)).toEqual(Array.from({ length: 300 }, (_, i) => `k:${i}`));
  }, 90_000);

  it('a stream\'s server that lost confirmed events stops publish; the next start publishes them again, in order', async () => {
    const [src, dst] = await Promise.all([server(SOURCE), server()]);
    const source = await client(src);
    const stream = await client(dst);
    const start = () => {
      const p = publish({ source: url(src), sink: redisStreamSink(`${url(dst)}?stream=ev`), reconnect: { maxDelayMs: 200 } });
      later({ stop: async () => { p.stop(); await p.done.catch(() => undefined); } });
      return p;
    };
    const confirmed = async (p: ReturnType<typeof start>) => {
      const offset = Number(await source.info('replication', 'master_repl_offset'));
      await waitFor('confirmed', () => p.status.confirmed.offset >= offset);
    };
    const first = start();
    await waitFor('streaming', () => first.status.phase === 'streaming');
    await source.ok('SET', 'a1', '1');
    await confirmed(first);
    await stream.ok('SAVE'); // what the stream's server will come back with
    await source.ok('SET', 'b1', '1');
    await source.ok('SET', 'b2', '1');
    await confirmed(first);
    expect(await writtenKeys(stream)).toEqual(['a1', 'b1', 'b2']);
    stream.close();
    const restarted = await dst.restart(); // no save on shutdown (--save ''): it loads the dump of before b1, b2
    later(restarted);
    await source.ok('SET', 'c1', '1'); // the next write finds the server changed
    await expect(first.done).rejects.toThrow(/the stream's server lost events it had confirmed: it holds batch \d+ of this publish, which had batch \d+ confirmed/);
    const again = await client(restarted);
    expect(await writtenKeys(again)).toEqual(['a1']);
    const second = start();
    await waitFor('c1', async () => (await writtenKeys(again)).includes('c1'), 30_000);
    second.stop();
    await second.done;
    expect(await writtenKeys(again)).toEqual(['a1', 'b1', 'b2', 'c1']);
  }, 90_000);
});
