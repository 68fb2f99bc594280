// NATS JetStream sink: every message is a JetStream publish whose PubAck confirms it.
//
//   nats://[user:pass@|token@]host[:port][?stream=NAME&subject=TEMPLATE&create=true|false]   (tls:// for TLS)
//
// ORDER. write() publishes a batch at once and the publisher may call it again before earlier batches are
// confirmed, so many publishes are in flight. A message k that fails (its stream's max_bytes reached with
// discard new, a connection that drops, a timeout) while k+1 lands would put k after k+1 once k is sent again.
// We chain the messages with JetStream's expectations, which the server checks under the stream's lock before
// it stores a message (nats-server's processJetStreamMsg):
//   - every message carries Nats-Msg-Id = message.id and Nats-Expected-Last-Msg-Id = the id of the message
//     before it, so it is stored only when the stream's last message is its predecessor. If k was not
//     stored, k+1 fails with "wrong last msg ID" and so does everything after it: the stream never gets a
//     gap, it always holds our messages as a prefix of the source's order, each once.
//   - the first message sent after connect() carries instead Nats-Expected-Last-Sequence = the stream's last
//     sequence, read in connect() (with the last message's Nats-Msg-Id, L). The server keeps the last msg id
//     in memory only: after a restart it is rebuilt from the messages inside the duplicate window, so after
//     a longer one it is empty and a chain could never start; the last sequence survives restarts.
//   - the server checks Nats-Msg-Id against the duplicate window BEFORE the expectations, so a message
//     already stored within the window is acknowledged as a duplicate (confirmed) and never stored twice.
// RE-SENDS. After a failure the publisher reconnects and writes again every unconfirmed batch. Because the
// stream holds a prefix of our order, the messages of those batches that did land are exactly the ones up to
// L. The sink remembers (across close/connect) the ids of the messages it had not confirmed; if L is one of
// them, the re-sent messages up to L are confirmed without being sent, and the first one sent is L's
// successor, anchored on L's sequence. This does not depend on the duplicate window: after an outage longer
// than the window (2 minutes by default) the server would store a repeat, but we never send it. L is also
// looked for in the first batch written after connect (a publisher that restarted and sends again from its
// checkpoint); of the messages before it there, only those of its replication stream (the replid that
// begins an id) are known to be stored. Left over: a restarted publisher (a new sink, which remembers
// nothing) whose checkpoint lies more than one batch before L, restarted more than the duplicate window
// after the crash, publishes the messages between its checkpoint and L again, in order, after L: the
// at-least-once repeats sink.ts allows (consumers drop repeats by id); the order of first occurrences
// still holds. Another writer on the stream's subjects makes our next publish fail (retryable); after
// connect() ours continue after its messages.
// ONE AT A TIME AFTER CONNECT. What is sent after connect() may be in the stream already, and not only as
// a prefix of what is sent: a restarted publisher of a Redis Cluster's shards reads their events in
// another interleaving than the first time, so a message the stream holds can come after one it does
// not. A duplicate is acknowledged without being stored, and a message chained to it (expected last msg
// id) would fail every time it is sent again. So after connect() the messages go one at a time, each
// expecting the stream's last sequence as the acks move it (a duplicate's does not), until a batch is
// stored whole with no duplicate; then they are pipelined and chained again, from the last one stored.
// ERRORS. A publish error rejects the batch with a retryable SinkError (and every later batch: the chain makes
// their messages fail too); the publisher closes, reconnects and sends again as above. Never retryable: a
// message larger than the server's max_payload (or the stream's max_msg_size), an authorization violation,
// JetStream not enabled, a stream that does not capture our subjects, a bad URL or template.
import { connect, headers as natsHeaders, type MsgHdrs, type MsgHdrsImpl, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import {
  jetstream, jetstreamManager, JetStreamApiError, StorageType, type JetStreamClient, type JetStreamManager, type PubAck, type StreamInfo,
} from '@nats-io/jetstream';
import { SinkError, type Sink, type SinkBatch, type SinkMessage } from '../sink.js';
import { compileTemplate, type RouteTemplate } from '../route-template.js';
import { redactUrl } from '../../replica/redis-url.js';

export interface NatsSinkOptions {
  /** The JetStream stream (default REDISTAP, or the URL's ?stream=). Overrides the URL. */
  stream?: string;
  /** Subject template (default redistap.{db}.{command}, or the URL's ?subject=). Overrides the URL. */
  subject?: string;
  /** Create the stream when it is missing (file storage; default true, or the URL's ?create=). */
  createStream?: boolean;
  /** TLS options for the client (CA, client certificate...); given, TLS is required even with nats://. */
  tls?: NodeConnectionOptions['tls'];
  /** Told what the sink did on its own: a stream created, messages not sent again because they were stored. */
  onNotice?(message: string): void;
}

export const DEFAULT_STREAM = 'REDISTAP';
export const DEFAULT_SUBJECT = 'redistap.{db}.{command}';
/** How long a PubAck may take. */
const ACK_TIMEOUT_MS = 10_000;
const QUERY_PARAMS = ['stream', 'subject', 'create'];

// JetStream API error codes (nats-server's errors.json).
const JS_NOT_ENABLED_FOR_ACCOUNT = 10039;
const JS_NOT_ENABLED = 10076;
const MESSAGE_EXCEEDS_MAXIMUM = 10054;
const STREAM_NOT_FOUND = 10059;
const WRONG_LAST_MSG_ID = 10070;
const WRONG_LAST_SEQUENCE = 10071;

/**
 * A subject token from a route value: `.`, `*`, `>`, whitespace, control characters and `%` itself are
 * percent-encoded as UTF-8 (reversible, unlike a replacement character that could collide with a real
 * value). An empty value (an empty token is not allowed) is a lone `%`, which no encoded value contains.
 */
export function escapeSubjectToken(value: string): string {
  if (value === '') return '%';
  return value.replace(/[.*>%\s\p{Cc}]/gu, (c) => {
    const bytes = new TextEncoder().encode(c);
    return Array.from(bytes, (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  });
}

interface ParsedUrl {
  servers: string;
  tls: boolean;
  user?: string;
  pass?: string;
  token?: string;
  /** scheme://host:port, no credentials. */
  display: string;
  stream?: string;
  subject?: string;
  create?: boolean;
}

function parseNatsUrl(url: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`not a NATS URL: ${redactUrl(url)} (expected nats://[user:pass@|token@]host[:port][?stream=NAME&subject=TEMPLATE&create=true|false])`);
  }
  if (u.protocol !== 'nats:' && u.protocol !== 'tls:') {
    throw new TypeError(`unsupported scheme ${u.protocol} in ${redactUrl(url)}: use nats:// or tls://`);
  }
  if (u.pathname !== '' && u.pathname !== '/') {
    throw new TypeError(`unexpected path ${u.pathname} in ${redactUrl(url)}: a NATS URL names a server only`);
  }
  const host = u.hostname || '127.0.0.1';
  const port = u.port ? Number(u.port) : 4222;
  const out: ParsedUrl = {
    servers: `${host}:${port}`,
    tls: u.protocol === 'tls:',
    display: `${u.protocol}//${host}:${port}`,
  };
  if (u.username && u.password) {
    out.user = decodeURIComponent(u.username);
    out.pass = decodeURIComponent(u.password);
  } else if (u.username) {
    out.token = decodeURIComponent(u.username);
  } else if (u.password) {
    throw new TypeError(`a password without a user name in ${redactUrl(url)}: use nats://user:pass@host or nats://token@host`);
  }
  const unknown = [...new Set(u.searchParams.keys())].filter((k) => !QUERY_PARAMS.includes(k));
  if (unknown.length) {
    throw new TypeError(`unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} in ${redactUrl(url)}: use ${QUERY_PARAMS.join(', ')}`);
  }
  const stream = u.searchParams.get('stream');
  if (stream !== null) out.stream = stream;
  const subject = u.searchParams.get('subject');
  if (subject !== null) out.subject = subject;
  const create = u.searchParams.get('create');
  if (create !== null) {
    if (/^(true|1|yes)$/i.test(create)) out.create = true;
    else if (/^(false|0|no)$/i.test(create)) out.create = false;
    else throw new TypeError(`create=${create} in ${redactUrl(url)}: use create=true or create=false`);
  }
  return out;
}

function checkStreamName(name: string): void {
  if (name === '' || /[.*>\s/\\\p{Cc}]/u.test(name)) {
    throw new TypeError(`invalid stream name ${JSON.stringify(name)}: no ".", "*", ">", "/", "\\" or whitespace, not empty`);
  }
}

/**
 * The subjects a template can produce, as a NATS pattern: a token holding a field is `*` (an escaped value
 * is one token). Throws a TypeError for a template that cannot make valid subjects.
 */
function templatePattern(template: string): string[] {
  const tokens = template.replace(/\{[^{}]*\}/g, '\u0000').split('.');
  for (const t of tokens) {
    const literal = t.replaceAll('\u0000', '');
    if (t === '' || /[*>\s\p{Cc}]/u.test(literal)) {
      throw new TypeError(`the subject template ${JSON.stringify(template)} makes invalid subjects: every "."-separated token must be non-empty, without "*", ">" or whitespace`);
    }
  }
  return tokens.map((t) => (t.includes('\u0000') ? '*' : t));
}

/** True when every subject matching `pattern` (tokens; `*` for a variable token) matches the filter `filter`. */
function captures(filter: string, pattern: string[]): boolean {
  const f = filter.split('.');
  for (let i = 0; i < f.length; i++) {
    const ft = f[i]!;
    if (ft === '>') return pattern.length > i;
    const pt = pattern[i];
    if (pt === undefined) return false;
    if (ft !== '*' && ft !== pt) return false;
  }
  return f.length === pattern.length;
}

/** The subjects a stream we create captures: the template's leading literal tokens and `>`, or the pattern. */
function streamSubjects(pattern: string[]): string {
  const literal = pattern.findIndex((t) => t === '*');
  const lead = literal === -1 ? pattern.length : literal;
  return lead > 0 && lead < pattern.length ? `${pattern.slice(0, lead).join('.')}.>` : pattern.join('.');
}

interface Planned {
  message: SinkMessage;
  subject: string;
  headers: MsgHdrs;
  expect: { lastMsgID?: string; lastSequence?: number };
}

/** One write(): settles after every earlier one, once all its messages are confirmed or one failed. */
interface PendingBatch {
  ids: string[];
  /** Messages not yet confirmed. */
  remaining: number;
  error: SinkError | null;
  settled: boolean;
  resolve(): void;
  reject(err: SinkError): void;
}

/** What connect() learnt about the stream, used until the first message is sent. */
interface Resync {
  /** The last message's Nats-Msg-Id (null: empty stream, or a message without one). */
  lastId: string | null;
  /** The stream's last sequence, what the first message sent expects. */
  lastSeq: number;
  /** Ids of messages the sink had not confirmed and that are in the stream (up to lastId). */
  stored: Set<string>;
  skipped: number;
}

class NatsSink implements Sink {
  readonly name: string;
  readonly routeName: string;
  readonly storesPosition = false;
  private readonly target: ParsedUrl;
  private readonly stream: string;
  private readonly template: string;
  private readonly pattern: string[];
  private readonly route: RouteTemplate;
  private readonly createStream: boolean;
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  /** Largest message (headers + body) the server and the stream take. */
  private maxSize = Infinity;
  /** Set by the first failure since connect(): every write rejects with it until connect(). */
  private failure: SinkError | null = null;
  private pending: PendingBatch[] = [];
  /**
   * Ids of the messages of every batch written and not confirmed, in order, kept across close/connect:
   * the publisher sends those batches again after connect(), and the ones up to the stream's last message
   * are known to be stored.
   */
  private unconfirmed: string[][] = [];
  private resync: Resync | null = null;
  /** The id of the last message sent (what the next one expects as the stream's last). */
  private previousId: string | null = null;
  /** Since connect(), messages go one at a time (ONE AT A TIME AFTER CONNECT above) until a batch is stored whole. */
  private serialMode = false;
  /** The batches sent one message at a time since connect(), in order: the last one's sending, and how many wait. */
  private serial: { sending: Promise<void>; queued: number } = { sending: Promise.resolve(), queued: 0 };
  /** The stream's last sequence: as connect() read it, then moved by what is stored while serialMode. */
  private lastSeq = 0;
  /** The id of the last message of the last batch confirmed (to tell another writer's message). */
  private lastConfirmedId: string | null = null;

  constructor(url: string, private readonly options: NatsSinkOptions) {
    this.target = parseNatsUrl(url);
    this.stream = options.stream ?? this.target.stream ?? DEFAULT_STREAM;
    checkStreamName(this.stream);
    this.template = options.subject ?? this.target.subject ?? DEFAULT_SUBJECT;
    this.pattern = templatePattern(this.template);
    this.route = compileTemplate(this.template, escapeSubjectToken);
    this.createStream = options.createStream ?? this.target.create ?? true;
    this.routeName = `stream ${this.stream}`;
    this.name = `${this.target.display} ${this.routeName}`;
  }

  private notice(message: string): void {
    try {
      this.options.onNotice?.(message);
    } catch {
      // a notice is only information
    }
  }

  /** An error's text with the URL's secrets taken out (a server or a library may echo them). */
  private scrub(text: string): string {
    let out = text;
    for (const secret of [this.target.pass, this.target.token]) {
      if (secret) out = out.split(secret).join('***');
    }
    return out;
  }

  private describe(err: unknown): string {
    const e = err as { message?: string; cause?: { message?: string } };
    const message = e?.message || String(err);
    const cause = e?.cause?.message && !message.includes(e.cause.message) ? ` (${e.cause.message})` : '';
    return this.scrub(message + cause);
  }

  async connect(_route: unknown): Promise<void> {
    await this.close();
    this.failure = null;
    this.pending = [];
    let nc: NatsConnection;
    const tls = this.options.tls ?? (this.target.tls ? {} : undefined);
    try {
      nc = await connect({
        servers: this.target.servers,
        name: 'redistap',
        // No reconnect: a reconnecting client would send the messages it buffered during the outage on
        // the new connection while the ones lost with the old one are gone; we fail the batches instead.
        reconnect: false,
        timeout: 10_000,
        // No stack trace captured per request (the client builds an Error for every publish otherwise):
        // measured 45 → 27 µs of CPU per publish.
        noAsyncTraces: true,
        ...(this.target.user !== undefined ? { user: this.target.user, pass: this.target.pass } : {}),
        ...(this.target.token !== undefined ? { token: this.target.token } : {}),
        ...(tls !== undefined ? { tls } : {}),
      });
    } catch (err) {
      if (isAuthorization(err)) {
        throw new SinkError(`NATS ${this.name} refused us: authorization violation (check the user and password or token in the URL)`, false);
      }
      throw new SinkError(`cannot connect to NATS ${this.name}: ${this.describe(err)}`, true, { cause: err });
    }
    try {
      await this.prepare(nc);
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
    this.nc = nc;
    nc.closed().then((err) => {
      if (this.nc !== nc) return;
      this.fail(new SinkError(`NATS connection to ${this.name} closed${err ? `: ${this.describe(err)}` : ''}`, true), 0);
    }, () => {});
  }

  /** Checks JetStream and the stream (creating it), reads where the stream ends, and sets the resync state. */
  private async prepare(nc: NatsConnection): Promise<void> {
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: ACK_TIMEOUT_MS });
    } catch (err) {
      if (isJetStreamDisabled(err)) {
        throw new SinkError(`JetStream is not enabled on NATS ${this.name} (run nats-server with -js, or enable it for the account)`, false, { cause: err });
      }
      throw this.classify(err, 'asking NATS for JetStream');
    }
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(this.stream);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND)) throw this.classify(err, `reading stream ${this.stream}`);
      if (!this.createStream) {
        throw new SinkError(`stream ${this.stream} does not exist on NATS ${this.name} (creating it is turned off: create=false)`, false);
      }
      const subjects = streamSubjects(this.pattern);
      try {
        info = await jsm.streams.add({ name: this.stream, subjects: [subjects], storage: StorageType.File });
      } catch (err2) {
        throw this.classify(err2, `creating stream ${this.stream}`, false);
      }
      this.notice(`created the JetStream stream ${this.stream} (subjects ${subjects}, file storage) on ${this.target.display}`);
    }
    const filters = info.config.subjects ?? [];
    if (!filters.some((f) => captures(f, this.pattern))) {
      throw new SinkError(`stream ${this.stream} on NATS ${this.name} captures ${filters.length ? filters.join(', ') : 'no subjects'}, not the subjects ${this.pattern.join('.')} we publish (template ${this.template}): add that subject to the stream or choose another stream or template`, false);
    }
    const payload = nc.info?.max_payload ?? Infinity;
    const perStream = info.config.max_msg_size > 0 ? info.config.max_msg_size : Infinity;
    this.maxSize = Math.min(payload, perStream);

    const lastSeq = info.state.last_seq;
    let lastId: string | null = null;
    if (info.state.messages > 0) {
      try {
        const last = await jsm.streams.getMessage(this.stream, { seq: lastSeq });
        lastId = last?.header.get('Nats-Msg-Id') || null;
      } catch (err) {
        throw this.classify(err, `reading the last message of stream ${this.stream}`);
      }
    }
    // The batches not confirmed before are written again, in order; the ones of their messages up to the
    // stream's last message are stored (the chain keeps the stream a prefix of our order).
    // (Ids a resync knew to be stored and that were not written again yet come first: they are older.)
    const ids = [...(this.resync?.stored ?? []), ...this.unconfirmed.flat()];
    const at = lastId === null ? -1 : ids.lastIndexOf(lastId);
    this.resync = { lastId, lastSeq, stored: new Set(at === -1 ? [] : ids.slice(0, at + 1)), skipped: 0 };
    if (lastId !== null && at === -1 && this.lastConfirmedId !== null && lastId !== this.lastConfirmedId) {
      this.notice(`the last message of stream ${this.stream} (id ${lastId}) is not one this sink sent: another writer publishes to it? Each publisher needs a stream of its own (?stream=NAME): messages of another writer make ours fail and be sent again`);
    }
    this.unconfirmed = [];
    this.previousId = null;
    this.lastSeq = lastSeq;
    this.serialMode = true;
    this.serial = { sending: Promise.resolve(), queued: 0 };
    this.js = jetstream(nc, { timeout: ACK_TIMEOUT_MS });
  }

  /** A SinkError for `err`, met while `doing`. */
  private classify(err: unknown, doing: string, retryableDefault = true): SinkError {
    if (err instanceof SinkError) return err;
    if (isAuthorization(err) || isPermission(err)) {
      return new SinkError(`NATS ${this.name} refused ${doing}: ${this.describe(err)}`, false);
    }
    if (err instanceof JetStreamApiError) {
      const api = err.apiError();
      const nonRetryable = api.err_code === JS_NOT_ENABLED_FOR_ACCOUNT || api.err_code === JS_NOT_ENABLED
        || api.err_code === MESSAGE_EXCEEDS_MAXIMUM || api.code === 401 || api.code === 403;
      return new SinkError(`${doing} on NATS ${this.name} failed: ${this.describe(err)} (JetStream error ${api.err_code})`,
        nonRetryable ? false : retryableDefault, { cause: err });
    }
    return new SinkError(`${doing} on NATS ${this.name} failed: ${this.describe(err)}`, true, { cause: err });
  }

  write(batch: SinkBatch): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const ids = batch.messages.map((m) => m.id);
      this.unconfirmed.push(ids);
      const record: PendingBatch = { ids, remaining: 0, error: null, settled: false, resolve, reject };
      this.pending.push(record);
      if (this.failure || !this.js) {
        this.fail(this.failure ?? new SinkError(`NATS sink ${this.name} is not connected`, true), this.pending.length - 1);
        return;
      }
      // Whatever is too large fails the batch before any of it is sent.
      const { skipped, sends } = this.plan(batch.messages);
      for (const p of sends) {
        // The headers take well under 256 bytes besides the ids and the class: encoded only near the limit.
        const bound = p.message.body.length + 256 + p.message.id.length + (p.expect.lastMsgID?.length ?? 0) + p.message.route.class.length;
        if (bound <= this.maxSize) continue;
        const size = (p.headers as MsgHdrsImpl).encode().length + p.message.body.length;
        if (size > this.maxSize) {
          const payload = this.nc?.info?.max_payload ?? Infinity;
          const which = this.maxSize < payload ? `stream ${this.stream}'s max_msg_size` : `the server's max_payload`;
          this.fail(new SinkError(`message ${p.message.id} is ${size} bytes (headers and JSON body), more than the ${this.maxSize} bytes NATS ${this.name} takes (${which}): it can never be published`, false), this.pending.length - 1);
          return;
        }
      }
      const resync = this.resync;
      if (resync) {
        for (const id of skipped) resync.stored.delete(id);
        resync.skipped += skipped.length;
        if (sends.length > 0) {
          if (resync.skipped > 0) {
            this.notice(`${resync.skipped} message${resync.skipped === 1 ? '' : 's'} written again after the reconnect ${resync.skipped === 1 ? 'was' : 'were'} already in stream ${this.stream} (up to ${resync.lastId}): not sent twice`);
          }
          this.resync = null;
        }
      }
      record.remaining = sends.length;
      if (sends.length === 0) this.settle();
      if (this.serialMode || this.serial.queued > 0) {
        this.sendSerially(record, sends);
        return;
      }
      if (sends.length > 0) this.previousId = sends[sends.length - 1]!.message.id;
      const js = this.js;
      for (const p of sends) {
        js.publish(p.subject, p.message.body, { msgID: p.message.id, expect: p.expect, headers: p.headers, timeout: ACK_TIMEOUT_MS })
          .then(() => this.acked(record), (err) => this.publishFailed(record, p.message, err));
      }
    });
  }

  /**
   * Sends a batch's messages one at a time after the batches queued before it, each expecting the stream's
   * last sequence as the acks have moved it; a batch stored whole with no duplicate ends serialMode.
   */
  private sendSerially(record: PendingBatch, sends: Planned[]): void {
    const js = this.js!;
    const serial = this.serial;
    serial.queued++;
    serial.sending = serial.sending.then(async () => {
      let duplicates = 0;
      let left = false;
      // Done with this batch (before its confirmation: a write that lets in is sent as the mode then says).
      const leave = () => {
        if (left) return;
        left = true;
        serial.queued--;
        if (this.serial === serial && !record.error && sends.length > 0 && duplicates === 0) this.serialMode = false;
      };
      try {
        for (let i = 0; i < sends.length; i++) {
          const p = sends[i]!;
          // A later connect() replaced this chain; or the batch failed (and so did every later one).
          if (this.serial !== serial || record.error) return;
          p.headers.delete('Nats-Expected-Last-Msg-Id');
          p.expect = { lastSequence: this.lastSeq };
          let ack: PubAck;
          try {
            ack = await js.publish(p.subject, p.message.body, { msgID: p.message.id, expect: p.expect, headers: p.headers, timeout: ACK_TIMEOUT_MS });
          } catch (err) {
            this.publishFailed(record, p.message, err);
            return;
          }
          if (this.serial !== serial) return;
          if (ack.duplicate) {
            duplicates++;
          } else {
            this.lastSeq = ack.seq;
            this.previousId = p.message.id;
          }
          if (i === sends.length - 1) leave();
          this.acked(record);
        }
      } finally {
        leave();
      }
    });
  }

  /**
   * Which messages to send, each with what the stream must end with, and which to confirm unsent: while
   * resyncing (nothing sent since connect), those known to be stored, and those of the stream's last
   * message's replication stream up to it when it is in this batch.
   */
  private plan(messages: SinkMessage[]): { skipped: string[]; sends: Planned[] } {
    const skipped: string[] = [];
    let i = 0;
    const resync = this.resync;
    let toSend = messages;
    if (resync) {
      for (; i < messages.length && resync.stored.has(messages[i]!.id); i++) skipped.push(messages[i]!.id);
      const at = resync.lastId === null ? -1 : messages.findIndex((m, j) => j >= i && m.id === resync.lastId);
      // Up to the stream's last message, those of its replication stream are stored (each stream's messages
      // are in the stream in their order); another's may not be: a cluster's shards, read again after a
      // restart, interleave another way. Those are sent (one the stream holds is acknowledged as a duplicate).
      const last = streamOf(resync.lastId ?? '');
      toSend = [];
      for (; i <= at; i++) {
        if (streamOf(messages[i]!.id) === last) skipped.push(messages[i]!.id);
        else toSend.push(messages[i]!);
      }
      toSend.push(...messages.slice(i));
      i = 0;
    }
    const sends: Planned[] = [];
    let previous = this.previousId;
    for (; i < toSend.length; i++) {
      const message = toSend[i]!;
      const headers = natsHeaders();
      headers.set('Content-Type', 'application/json');
      headers.set('Redistap-Class', message.route.class);
      // What the msgID and expect options set, set here too so that the size check counts them.
      headers.set('Nats-Msg-Id', message.id);
      let expect: Planned['expect'];
      if (resync && sends.length === 0) {
        expect = { lastSequence: resync.lastSeq };
        headers.set('Nats-Expected-Last-Sequence', String(resync.lastSeq));
      } else if (previous !== null) {
        expect = { lastMsgID: previous };
        headers.set('Nats-Expected-Last-Msg-Id', previous);
      } else {
        expect = {};
      }
      previous = message.id;
      sends.push({ message, subject: this.route(message.route), headers, expect });
    }
    return { skipped, sends };
  }

  private acked(record: PendingBatch): void {
    // A duplicate ack (duplicate: true) is a confirmation too: the message is in the stream.
    if (record.settled || record.error) return;
    record.remaining--;
    if (record.remaining === 0) this.settle();
  }

  private publishFailed(record: PendingBatch, message: SinkMessage, err: unknown): void {
    if (record.settled || record.error) return;
    const index = this.pending.indexOf(record);
    if (index === -1) return;
    let sinkError: SinkError;
    if (err instanceof JetStreamApiError && err.code === MESSAGE_EXCEEDS_MAXIMUM) {
      sinkError = new SinkError(`message ${message.id} is larger than stream ${this.stream} takes (its max_msg_size) on NATS ${this.name}: it can never be published`, false, { cause: err });
    } else if (isAuthorization(err) || isPermission(err)) {
      sinkError = new SinkError(`NATS ${this.name} refused publishing message ${message.id}: ${this.describe(err)}`, false, { cause: err });
    } else if ((err as { name?: string })?.name === 'JetStreamNotEnabled') {
      // What the client makes of "no responders" to a publish: no stream captures the subject (any more).
      sinkError = new SinkError(`publishing message ${message.id} on NATS ${this.name} failed: no stream captures ${this.route(message.route)} (stream ${this.stream} deleted?)`, true, { cause: err });
    } else {
      const code = err instanceof JetStreamApiError ? err.code : 0;
      const hint = code === WRONG_LAST_MSG_ID || code === WRONG_LAST_SEQUENCE
        ? ': the stream did not end with the message before it (an earlier one failed, or another writer published to the stream)' : '';
      sinkError = new SinkError(`publishing message ${message.id} to stream ${this.stream} on NATS ${this.name} failed: ${this.describe(err)}${hint}`, true, { cause: err });
    }
    this.fail(sinkError, index);
  }

  /** Fails the batch at `from` and every later one (the chain makes their messages fail anyway). */
  private fail(err: SinkError, from: number): void {
    if (!this.failure) this.failure = err;
    for (let i = from; i < this.pending.length; i++) {
      const record = this.pending[i]!;
      if (!record.error) record.error = err;
    }
    this.settle();
  }

  /** Settles the batches at the front that are done, in order. */
  private settle(): void {
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      if (head.error) {
        // It and all after it fail; their ids stay unconfirmed.
        for (const record of this.pending) {
          record.settled = true;
          record.reject(record.error ?? head.error);
        }
        this.pending = [];
        return;
      }
      if (head.remaining > 0) return;
      head.settled = true;
      this.pending.shift();
      if (head.ids.length > 0) this.lastConfirmedId = head.ids[head.ids.length - 1]!;
      const at = this.unconfirmed.indexOf(head.ids);
      if (at !== -1) this.unconfirmed.splice(at, 1);
      head.resolve();
    }
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = null;
    this.js = null;
    if (!nc) return;
    this.fail(new SinkError(`NATS sink ${this.name} was closed`, true), 0);
    try {
      if (!nc.isClosed()) {
        await Promise.race([nc.drain(), new Promise((r) => setTimeout(r, 5_000).unref())]);
      }
    } catch {
      // closing anyway
    }
    try {
      if (!nc.isClosed()) await nc.close();
    } catch {
      // never rejects
    }
  }
}

/** The replication stream a message's id names: publish's ids begin with its replid (`<replid>-<offset>-<seq>...`). */
function streamOf(id: string): string {
  return id.slice(0, id.indexOf('-') + 1);
}

function isAuthorization(err: unknown): boolean {
  for (let e = err as { name?: string; message?: string; cause?: unknown } | undefined, n = 0; e && n < 4; e = e.cause as typeof e, n++) {
    if (e.name === 'AuthorizationError' || e.name === 'UserAuthenticationExpiredError' || /authorization violation/i.test(e.message ?? '')) return true;
  }
  return false;
}

function isPermission(err: unknown): boolean {
  return (err as { name?: string })?.name === 'PermissionViolationError';
}

function isJetStreamDisabled(err: unknown): boolean {
  if ((err as { name?: string })?.name === 'JetStreamNotEnabled') return true;
  return err instanceof JetStreamApiError && (err.code === JS_NOT_ENABLED_FOR_ACCOUNT || err.code === JS_NOT_ENABLED);
}

/** A sink publishing every message to NATS JetStream (see the top of this file for the URL and the guarantees). */
export function natsSink(url: string, options: NatsSinkOptions = {}): Sink {
  return new NatsSink(url, options);
}
