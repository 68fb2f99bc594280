// A scripted master on loopback, for what no real server sends (a corrupt snapshot, a reply to PSYNC that
// does not answer it): it answers the handshake as Redis does (PING, AUTH, REPLCONF) and hands PSYNC to
// the test's script; any other command gets Redis's unknown-command error (a client's INFO, say).
import { createServer, type Server, type Socket } from 'node:net';

export interface ScriptedMaster {
  port: number;
  /** Connections that asked for PSYNC so far (replication links, not a client's INFO). */
  readonly connections: number;
  close(): Promise<void>;
}

/** The first complete command (an array of bulk strings) in `text` and what follows it, or null. */
function takeCommand(text: string): { args: string[]; rest: string } | null {
  const lines = text.split('\r\n');
  const count = Number(lines[0]!.slice(1));
  if (!text.startsWith('*') || lines.length < 2 + count * 2) return null;
  const args = Array.from({ length: count }, (_, i) => lines[2 + 2 * i]!);
  return { args, rest: lines.slice(1 + count * 2).join('\r\n') };
}

/** Starts a master whose answer to PSYNC (its arguments as given) is `psync`. */
export async function startScriptedMaster(psync: (socket: Socket, args: string[]) => void): Promise<ScriptedMaster> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (d) => {
      buffered += d.toString('latin1');
      for (let next = takeCommand(buffered); next; next = takeCommand(buffered)) {
        buffered = next.rest;
        const name = next.args[0]!.toUpperCase();
        if (name === 'PING') socket.write('+PONG\r\n');
        else if (name === 'AUTH' || (name === 'REPLCONF' && next.args[1]?.toUpperCase() !== 'ACK')) socket.write('+OK\r\n');
        else if (name === 'PSYNC') {
          connections++;
          psync(socket, next.args.slice(1));
        } else if (name !== 'REPLCONF') socket.write(`-ERR unknown command '${next.args[0]}'\r\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    get connections() { return connections; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
