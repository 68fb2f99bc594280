// Regenerates samples/sample.rdb, the small dump `npm start` analyses, with a real redis-server:
// a private server on a loopback port, a deterministic little "app" data set, SAVE, stop by PID.
// Usage: node scripts/make-sample.mjs [port]   (needs redis-server and redis-cli on PATH)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const port = Number(process.argv[2] ?? 7399);
const dir = mkdtempSync(join(tmpdir(), 'redistap-sample-'));
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--appendonly', 'no'], { stdio: 'ignore' });

function cli(input) {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port)], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

async function waitForServer() {
  for (let i = 0; i < 50; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8' }).stdout.trim() === 'PONG') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('redis-server did not start');
}

// A fixed pseudo-random sequence so the data set is the same every time.
let seed = 42;
const rand = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
const expireAt = 4102444800000; // 2100-01-01, far enough to stay valid

function commands() {
  const c = [];
  for (let i = 1; i <= 200; i++) {
    c.push(`HSET user:${i} name user${i} email user${i}@example.com plan ${['free', 'pro', 'team'][rand(3)]} visits ${rand(1000)}`);
  }
  for (let i = 1; i <= 120; i++) c.push(`SET session:${(i * 7919).toString(16)} ${'x'.repeat(20 + rand(200))} PXAT ${expireAt + i}`);
  for (let i = 1; i <= 50; i++) c.push(`SET cache:page:/article/${i} "${'<p>cached article body</p>'.repeat(5 + rand(40))}"`);
  for (let i = 1; i <= 30; i++) c.push(`INCRBY counter:views:${i} ${rand(100000)}`);
  for (const board of ['daily', 'weekly', 'all-time']) {
    const args = [];
    for (let i = 1; i <= (board === 'all-time' ? 300 : 40); i++) args.push(rand(10000) / 10, `user:${i}`);
    c.push(`ZADD leaderboard:${board} ${args.join(' ')}`);
  }
  for (let q = 1; q <= 3; q++) {
    const jobs = [];
    for (let i = 1; i <= 25 * q * q; i++) jobs.push(`job-${q}-${i}`);
    c.push(`RPUSH queue:jobs:${q} ${jobs.join(' ')}`);
  }
  for (let i = 1; i <= 20; i++) {
    const tags = [];
    for (let t = 0; t < 3 + rand(8); t++) tags.push(['redis', 'db', 'cache', 'wasm', 'js', 'go', 'c', 'rust'][rand(8)]);
    c.push(`SADD tags:article:${i} ${tags.join(' ')}`);
  }
  c.push(`SADD ids:active ${Array.from({ length: 100 }, (_, i) => i * 3).join(' ')}`);
  for (let i = 1; i <= 40; i++) c.push(`XADD events:signup 1700000000000-${i} user user:${i} source ${['web', 'ios', 'android'][rand(3)]}`);
  c.push('XGROUP CREATE events:signup mailer 0');
  c.push('XREADGROUP GROUP mailer worker-1 COUNT 5 STREAMS events:signup >');
  c.push('SELECT 1');
  for (let i = 1; i <= 10; i++) c.push(`SET feature:flag:${i} ${rand(2) ? 'on' : 'off'}`);
  c.push('SELECT 0');
  return c.join('\n') + '\n';
}

try {
  await waitForServer();
  cli('FLUSHALL\n');
  cli(commands());
  cli('SAVE\n');
  copyFileSync(join(dir, 'dump.rdb'), new URL('../samples/sample.rdb', import.meta.url));
  console.log(cli('DBSIZE\n').trim(), 'keys in db 0 written to samples/sample.rdb');
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
