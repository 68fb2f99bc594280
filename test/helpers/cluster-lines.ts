// What the tests of tail from a Redis Cluster read back: the -o FILE's lines (docs/tail-jsonl.md), the
// keyspace they rebuild (a shard's full-sync-start drops that shard's keys, as a consumer must), whether
// each shard's writes are there once and in order, and a load of writes across every slot that counts
// what the cluster acknowledged.
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { ClusterWriter } from './cluster-writer.js';

export interface Line {
  event?: string;
  key?: string;
  value?: string;
  cmd?: string[];
  shard?: string;
  slot?: number | null;
  slots?: Array<[number, number]>;
  replid?: string;
  offset?: number;
  from?: string;
  to?: string;
}

/** The lines of `file` so far (none when it does not exist yet). */
export function readLines(file: string): Line[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : [];
}

/**
 * The string keyspace the lines rebuild: snapshot keys, then SET, INCR and DEL. A shard's full-sync-start
 * drops the keys that shard's lines had made (a new snapshot of it follows).
 */
export function rebuildFromLines(lines: Line[]): Map<string, string> {
  const keys = new Map<string, { value: string; shard: string | undefined }>();
  for (const l of lines) {
    if (l.event === 'full-sync-start') {
      for (const [key, held] of keys) if (held.shard === l.shard) keys.delete(key);
    } else if (l.key !== undefined) {
      keys.set(l.key, { value: l.value!, shard: l.shard });
    } else if (l.cmd?.[0] === 'SET') {
      keys.set(l.cmd[1]!, { value: l.cmd[2]!, shard: l.shard });
    } else if (l.cmd?.[0] === 'INCR') {
      keys.set(l.cmd[1]!, { value: String(Number(keys.get(l.cmd[1]!)?.value ?? 0) + 1), shard: l.shard });
    } else if (l.cmd?.[0] === 'DEL') {
      for (const k of l.cmd.slice(1)) keys.delete(k);
    }
  }
  return new Map([...keys].map(([key, { value }]) => [key, value] as [string, string]).sort());
}

/**
 * Writes out of place: a write line whose offset is not above the last one of its shard since that shard's
 * last full-sync-start (a repeat, or out of order). Empty when every shard's writes are each once, in order.
 */
export function writesOutOfOrder(lines: Line[]): string[] {
  const last = new Map<string, number>();
  const wrong: string[] = [];
  for (const l of lines) {
    if (l.event === 'full-sync-start') last.delete(l.shard!);
    if (!l.cmd) continue;
    const before = last.get(l.shard!) ?? -1;
    if (l.offset! <= before) wrong.push(`${l.cmd.join(' ')} at offset ${l.offset} of shard ${l.shard} after ${before}`);
    last.set(l.shard!, l.offset!);
  }
  return wrong;
}

/**
 * Writes through a cluster client, one acknowledged before the next, until stopped: SET <tag>:<n> n (each
 * key once, spread over every slot by its name) and, every fifth, INCR of one of a few counters.
 */
export class ClusterLoad {
  /** The keys set and counters' increments, as the cluster acknowledged them. */
  readonly sets = new Map<string, string>();
  readonly increments = new Map<string, number>();
  private stopping = false;
  private readonly running: Promise<void>;

  constructor(writer: ClusterWriter, tag: string) {
    this.running = (async () => {
      for (let n = 0; !this.stopping; n++) {
        await writer.call('SET', `${tag}:${n}`, String(n));
        this.sets.set(`${tag}:${n}`, String(n));
        if (n % 5 === 0) {
          const counter = `${tag}:counter:${n % 7}`;
          await writer.call('INCR', counter);
          this.increments.set(counter, (this.increments.get(counter) ?? 0) + 1);
        }
      }
    })();
  }

  get writes(): number {
    let n = this.sets.size;
    for (const count of this.increments.values()) n += count;
    return n;
  }

  /** Stops after the write on its way; resolves once it is acknowledged. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }
}

/** The local ports of the TCP connections process `pid` holds open (its socket descriptors, found in /proc/net/tcp). */
export function tcpLocalPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const target = (() => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } })();
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const row of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1)) {
      const fields = row.trim().split(/\s+/);
      if (inodes.has(fields[9]!)) ports.push(parseInt(fields[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/** The pids of the processes `pid` forked that are still running (a redis-server's snapshot child). */
export function childProcesses(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}
