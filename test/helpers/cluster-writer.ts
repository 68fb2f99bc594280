// Writes to a real Redis Cluster as a cluster client does: each command to the node serving its key,
// following MOVED (and ASK while its slot is being migrated); through a failover it tries the other nodes, and waits out CLUSTERDOWN (no master
// serves the slot yet) and TRYAGAIN. The cluster alone decides where a key goes: nothing of ours computes it.
import { isError, RedisClient, type Reply } from './redis-server.js';

const CALL_TIMEOUT_MS = 2000;

export class ClusterWriter {
  private readonly clients = new Map<number, RedisClient>();

  /** `ports`: the cluster's nodes, any of which may be asked first. */
  constructor(private readonly ports: number[]) {}

  /** Sends a command (its first argument after the name is the key) where the cluster serves it. */
  async call(...args: string[]): Promise<Reply> {
    const deadline = Date.now() + 30_000;
    let port: number | undefined;
    for (let hop = 0; Date.now() < deadline; hop++) {
      const reply = await this.tryCall(port ?? this.ports[hop % this.ports.length]!, args);
      if (reply === undefined || (isError(reply) && /^(CLUSTERDOWN|TRYAGAIN)/.test(reply.error))) {
        port = undefined; // that node is gone, or no master serves the slot yet: ask again, elsewhere
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      // A slot being migrated: a key its old node no longer has is asked for at the new one, once, after ASKING.
      const ask = isError(reply) ? /^ASK \d+ [^:]+:(\d+)$/.exec(reply.error) : null;
      if (ask) return this.asking(Number(ask[1]), args);
      const moved = isError(reply) ? /^MOVED \d+ [^:]+:(\d+)$/.exec(reply.error) : null;
      if (!moved) return reply;
      port = Number(moved[1]);
    }
    throw new Error(`${args.join(' ')}: the cluster did not take it within 30 s`);
  }

  /** ASKING and the command on one node's connection (ASKING holds for the next command only). */
  private async asking(port: number, args: string[]): Promise<Reply> {
    const c = await this.client(port);
    if (!c) throw new Error(`${args.join(' ')}: the node ${port} an ASK names does not answer`);
    await c.ok('ASKING');
    return c.call(...args);
  }

  /** A client of one node (kept), or undefined when it does not answer. */
  async client(port: number): Promise<RedisClient | undefined> {
    let c = this.clients.get(port);
    if (!c) {
      c = await RedisClient.connect(port).catch(() => undefined);
      if (c) this.clients.set(port, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }

  private async tryCall(port: number, args: string[]): Promise<Reply | undefined> {
    const c = await this.client(port);
    if (!c) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => { timer = setTimeout(resolve, CALL_TIMEOUT_MS); });
    const reply = await Promise.race([c.call(...args), late]);
    clearTimeout(timer);
    if (reply === undefined) {
      c.close();
      this.clients.delete(port);
    }
    return reply;
  }
}
