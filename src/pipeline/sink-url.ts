// A sink from its URL: the scheme says which (amqp/amqps: RabbitMQ or any AMQP 0-9-1 broker; nats/tls:
// NATS JetStream; redis/rediss: a Redis stream). Adding a sink is one file in sinks/ and one line here.
import type { ConnectionOptions } from 'node:tls';
import { redactUrl } from '../replica/redis-url.js';
import type { Sink } from './sink.js';
import { amqpSink } from './sinks/amqp-sink.js';
import { natsSink } from './sinks/nats-sink.js';
import { redisStreamSink } from './sinks/redis-stream-sink.js';

export interface SinkUrlOptions {
  /** TLS options for amqps://, tls:// and rediss:// (CA, client certificate). */
  tls?: ConnectionOptions;
  /** Told what a sink wants a person to know (a broker blocking publishers...). */
  onNotice?: (message: string) => void;
}

export const SINK_SCHEMES = ['amqp', 'amqps', 'nats', 'tls', 'redis', 'rediss'] as const;

export function sinkFromUrl(url: string, options: SinkUrlOptions = {}): Sink {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'amqp': case 'amqps': return amqpSink(url, options);
    case 'nats': case 'tls': return natsSink(url, { onNotice: options.onNotice, tls: options.tls && pemTexts(options.tls) });
    case 'redis': case 'rediss': return redisStreamSink(url, options);
    default:
      throw new TypeError(`${redactUrl(url)}: not a sink URL (use amqp://, amqps://, nats://, tls:// (NATS over TLS), redis:// or rediss://)`);
  }
}

/** The NATS client takes PEM files as text. */
function pemTexts(tls: ConnectionOptions): { ca?: string; cert?: string; key?: string } {
  const text = (value: unknown) => (value === undefined ? undefined : Buffer.isBuffer(value) ? value.toString('utf8') : String(value));
  return { ca: text(tls.ca), cert: text(tls.cert), key: text(tls.key) };
}
