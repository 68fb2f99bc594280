// The broker harness (helpers/brokers.ts) against the real clients: each broker starts, answers, keeps durable
// data across restart(), and the controls the publish tests rely on (memory alarm, JetStream dedup) work.
import amqp from 'amqplib';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { haveNats, haveRabbitmq, startNats, startRabbitmq, type Nats, type Rabbitmq } from './helpers/brokers.js';

/** Resolves when `emitter` emits `event`; rejects after `ms`. */
function once(emitter: NodeJS.EventEmitter, event: string, ms: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    emitter.once(event, (v) => { clearTimeout(timer); resolve(v); });
  });
}

describe.skipIf(!haveRabbitmq())('RabbitMQ harness', () => {
  let broker: Rabbitmq;
  beforeAll(async () => { broker = await startRabbitmq(); }, 90_000);
  afterAll(async () => { await broker?.stop(); }, 60_000);

  test('a durable queue: publish with confirms, consume it back', async () => {
    const conn = await amqp.connect(broker.url);
    try {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('harness-roundtrip', { durable: true });
      ch.sendToQueue('harness-roundtrip', Buffer.from('hello'), { persistent: true });
      await ch.waitForConfirms();
      const got = new Promise<string>((resolve) => {
        void ch.consume('harness-roundtrip', (m) => { if (m) { ch.ack(m); resolve(m.content.toString()); } });
      });
      expect(await got).toBe('hello');
    } finally {
      await conn.close();
    }
  });

  test('restart() keeps a durable queue and its persistent message', async () => {
    let conn = await amqp.connect(broker.url);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('harness-durable', { durable: true });
    ch.sendToQueue('harness-durable', Buffer.from('kept'), { persistent: true });
    await ch.waitForConfirms();
    await conn.close();

    await broker.restart();

    conn = await amqp.connect(broker.url);
    try {
      const ch2 = await conn.createChannel();
      expect((await ch2.checkQueue('harness-durable')).messageCount).toBe(1);
      const m = await ch2.get('harness-durable', { noAck: true });
      expect(m && m.content.toString()).toBe('kept');
    } finally {
      await conn.close();
    }
  }, 90_000);

  test('a memory alarm (ctl set_vm_memory_high_watermark) blocks publishers; lifting it unblocks', async () => {
    const conn = await amqp.connect(broker.url);
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue('harness-blocked', { durable: false });
      const blocked = once(conn, 'blocked', 20_000);
      await broker.ctl('set_vm_memory_high_watermark', '0.0001');
      ch.sendToQueue('harness-blocked', Buffer.from('x')); // a publish makes the broker block this connection
      expect(await blocked).toMatch(/memory/i);
      const unblocked = once(conn, 'unblocked', 20_000);
      await broker.ctl('set_vm_memory_high_watermark', '0.4');
      await unblocked;
      expect((await ch.checkQueue('harness-blocked')).messageCount).toBe(1);
    } finally {
      await broker.ctl('set_vm_memory_high_watermark', '0.4');
      await conn.close();
    }
  }, 60_000);

  test('ctl() rejects with the output of a failed command', async () => {
    await expect(broker.ctl('no_such_command')).rejects.toThrow(/no_such_command/);
  }, 30_000);
});

describe.skipIf(!haveNats())('NATS harness', () => {
  let broker: Nats;
  beforeAll(async () => { broker = await startNats(); }, 30_000);
  afterAll(async () => { await broker?.stop(); }, 30_000);

  test('JetStream: a repeated msgID is acknowledged as a duplicate; restart() keeps the stream', async () => {
    let nc = await connect({ servers: broker.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'HARNESS', subjects: ['harness.>'] });
      const js = jetstream(nc);
      const first = await js.publish('harness.a', 'one', { msgID: 'm-1' });
      const again = await js.publish('harness.a', 'one', { msgID: 'm-1' });
      expect(first.duplicate).toBe(false);
      expect(again.duplicate).toBe(true);
      expect(again.seq).toBe(first.seq);
    } finally {
      await nc.close();
    }

    await broker.restart();

    nc = await connect({ servers: broker.url });
    try {
      const info = await (await jetstreamManager(nc)).streams.info('HARNESS');
      expect(info.state.messages).toBe(1);
    } finally {
      await nc.close();
    }
  }, 30_000);

  test('maxPayload reaches the server', async () => {
    const small = await startNats({ maxPayload: 4096 });
    try {
      const nc = await connect({ servers: small.url });
      expect(nc.info?.max_payload).toBe(4096);
      await nc.close();
    } finally {
      await small.stop();
    }
  });
});
