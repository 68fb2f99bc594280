// A loopback TCP proxy in front of a real server, for what the network does and a server alone does not: it
// forwards every byte both ways, unchanged and in order, and lets a test stop reading from the server for a
// while (a slow link: the server's writes wait, as they would) or reset the client's connection (an RST).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface ProxiedConnection {
  /** Our side of the client's connection (resetAndDestroy() sends the client an RST). */
  client: Socket;
  /** Our connection to the server. */
  server: Socket;
  /** Bytes read from the server and written to the client so far. */
  readonly fromServer: number;
  /** Stops reading from the server: what it sends waits in its socket buffers (and then in the server). */
  hold(): void;
  /** Reads from the server again, forwarding what waited. */
  release(): void;
}

export interface TcpProxy {
  port: number;
  connections: ProxiedConnection[];
  /** Called after each chunk from the server is forwarded. */
  onServerData: ((conn: ProxiedConnection) => void) | null;
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port to 127.0.0.1:targetPort. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const connections: ProxiedConnection[] = [];
  const proxy: TcpProxy = {
    port: 0,
    connections,
    onServerData: null,
    close: () => new Promise<void>((resolve) => {
      for (const c of connections) {
        c.client.destroy();
        c.server.destroy();
      }
      listener.close(() => resolve());
    }),
  };
  const listener: Server = createServer((client) => {
    const server = createConnection({ host: '127.0.0.1', port: targetPort });
    let fromServer = 0;
    let held = false;
    let draining = false;
    const flow = () => { if (held || draining) server.pause(); else server.resume(); };
    const conn: ProxiedConnection = {
      client,
      server,
      get fromServer() { return fromServer; },
      hold: () => { held = true; flow(); },
      release: () => { held = false; flow(); },
    };
    connections.push(conn);
    client.pipe(server);
    server.on('data', (d: Buffer) => {
      fromServer += d.length;
      if (!client.write(d)) {
        draining = true;
        flow();
        client.once('drain', () => { draining = false; flow(); });
      }
      proxy.onServerData?.(conn);
    });
    server.on('end', () => client.end());
    server.on('error', () => client.destroy());
    client.on('error', () => server.destroy());
    client.on('close', () => server.destroy());
    server.on('close', () => { if (!client.writableEnded) client.destroy(); });
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  proxy.port = (listener.address() as { port: number }).port;
  return proxy;
}
