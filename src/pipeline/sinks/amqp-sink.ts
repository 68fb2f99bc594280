// A sink for RabbitMQ and any AMQP 0-9-1 broker (amqplib): every message is published, persistent, to one
// exchange (a durable topic exchange, `redistap` unless told otherwise) on a channel in confirm mode, so a
// batch is done when the broker has confirmed each of its messages.
//
// Order: one connection, one channel, and messages published in the order write() was called, the next
// batch only once the previous one is fully handed to the channel. RabbitMQ keeps a channel's order into
// each queue, and write() resolves batches in call order too (a batch resolves only after the one before).
//
// Flow control: channel.publish returns false when the channel's buffer is full (a slow or blocked
// socket); publishing waits for 'drain' instead of buffering a whole batch in memory.
//
// Broker alarms (memory or disk): RabbitMQ sends connection.blocked and stops reading from the socket. That
// is not a failure: publishing waits (the buffer fills, 'drain' comes once the alarm clears), and onNotice
// says so once per blocked period, and again when the broker sends connection.unblocked.
//
// Errors: connect() rejects retryable when the broker is unreachable or busy (refused, reset, timeout, a
// socket closed during the handshake, a broker shutting down) and not retryable when it refuses us: bad
// credentials (ACCESS_REFUSED), a virtual host we may not open (NOT_ALLOWED), an exchange that exists with
// another type, a TLS certificate that does not verify. A write rejects retryable on a NACK or a lost
// channel or connection. No message or error carries the password: messages name the destination by
// `name`, which has no credentials, and a broker's or socket's error becomes a cause only when it does
// not contain the password.
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import type { ConnectionOptions } from 'node:tls';
import { inspect } from 'node:util';
import { compileTemplate, type RouteTemplate } from '../route-template.js';
import { SinkError, type Sink, type SinkBatch, type SinkMessage } from '../sink.js';

export interface AmqpSinkOptions {
  /** The exchange to publish to (overrides the URL's `exchange`); default `redistap`. */
  exchange?: string;
  /** The routing-key template (overrides the URL's `routing-key`); default `redis.{db}.{command}`. */
  routingKey?: string;
  /** TLS options for an amqps:// URL (CA, client certificate...), handed to tls.connect. */
  tls?: ConnectionOptions;
  /** Told what the user should know but is no failure: the broker blocks publishing, messages were unroutable. */
  onNotice?(message: string): void;
}

export const DEFAULT_EXCHANGE = 'redistap';
export const DEFAULT_ROUTING_KEY = 'redis.{db}.{command}';
/** How long a connection attempt (TCP, TLS and the AMQP handshake) may take; the URL's connection_timeout overrides it. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How long close() waits for the broker to acknowledge the close (a blocked broker reads nothing) before it drops the socket. */
const CLOSE_TIMEOUT_MS = 2_000;

/** Query parameters amqplib reads, under its names and the RabbitMQ URI spec's. */
const AMQPLIB_PARAMS: Record<string, 'heartbeat' | 'frameMax' | 'channelMax' | 'locale'> = {
  heartbeat: 'heartbeat',
  frameMax: 'frameMax',
  frame_max: 'frameMax',
  channelMax: 'channelMax',
  channel_max: 'channelMax',
  locale: 'locale',
};
const OWN_PARAMS = ['exchange', 'routing-key', 'connection_timeout'];

interface ParsedUrl {
  connect: Options.Connect;
  /** The URL without credentials or query: what messages show. */
  display: string;
  password: string;
  username: string;
  vhost: string;
  tls: boolean;
  exchange?: string;
  routingKey?: string;
  connectTimeoutMs: number;
}

