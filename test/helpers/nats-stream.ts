// A JetStream stream read back whole, in stream order, by an ordered consumer from its start: what the
// NATS tests compare with what was published.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

export interface StreamMessage {
  seq: number;
  subject: string;
  header(name: string): string;
  body: string;
}

/** Every message of `stream` on the server at `url` (nats://host:port). */
export async function readNatsStream(url: string, stream: string): Promise<StreamMessage[]> {
  const nc = await connect({ servers: url.replace(/^nats:\/\//, ''), reconnect: false, timeout: 3000 });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const out: StreamMessage[] = [];
    if (info.state.messages === 0) return out;
    const consumer = await jsm.jetstream().consumers.get(stream);
    // Not max_bytes: with it, @nats-io/jetstream 3.4's ordered consumer was seen to stop after its first pull.
    const messages = await consumer.consume({ max_messages: 200 });
    const timer = setTimeout(() => messages.stop(), 60_000);
    try {
      for await (const m of messages) {
        const headers = m.headers;
        out.push({ seq: m.seq, subject: m.subject, header: (name) => headers?.get(name) ?? '', body: m.string() });
        if (m.seq >= info.state.last_seq) break;
      }
    } finally {
      clearTimeout(timer);
      messages.stop();
    }
    if (out.length !== info.state.messages) throw new Error(`read ${out.length} of the ${info.state.messages} messages of ${stream}`);
    return out;
  } finally {
    await nc.close();
  }
}

/** How many messages `stream` holds now. */
export async function natsStreamLength(url: string, stream: string): Promise<number> {
  const nc = await connect({ servers: url.replace(/^nats:\/\//, ''), reconnect: false, timeout: 3000 });
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  } catch {
    return 0; // not created yet
  } finally {
    await nc.close();
  }
}
