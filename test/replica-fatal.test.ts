// A snapshot the parser cannot read recurs on every full sync: the replica ends with the parser's error
// instead of reconnecting forever. No real server sends a corrupt snapshot, so a scripted master on
// loopback answers the handshake and sends hand-made bytes: a valid header, then an unknown type code.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RdbError } from '../src/core/errors.js';
import { Replica } from '../src/replica/replica.js';
import type { ReplicaEvent } from '../src/replica/events.js';

const REPLID = 'a'.repeat(40);
// "REDIS0011", then type 0x55 (no such type) for a key "k".
const SNAPSHOT = Buffer.concat([Buffer.from('REDIS0011'), Buffer.from([0x55, 1, 0x6b])]);

/** The name of the first complete command (an array of bulk strings) in `text`, and what follows it. */
function takeCommand(text: string): { name: string; rest: string } | null {
  const lines = text.split('\r\n');
  const count = Number(lines[0]!.slice(1));
  if (!text.startsWith('*') || lines.length < 2 + count * 2) return null;
  return { name: lines[2]!.toUpperCase(), rest: lines.slice(1 + count * 2).join('\r\n') };
}

describe('a master whose snapshot cannot be parsed', () => {
  let server: Server;
  let connections = 0;

  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      let buffered = '';
      socket.on('data', (d) => {
        buffered += d.toString('latin1');
        for (let next = takeCommand(buffered); next; next = takeCommand(buffered)) {
          buffered = next.rest;
          if (next.name === 'PING') socket.write('+PONG\r\n');
          else if (next.name === 'REPLCONF') socket.write('+OK\r\n');
          else if (next.name === 'PSYNC') socket.write(Buffer.concat([Buffer.from(`+FULLRESYNC ${REPLID} 0\r\n$${SNAPSHOT.length}\r\n`), SNAPSHOT]));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('ends the replica with the RdbError (offset and reason) after one attempt', async () => {
    const port = (server.address() as { port: number }).port;
    const replica = new Replica({ url: `redis://127.0.0.1:${port}`, reconnect: { initialDelayMs: 10 }, signal: AbortSignal.timeout(3000) });
    const events: ReplicaEvent[] = [];
    const error = await (async () => {
      for await (const e of replica) events.push(e);
    })().then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(RdbError);
    expect(error).toMatchObject({ kind: 'unknown-type', offset: 9 });
    expect(connections).toBe(1);
    expect(events.map((e) => e.type)).toEqual(['link-up', 'full-sync-start', 'flush', 'link-down']);
    expect(events[3]).toMatchObject({ reconnectInMs: null });
  });
});