function parseAmqpUrl(url: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`not an AMQP URL: ${withoutCredentials(url)} (expected amqp://[user:password@]host[:port][/vhost][?exchange=NAME&routing-key=TEMPLATE] or amqps://...)`);
  }
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:') {
    throw new TypeError(`unsupported scheme ${u.protocol} in ${withoutCredentials(url)}: use amqp:// or amqps:// (TLS)`);
  }
  const tls = u.protocol === 'amqps:';
  const hostname = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!hostname) throw new TypeError(`no host in ${withoutCredentials(url)}`);
  // The path is the virtual host, one segment, percent-encoded ("/" is %2F): amqp://host/%2F is "/", and
  // no path (or a bare "/") is the default "/" as amqplib reads it.
  const rawVhost = u.pathname.replace(/^\//, '');
  if (rawVhost.includes('/')) {
    throw new TypeError(`the virtual host in ${withoutCredentials(url)} has an unencoded "/": write it as %2F`);
  }
  let vhost: string;
  try {
    vhost = rawVhost ? decodeURIComponent(rawVhost) : '/';
  } catch {
    throw new TypeError(`bad percent-encoding in the virtual host of ${withoutCredentials(url)}`);
  }
  const connect: Options.Connect = { protocol: tls ? 'amqps' : 'amqp', hostname, port: u.port ? Number(u.port) : tls ? 5671 : 5672 };
  // amqplib decodes the virtual host itself (once): hand it the encoded segment.
  if (rawVhost) connect.vhost = rawVhost;
  let username = '';
  let password = '';
  try {
    username = decodeURIComponent(u.username);
    password = decodeURIComponent(u.password);
  } catch {
    throw new TypeError(`bad percent-encoding in the user name or password of ${withoutCredentials(url)}`);
  }
  // Neither given: amqplib logs in as guest/guest, RabbitMQ's default user (loopback only).
  if (u.username || u.password) {
    connect.username = username;
    connect.password = password;
  }
  const parsed: ParsedUrl = {
    connect,
    display: `${u.protocol}//${u.host}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`,
    password,
    username: u.username || u.password ? username : 'guest',
    vhost,
    tls,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  };
  for (const [key, value] of u.searchParams) {
    if (key === 'exchange') parsed.exchange = value;
    else if (key === 'routing-key') parsed.routingKey = value;
    else if (key === 'connection_timeout') parsed.connectTimeoutMs = count(key, value, 1);
    else if (key in AMQPLIB_PARAMS) {
      const name = AMQPLIB_PARAMS[key]!;
      // channelMax is read by amqplib's connect but missing from its types.
      if (name === 'locale') connect.locale = value;
      else (connect as Options.Connect & { channelMax?: number })[name] = count(key, value, 0);
    } else {
      throw new TypeError(`unknown query parameter ${JSON.stringify(key)} in ${withoutCredentials(url)}: use ${[...OWN_PARAMS, ...Object.keys(AMQPLIB_PARAMS)].join(', ')}`);
    }
  }
  return parsed;
}

