// Listens to the sentinels of a Sentinel URL for +switch-master (a failover they finished) and says where
// the named master went: a link to the old one may go on (a demoted master forwards its new master's
// stream to its replicas, under its old replication ID), so a failover is told, not waited for.
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { sleep } from '../node/abortable-sleep.js';
import { RespReplyReader, replyText, type RespValue } from '../resp/replies.js';
import { encodeCommand } from '../resp/encode.js';
import { connectSocket } from './link.js';
import { hostPort } from './redis-url.js';
import { parseSentinelUrl } from './sentinel.js';

const RETRY_MS = 1000;

export class SentinelWatch {
  private socket: Socket | null = null;
  private readonly abort = new AbortController();

  /** `onSwitch`: the master's old and new addresses (host:port), once the sentinels switched it. */
  constructor(private readonly url: string, private readonly tls: ConnectionOptions | undefined,
    private readonly onSwitch: (to: string, from: string) => void) {}

  /** Subscribes through the first sentinel that answers, and again through the next when it goes. */
  start(): void {
    void this.watch();
  }

  stop(): void {
    this.abort.abort();
    this.socket?.destroy();
  }

  private async watch(): Promise<void> {
    const { scheme, sentinels, masterName } = parseSentinelUrl(this.url);
    for (let at = 0; !this.abort.signal.aborted; at = (at + 1) % sentinels.length) {
      const { host, port } = sentinels[at]!;
      try {
        const socket = await connectSocket({ endpoint: { host, port, tls: scheme === 'rediss' }, tls: this.tls, timeoutMs: 5000 });
        this.socket = socket;
        if (this.abort.signal.aborted) socket.destroy();
        await this.listen(socket, masterName);
      } catch {
        // That sentinel is down: the next one is asked.
      }
      await sleep(RETRY_MS, this.abort.signal);
    }
  }

  /** Resolves when the socket closes. */
  private listen(socket: Socket, masterName: string): Promise<void> {
    const replies = new RespReplyReader();
    socket.write(encodeCommand(['SUBSCRIBE', '+switch-master']));
    return new Promise((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        let values: RespValue[];
        try {
          values = replies.write(chunk);
        } catch {
          socket.destroy();
          return;
        }
        for (const value of values) this.message(value, masterName);
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
  }

  /** ["message", "+switch-master", "<name> <old ip> <old port> <new ip> <new port>"] */
  private message(value: RespValue, masterName: string): void {
    if (!Array.isArray(value) || value.length !== 3 || replyText(value[0]!) !== 'message') return;
    const [name, oldIp, oldPort, ip, port] = replyText(value[2]!).split(' ');
    if (name === masterName && ip && port) this.onSwitch(hostPort(ip, port), hostPort(oldIp ?? '', oldPort ?? ''));
  }
}
