// --metrics [host:]port: Prometheus metrics of a long-running command (tail, sync, publish) over HTTP at
// /metrics (prom-client). Each metric reads the command's status when scraped, so the command itself does
// nothing per event for them.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { CliError } from './cli-error.js';

/** One metric: a counter (only grows) or a gauge, read from the command's status when scraped. */
export interface MetricSpec {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  value: () => number;
}

/** A listening metrics endpoint. */
export interface MetricsServer {
  /** http://host:port/metrics */
  url: string;
  close(): Promise<void>;
}

export const METRICS_OPTION_HELP = 'serve Prometheus metrics at http://HOST:PORT/metrics (HOST defaults to 127.0.0.1; 0.0.0.0 for every interface)';

/** `[host:]port` → where to listen. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-f:]+\]|[^:]+):)?(\d+)$/i.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new CliError(`--metrics expects [host:]port, e.g. 9121 or 0.0.0.0:9121, got "${text}"`);
  return { host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
}

/** Registers `specs` (prefixed redistap_) and Node's process metrics, and serves them at `address`. */
export async function serveMetrics(address: string, specs: MetricSpec[]): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(address);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'redistap_' });
  for (const spec of specs) {
    const name = `redistap_${spec.name}`;
    if (spec.type === 'counter') {
      new Counter({ name, help: spec.help, registers: [registry], collect() { this.reset(); this.inc(spec.value()); } });
    } else {
      new Gauge({ name, help: spec.help, registers: [registry], collect() { this.set(spec.value()); } });
    }
  }
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end('see /metrics\n');
      return;
    }
    registry.metrics().then((text) => {
      response.writeHead(200, { 'Content-Type': registry.contentType }).end(text);
    }, (err: Error) => response.writeHead(500).end(`${err.message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new CliError(`--metrics ${address}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const bound = server.address();
  const actualPort = typeof bound === 'object' && bound ? bound.port : port;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}/metrics`, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
