// Failures that would recur on every attempt end the replica after one attempt instead of reconnecting
// forever: a snapshot the parser cannot read, a reply to PSYNC that does not answer what was asked. No real
// server sends either, so a scripted master on loopback answers the handshake and then misbehaves.
import { afterEach, describe, expect, it } from 'vitest';
import { RdbError } from '../src/core/errors.js';
import { ReplicaError } from '../src/replica/link.js';
import { Replica } from '../src/replica/replica.js';
import type { Checkpoint, ReplicaEvent } from '../src/replica/events.js';
import { startScriptedMaster, type ScriptedMaster } from './helpers/scripted-master.js';

const REPLID = 'a'.repeat(40);
// "REDIS0011", then type 0x55 (no such type) for a key "k".
const SNAPSHOT = Buffer.concat([Buffer.from('REDIS0011'), Buffer.from([0x55, 1, 0x6b])]);

/** Runs a replica of `master` to its end: its events, and the error that ended it. */
async function runReplica(master: ScriptedMaster, checkpoint: Checkpoint | null = null) {
  const replica = new Replica({ url: `redis://127.0.0.1:${master.port}`, checkpoint, reconnect: { initialDelayMs: 10 }, signal: AbortSignal.timeout(3000) });
  const events: ReplicaEvent[] = [];
  const error = await (async () => {
    for await (const e of replica) events.push(e);
  })().then(() => null, (err: unknown) => err);
  return { replica, events, error };
}

describe('a master that misbehaves in a way retrying cannot cure', () => {
  let master: ScriptedMaster;
  afterEach(() => master.close());

  it('ends the replica with the RdbError (offset and reason) of a snapshot it cannot parse, after one attempt', async () => {
    master = await startScriptedMaster((socket) => {
      socket.write(Buffer.concat([Buffer.from(`+FULLRESYNC ${REPLID} 0\r\n$${SNAPSHOT.length}\r\n`), SNAPSHOT]));
    });
    const { events, error } = await runReplica(master);
    expect(error).toBeInstanceOf(RdbError);
    expect(error).toMatchObject({ kind: 'unknown-type', offset: 9 });
    expect(master.connections).toBe(1);
    expect(events.map((e) => e.type)).toEqual(['link-up', 'full-sync-start', 'flush', 'link-down']);
    expect(events[3]).toMatchObject({ reconnectInMs: null });
  });

  it('ends the replica when the bytes after a diskless snapshot\'s RDB end are not the $EOF: mark it announced', async () => {
    // An empty RDB (EOF opcode, checksum 0: not checked) between a mark and 40 bytes that differ from it.
    const rdb = Buffer.concat([Buffer.from('REDIS0011'), Buffer.from([0xff]), Buffer.alloc(8)]);
    master = await startScriptedMaster((socket) => {
      socket.write(Buffer.concat([Buffer.from(`+FULLRESYNC ${REPLID} 0\r\n$EOF:${'m'.repeat(40)}\r\n`), rdb, Buffer.from('x'.repeat(40))]));
    });
    const { events, error } = await runReplica(master);
    expect(error).toBeInstanceOf(ReplicaError);
    expect((error as Error).message).toContain('not the $EOF: mark');
    expect(master.connections).toBe(1);
    expect(events.map((e) => e.type).filter((t) => t !== 'rdb-progress')).toEqual(['link-up', 'full-sync-start', 'flush', 'link-down']);
  });

  it('refuses +CONTINUE in reply to a request for a full sync: no dataset without a snapshot, no checkpoint', async () => {
    master = await startScriptedMaster((socket) => socket.write(`+CONTINUE ${REPLID}\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n`));
    const { replica, events, error } = await runReplica(master);
    expect(error).toBeInstanceOf(ReplicaError);
    expect((error as ReplicaError).message).toContain('+CONTINUE');
    expect((error as ReplicaError).message).toContain('PSYNC ? -1');
    expect(master.connections).toBe(1);
    expect(events.map((e) => e.type)).toEqual(['link-up', 'link-down']);
    expect(replica.checkpoint).toBeNull();
  });

  it('refuses a +FULLRESYNC whose replication ID is not one, and a +CONTINUE naming one that is not', async () => {
    master = await startScriptedMaster((socket) => socket.write('+FULLRESYNC ../../etc 0\r\n'));
    const full = await runReplica(master);
    expect(full.error).toBeInstanceOf(ReplicaError);
    expect((full.error as Error).message).toContain('malformed reply to PSYNC');
    expect(master.connections).toBe(1);
    await master.close();

    master = await startScriptedMaster((socket) => socket.write('+CONTINUE not-a-replid\r\n'));
    const resumed = await runReplica(master, { replid: REPLID, offset: 100, db: 0 });
    expect(resumed.error).toBeInstanceOf(ReplicaError);
    expect((resumed.error as Error).message).toContain('malformed reply to PSYNC');
    expect(master.connections).toBe(1);
    expect(resumed.replica.checkpoint).toEqual({ replid: REPLID, offset: 100, db: 0 });
  });
});