function count(key: string, value: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new TypeError(`the query parameter ${key} must be a whole number${min ? ` from ${min}` : ''}, not ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** `url` with nothing between the scheme and the last "@" (for a URL that did not even parse). */
function withoutCredentials(url: string): string {
  const start = /^[a-z][a-z0-9+.-]*:(\/\/)?/i.exec(url)?.[0].length ?? 0;
  const at = url.lastIndexOf('@');
  return at >= start ? `${url.slice(0, start)}${url.slice(at + 1)}` : url;
}

/** An error of the socket, TLS or amqplib: its code, numeric for an AMQP close (403...), and text. */
function describe(err: unknown): { code: string | number | undefined; text: string } {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' || typeof e?.code === 'number' ? e.code : undefined;
  return { code, text: typeof e?.message === 'string' && e.message ? e.message : String(err) };
}

/** TLS failures a retry cannot fix: the certificate, its name, or a plain-text port. */
function isTlsConfigError(code: string | number | undefined, text: string): boolean {
  return typeof code === 'string' && /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|ERR_TLS_CERT_ALTNAME|HOSTNAME_MISMATCH|ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_)/.test(code)
    || /wrong version number|certificate/i.test(text);
}

interface Tracker {
  left: number;
  done: boolean;
  resolve(): void;
  reject(err: SinkError): void;
}

/** One connection and its channel: events of an old one never reach the next. */
interface Link {
  model: ChannelModel;
  channel?: ConfirmChannel;
  failure: SinkError | null;
  /** Batches not yet confirmed: a failure rejects them all. */
  trackers: Set<Tracker>;
  /** Waiters for the channel's 'drain': a failure rejects them. */
  drainWaiters: Set<(err: SinkError) => void>;
  /** The end of the publishing so far: the next batch is published after it. */
  published: Promise<void>;
  /** Whether every batch so far was confirmed (false once one failed): the next resolves after it. */
  confirmed: Promise<boolean>;
  blocked: boolean;
}

export function amqpSink(url: string, options: AmqpSinkOptions = {}): Sink {
  return new AmqpSink(url, options);
}

class AmqpSink implements Sink {
  readonly name: string;
  readonly routeName: string;
  readonly storesPosition = false;
  private readonly url: ParsedUrl;
  private readonly exchange: string;
  private readonly routingKey: RouteTemplate;
  private readonly socketOptions: Record<string, unknown>;
  private readonly notice: (message: string) => void;
  private link: Link | undefined;
  /**
   * Unroutable messages. RabbitMQ confirms a message that no queue's binding matches (ack, not nack) and
   * drops it: for a topic exchange that is also how a consumer that binds only `redis.0.hset` filters the
   * rest, so it is no failure, and failing would stop a pipeline whose consumer merely unbound a queue. But
   * the first time it happens the user should hear of it (the usual cause: the publisher started before any
   * queue was bound, and the position moved past messages nobody got). So the first messages go out with
   * `mandatory`, which makes the broker return an unroutable message (basic.return, before its ack); the
   * first return is told through onNotice, once, and from then on messages go without `mandatory`, so a
   * consumer that filters by binding does not make the broker send every other message back to us. A user
   * who must keep unroutable messages gives the exchange an alternate exchange (a RabbitMQ policy).
   */
  private watchReturns = true;

  constructor(url: string, options: AmqpSinkOptions) {
    this.url = parseAmqpUrl(url);
    this.exchange = options.exchange ?? this.url.exchange ?? DEFAULT_EXCHANGE;
    if (Buffer.byteLength(this.exchange) > 255) throw new TypeError(`the exchange name is longer than 255 bytes: ${JSON.stringify(this.exchange)}`);
    this.routingKey = compileTemplate(options.routingKey ?? this.url.routingKey ?? DEFAULT_ROUTING_KEY);
    if (options.tls && !this.url.tls) {
      throw new TypeError(`TLS options were given for ${this.url.display}: use an amqps:// URL to connect with TLS`);
    }
    this.socketOptions = { ...(this.url.tls ? options.tls : {}), timeout: this.url.connectTimeoutMs, noDelay: true };
    this.notice = options.onNotice ?? (() => {});
    this.routeName = `exchange ${this.exchange === '' ? '(the default exchange)' : this.exchange}`;
    this.name = `${this.url.display} ${this.routeName}`;
  }

  async connect(): Promise<void> {
    if (this.link) await this.close();
    let model: ChannelModel;
    try {
      model = await amqp.connect(this.url.connect, this.socketOptions);
    } catch (err) {
      throw this.connectError(err);
    }
    const link: Link = {
      model, failure: null, trackers: new Set(), drainWaiters: new Set(),
      published: Promise.resolve(), confirmed: Promise.resolve(true), blocked: false,
    };
    model.on('error', (err: unknown) => this.fail(link, this.lostError(err)));
    model.on('close', (err: unknown) => this.fail(link, this.lostError(err ?? new Error('the connection closed'))));
    model.on('blocked', (reason: unknown) => {
      if (link.blocked || link.failure) return;
      link.blocked = true;
      this.notice(`the broker blocks publishing: ${String(reason)}`);
    });
    model.on('unblocked', () => {
      if (!link.blocked || link.failure) return;
      link.blocked = false;
      this.notice('the broker accepts publishing again');
    });
    try {
      await this.openChannel(link);
      await this.declare(link);
    } catch (err) {
      link.failure ??= new SinkError(`${this.name}: connecting failed`, true);
      await this.shut(link);
      throw err instanceof SinkError ? err : this.connectError(err);
    }
    if (link.failure) {
      // Lost between the declaration and here.
      await this.shut(link);
      throw link.failure;
    }
    this.link = link;
  }

  /** Opens the link's (new) channel in confirm mode; events of a channel the link no longer uses are ignored. */
  private async openChannel(link: Link): Promise<ConfirmChannel> {
    const channel = await link.model.createConfirmChannel();
    link.channel = channel;
    channel.on('error', (err: unknown) => { if (link.channel === channel) this.fail(link, this.lostError(err)); });
    channel.on('close', () => this.channelClosed(link, channel));
    channel.on('return', (message: { fields: { routingKey: string } }) => this.returned(message.fields.routingKey));
    return channel;
  }

  /**
   * Declares the exchange: a durable topic exchange, made if missing. One that exists with another type (or
   * not durable) is refused by the broker (PRECONDITION_FAILED): not retryable. A user allowed to write to
   * the exchange but not to configure it (ACCESS_REFUSED on the declaration) may still publish to an
   * exchange someone else declared: then it is checked passively, on a new channel (the refusal closed
   * the first).
   */
  private async declare(link: Link): Promise<void> {
    // The default exchange ('') always exists and cannot be declared: it routes by queue name.
    if (this.exchange === '') return;
    try {
      await link.channel!.assertExchange(this.exchange, 'topic', { durable: true });
      return;
    } catch (err) {
      const { code, text } = describe(err);
      if (code === 406 || /PRECONDITION.FAILED/.test(text)) {
        throw new SinkError(`${this.name}: the exchange ${JSON.stringify(this.exchange)} exists with another type or settings than the durable topic exchange redistap publishes to (${this.scrub(text)}): use another exchange (exchange=NAME) or delete that one`, false);
      }
      if (!(code === 403 || /ACCESS.REFUSED/.test(text))) throw err;
    }
    // The refusal closed the channel, not the connection: forget both.
    link.channel = undefined;
    link.failure = null;
    const channel = await this.openChannel(link);
    try {
      await channel.checkExchange(this.exchange);
    } catch (err) {
      const { text } = describe(err);
      throw new SinkError(`${this.name}: the user ${JSON.stringify(this.url.username)} may not declare the exchange ${JSON.stringify(this.exchange)}, and it does not exist or may not be used either (${this.scrub(text)})`, false, this.cause(err));
    }
  }

  write(batch: SinkBatch): Promise<void> {
    const link = this.link;
    if (!link) return Promise.reject(new SinkError(`${this.name}: not connected`, true));
    if (link.failure) return Promise.reject(link.failure);
    const confirmed = new Promise<void>((resolve, reject) => {
      const tracker: Tracker = { left: batch.messages.length, done: false, resolve, reject };
      if (tracker.left === 0) {
        tracker.done = true;
        resolve();
        return;
      }
      link.trackers.add(tracker);
      link.published = link.published.then(() => this.publish(link, batch.messages, tracker));
    });
    const previous = link.confirmed;
    const result = Promise.all([previous, confirmed]).then(([previousOk]) => {
      if (!previousOk) throw link.failure ?? new SinkError(`${this.name}: an earlier batch failed`, true);
    });
    link.confirmed = result.then(() => true, () => false);
    return result;
  }

  /** Publishes one batch's messages in order, waiting for 'drain' whenever the channel's buffer is full. Never rejects. */
  private async publish(link: Link, messages: SinkMessage[], tracker: Tracker): Promise<void> {
    const settle = (err: unknown) => {
      if (tracker.done) return;
      if (err === null || err === undefined) {
        if (--tracker.left === 0) {
          tracker.done = true;
          link.trackers.delete(tracker);
          tracker.resolve();
        }
        return;
      }
      if (describe(err).text === 'message nacked') {
        this.fail(link, new SinkError(`${this.name}: the broker refused a message (nack): a queue it routes to is full and rejects publishes (x-overflow reject-publish), or failed to store it`, true));
      } else {
        // 'channel closed': the channel's or connection's own event tells why, right after.
        this.channelClosed(link, link.channel);
      }
    };
    for (const message of messages) {
      if (link.failure || tracker.done) return;
      const routingKey = this.routingKey(message.route);
      if (Buffer.byteLength(routingKey) > 255) {
        // Checked here: amqplib would throw half-way through publish, after the confirm callback was queued.
        this.fail(link, new SinkError(`${this.name}: the routing key ${JSON.stringify(routingKey.slice(0, 80))}... is longer than AMQP's 255 bytes: shorten the routing-key template`, false));
        return;
      }
      const headers: Record<string, string | number> = { 'x-redistap-class': message.route.class };
      if (message.route.db !== null) headers['x-redistap-db'] = message.route.db;
      const body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
      let ok: boolean;
      try {
        ok = link.channel!.publish(this.exchange, routingKey, body, {
          persistent: true,
          mandatory: this.watchReturns,
          messageId: message.id,
          contentType: 'application/json',
          type: message.route.command,
          headers,
        }, settle);
      } catch (err) {
        // A closed channel (amqplib throws), or a message it could not encode.
        this.fail(link, link.failure ?? this.lostError(err));
        return;
      }
      if (!ok) {
        try {
          await this.drained(link);
        } catch {
          return; // fail() rejected the batch
        }
      }
    }
  }

  private drained(link: Link): Promise<void> {
    return new Promise((resolve, reject) => {
      const channel = link.channel!;
      const onDrain = () => {
        link.drainWaiters.delete(onFail);
        resolve();
      };
      const onFail = (err: SinkError) => {
        channel.off('drain', onDrain);
        reject(err);
      };
      channel.once('drain', onDrain);
      link.drainWaiters.add(onFail);
    });
  }

  /** The first failure of a link wins: every batch not yet confirmed rejects with it, and so does every later write. */
  private fail(link: Link, err: SinkError): void {
    if (link.failure) return;
    link.failure = err;
    for (const waiter of link.drainWaiters) waiter(err);
    link.drainWaiters.clear();
    for (const tracker of link.trackers) {
      tracker.done = true;
      tracker.reject(err);
    }
    link.trackers.clear();
  }

  /**
   * The channel closed: the channel's 'error' or the connection's 'close' (which follows at once) tells why,
   * if it can. A channel the link no longer uses (one the declaration's refusal closed) is no failure.
   */
  private channelClosed(link: Link, channel: ConfirmChannel | undefined): void {
    setImmediate(() => {
      if (link.channel === channel) this.fail(link, new SinkError(`${this.name}: the broker closed the channel`, true));
    });
  }

  private returned(routingKey: string): void {
    if (!this.watchReturns) return;
    this.watchReturns = false;
    this.notice(`${this.name}: the broker dropped a message with routing key ${JSON.stringify(routingKey)}: no queue is bound to the exchange for it (the broker confirms such messages and discards them; bind a queue, or give the exchange an alternate exchange to keep them). This is told once: later unroutable messages are dropped silently`);
  }

  async close(): Promise<void> {
    const link = this.link;
    this.link = undefined;
    if (!link) return;
    this.fail(link, new SinkError(`${this.name}: closed before the broker confirmed every message`, true));
    await this.shut(link);
  }

  /** Closes the channel and the connection, waiting at most CLOSE_TIMEOUT_MS, then drops the socket. Never rejects. */
  private async shut(link: Link): Promise<void> {
    const graceful = (async () => {
      try { await link.channel?.close(); } catch { /* already closed */ }
      try { await link.model.close(); } catch { /* already closed */ }
    })();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      graceful.then(() => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), CLOSE_TIMEOUT_MS); }),
    ]);
    clearTimeout(timer);
    // A blocked broker reads no close: drop the socket, and stop amqplib's heartbeat timers, which would
    // keep the process alive for two heartbeat intervals. (Our listeners stay, for a late 'error'.)
    const connection = link.model.connection as unknown as { stream?: { destroy(): void }; heartbeater?: { clear(): void } | null };
    if (timedOut) connection.heartbeater?.clear();
    connection.stream?.destroy();
  }

  /** A failed connection attempt: retryable unless the broker refused us or the configuration cannot work. */
  private connectError(err: unknown): SinkError {
    const { code, text } = describe(err);
    const safe = this.scrub(text);
    const cause = this.cause(err);
    if (code === 403 || /ACCESS.REFUSED/.test(text)) {
      return new SinkError(`${this.name}: the broker refused the login of user ${JSON.stringify(this.scrub(this.url.username))} (ACCESS_REFUSED): check the user name and password`, false, cause);
    }
    if (code === 530 || /NOT.ALLOWED/.test(text) || /Expected ConnectionOpenOk; got <ConnectionClose/.test(text)) {
      // amqplib keeps no reply text for a refused connection.open: RabbitMQ answers NOT_ALLOWED when the
      // virtual host does not exist or the user has no permission on it.
      return new SinkError(`${this.name}: the broker refused to open the virtual host ${JSON.stringify(this.url.vhost)} (NOT_ALLOWED): it does not exist, or the user ${JSON.stringify(this.scrub(this.url.username))} has no access to it`, false, cause);
    }
    if (/SASL mechanism/.test(text)) {
      return new SinkError(`${this.name}: ${safe}`, false, cause);
    }
    if (isTlsConfigError(code, text)) {
      const hint = /wrong version number/i.test(text) ? ' (the port does not speak TLS: is it a plain amqp:// one?)' : '';
      return new SinkError(`${this.name}: the TLS connection failed: ${safe}${hint}`, false, cause);
    }
    if (/^Expected amqp: or amqps:/.test(text)) return new SinkError(`${this.name}: ${safe}`, false, cause);
    return new SinkError(`${this.name}: cannot connect: ${safe}`, true, cause);
  }

  /** A connection or channel lost while connected: retryable, unless the broker refuses what we send. */
  private lostError(err: unknown): SinkError {
    if (err instanceof SinkError) return err;
    const { code, text } = describe(err);
    const safe = this.scrub(text);
    if (code === 403 || /ACCESS.REFUSED/.test(text)) {
      return new SinkError(`${this.name}: the broker refused to let user ${JSON.stringify(this.scrub(this.url.username))} publish: ${safe}`, false, this.cause(err));
    }
    if (/larger than configured max size/.test(text)) {
      return new SinkError(`${this.name}: a message is larger than the broker accepts (its max_message_size): ${safe}`, false, this.cause(err));
    }
    return new SinkError(`${this.name}: the connection to the broker was lost: ${safe}`, true, this.cause(err));
  }

  /** `text` without the password (an error from below should never hold it; this makes sure). */
  private scrub(text: string): string {
    const secret = this.url.password;
    if (!secret) return text;
    return text.split(secret).join('***').split(encodeURIComponent(secret)).join('***');
  }

  /** The error as a cause, unless something in it shows the password. */
  private cause(err: unknown): ErrorOptions | undefined {
    if (!(err instanceof Error)) return undefined;
    const secret = this.url.password;
    if (secret && (inspect(err).includes(secret) || inspect(err).includes(encodeURIComponent(secret)))) return undefined;
    return { cause: err };
  }
}
