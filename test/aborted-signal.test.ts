// A signal that was aborted before publish or sync started (Ctrl-C while the command was still starting)
// stops them at once: an abort event never fires again, so waiting for one ran them until killed.
import { afterAll, describe, expect, it } from 'vitest';
import { publish } from '../src/pipeline/publisher.js';
import { redisStreamSink } from '../src/pipeline/sinks/redis-stream-sink.js';
import { sync } from '../src/sync/sync.js';
import { sleep } from '../src/node/abortable-sleep.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const servers: RedisServer[] = [];
afterAll(async () => { await Promise.all(servers.map((s) => s.stop())); });

async function server(): Promise<RedisServer> {
  const s = await startRedisServer(['--repl-diskless-sync-delay', '0']);
  servers.push(s);
  return s;
}

describe.skipIf(!haveRedisServer())('an already aborted signal', () => {
  it('stops publish before it publishes anything', async () => {
    const [source, target] = [await server(), await server()];
    const p = publish({ source: `redis://127.0.0.1:${source.port}`, sink: redisStreamSink(`redis://127.0.0.1:${target.port}?stream=ev`), signal: AbortSignal.abort() });
    expect((await p.done).phase).toBe('stopped');
    const t = await RedisClient.connect(target.port);
    expect(await t.call('XLEN', 'ev')).toBe(0);
    t.close();
  }, 15_000);

  it('stops sync before it writes anything', async () => {
    const [source, target] = [await server(), await server()];
    const s = sync({ source: `redis://127.0.0.1:${source.port}`, target: `redis://127.0.0.1:${target.port}`, signal: AbortSignal.abort() });
    expect((await s.done).phase).toBe('stopped');
    const t = await RedisClient.connect(target.port);
    expect(await t.call('DBSIZE')).toBe(0);
    t.close();
  }, 15_000);

  it('ends a wait at once', async () => {
    const started = Date.now();
    await sleep(60_000, AbortSignal.abort());
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
