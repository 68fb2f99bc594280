// Where and how to connect: redis://[user:password@]host[:port] or rediss:// for TLS. A URL may carry a
// password: messages show it through redactUrl only.

export interface RedisEndpoint {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
}

/** `url` as a message may show it: whatever stands between the scheme and the last "@" (user, password) is "***". */
export function redactUrl(url: string): string {
  const start = /^[a-z][a-z0-9+.-]*:(\/\/)?/i.exec(url)?.[0].length ?? 0;
  const at = url.lastIndexOf('@');
  return at >= start ? `${url.slice(0, start)}***${url.slice(at)}` : url;
}

/** host:port as an address is written, an IPv6 host in brackets ([::1]:6379). */
export function hostPort(host: string, port: number | string): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function parseRedisUrl(url: string): RedisEndpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`not a Redis URL: ${redactUrl(url)} (expected redis://[user:password@]host[:port] or rediss://...)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new TypeError(`unsupported scheme ${u.protocol} in ${redactUrl(url)}: use redis:// or rediss:// (TLS)`);
  }
  const endpoint: RedisEndpoint = {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    tls: u.protocol === 'rediss:',
  };
  // A user name always goes with a password, empty for an ACL user marked nopass (AUTH user "").
  if (u.username) endpoint.username = decodeURIComponent(u.username);
  if (u.password || u.username) endpoint.password = decodeURIComponent(u.password);
  return endpoint;
}
