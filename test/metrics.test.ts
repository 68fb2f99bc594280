// --metrics on tail, sync and publish: a Prometheus endpoint whose numbers are what happened, checked
// against real servers (the offset the master reports, the writes the test made).
import { afterEach, describe, expect, it } from 'vitest';
import { cli, type CliProcess } from './helpers/cli-process.js';
import { haveRedisServer, RedisClient, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const live = haveRedisServer();
const running: Array<{ stop(): Promise<void> }> = [];

afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

async function server(): Promise<RedisServer> {
  const s = await startRedisServer(['--repl-diskless-sync-delay', '0']);
  running.push(s);
  return s;
}

function run(args: string[]): CliProcess {
  const p = cli(args);
  running.push({ stop: async () => { if (p.child.exitCode === null) { p.child.kill('SIGINT'); await p.exit; } } });
  return p;
}

async function until<T>(what: string, get: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The metrics URL the command announced (on standard error, or as a JSON phase line). */
function metricsUrl(p: CliProcess): Promise<string> {
  return until('the metrics URL', () => /http:\/\/127\.0\.0\.1:\d+\/metrics/.exec(p.err() + p.lines.join('\n'))?.[0]);
}

async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  return new Map(text.split('\n').filter((l) => l.startsWith('redistap_')).map((l) => {
    const [name, value] = l.split(' ');
    return [name!, Number(value)];
  }));
}

/** Scrapes until `metric` equals `value` (the command may not have taken the last writes yet). */
async function expectMetric(url: string, metric: string, value: number): Promise<Map<string, number>> {
  let last: Map<string, number> | undefined;
  try {
    return await until(`${metric} = ${value}`, async () => {
      last = await scrape(url);
      return last.get(metric) === value ? last : undefined;
    }, 15_000);
  } catch {
    throw new Error(`${metric} stayed ${last?.get(metric)} (expected ${value})`);
  }
}

describe.skipIf(!live)('--metrics', () => {
  it('tail: writes, the offset the master is at, the link', async () => {
    const master = await server();
    const tail = run(['tail', `redis://127.0.0.1:${master.port}`, '--no-rdb', '--metrics', '0']);
    const url = await metricsUrl(tail);
    await until('the full sync', () => (tail.err().includes('full sync done') ? true : undefined));
    const c = await RedisClient.connect(master.port);
    for (let i = 0; i < 5; i++) await c.ok('INCR', 'n');
    await c.ok('MULTI');
    await c.ok('SET', 'a', '1');
    await c.ok('SET', 'b', '2');
    await c.ok('EXEC');
    const offset = Number(await c.info('replication', 'master_repl_offset'));
    c.close();
    const m = await expectMetric(url, 'redistap_writes_total', 7);
    expect(m.get('redistap_source_link_up')).toBe(1);
    expect(m.get('redistap_full_syncs_total')).toBe(1);
    expect((await expectMetric(url, 'redistap_offset', offset)).get('redistap_offset')).toBe(offset);
  });

  it('publish: events confirmed by the sink, the sink and source up', async () => {
    const source = await server();
    const target = await server();
    const p = run(['publish', `redis://127.0.0.1:${source.port}`, `redis://127.0.0.1:${target.port}?stream=ev`, '--json', '--metrics', '0']);
    const url = await metricsUrl(p);
    await until('streaming', () => (p.lines.some((l) => l.includes('"phase":"streaming"')) ? true : undefined));
    const c = await RedisClient.connect(source.port);
    for (let i = 0; i < 4; i++) await c.ok('HSET', 'h', `f${i}`, i);
    const offset = Number(await c.info('replication', 'master_repl_offset'));
    c.close();
    // full-sync-start, full-sync-end and the four writes.
    const m = await expectMetric(url, 'redistap_events_confirmed_total', 6);
    expect(m.get('redistap_sink_up')).toBe(1);
    expect(m.get('redistap_source_link_up')).toBe(1);
    expect((await expectMetric(url, 'redistap_confirmed_offset', offset)).get('redistap_lag_bytes')).toBe(0);
    const t = await RedisClient.connect(target.port);
    expect(await t.call('XLEN', 'ev')).toBe(6);
    t.close();
  });

  it('sync: writes applied, the offset the target holds', async () => {
    const source = await server();
    const target = await server();
    const s = run(['sync', `redis://127.0.0.1:${source.port}`, `redis://127.0.0.1:${target.port}`, '--json', '--metrics', '0']);
    const url = await metricsUrl(s);
    await until('streaming', () => (s.lines.some((l) => l.includes('"phase":"streaming"')) ? true : undefined));
    const c = await RedisClient.connect(source.port);
    for (let i = 0; i < 3; i++) await c.ok('RPUSH', 'l', i);
    const offset = Number(await c.info('replication', 'master_repl_offset'));
    c.close();
    await expectMetric(url, 'redistap_writes_applied_total', 3);
    expect((await expectMetric(url, 'redistap_confirmed_offset', offset)).get('redistap_streaming')).toBe(1);
  });

  it('refuses an address it cannot use, before connecting', async () => {
    const p = cli(['tail', 'redis://127.0.0.1:1', '--metrics', 'nonsense']);
    expect(await p.exit).toBe(2);
    expect(p.err()).toContain('--metrics expects [host:]port, e.g. 9121 or 0.0.0.0:9121, got "nonsense"');
  });
});
