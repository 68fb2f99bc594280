// Where and how to connect: redis://[user:password@]host[:port] or rediss:// for TLS.

export interface RedisEndpoint {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
}

export function parseRedisUrl(url: string): RedisEndpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`not a Redis URL: ${url} (expected redis://[user:password@]host[:port] or rediss://...)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new TypeError(`unsupported scheme ${u.protocol} in ${url}: use redis:// or rediss:// (TLS)`);
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
