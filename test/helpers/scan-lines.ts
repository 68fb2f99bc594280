// What the scan-mode tests read back: tail's -o FILE in scan mode (docs/tail-jsonl.md: snapshot key lines,
// upsert and delete lines, full-sync-start), read as it grows and applied as a consumer would: a
// full-sync-start drops everything, a key line or an upsert sets the key's canonical line, a delete
// removes it. Read incrementally, a line at a time: a 50 MB hash makes lines of 50 MB, and the file
// holds one per read of it.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';

const STATE_HEAD = /^\{"event":"(?:upsert|delete)","replid":"[0-9a-f]{40}","offset":\d+,/;
/** A cluster's lines name the shard (and a key's slot) before db: `"shard":"<id>","slot":N,`. */
const SHARD_FIELDS = /^\{"shard":"([0-9a-f]+)","slot":\d+,/;
/** db and key at the start of a key line (after an upsert's head): a JSON string or {"b64":...}. */
const DB_KEY = /^\{"db":(\d+),"key":("(?:[^"\\]|\\.)*"|\{"b64":"[^"]*"\})/;

export class ScanLines {
  /** Each key's canonical line, by "db key" (from a cluster without its shard and slot). */
  readonly keys = new Map<string, string>();
  /** The shard whose lines set each key (a cluster's). */
  private readonly shardOf = new Map<string, string>();
  /** Lines read per event ('key' for snapshot keys), and upserts per key ("db key"). */
  readonly counts = new Map<string, number>();
  readonly upserts = new Map<string, number>();
  /** The reasons of the full-sync-start lines, in order. */
  readonly fullSyncs: string[] = [];
  private offset = 0;
  private partial: Buffer[] = [];

  constructor(private readonly file: string) {}

  /** Reads what was added to the file since the last call. */
  update(): this {
    if (!existsSync(this.file)) return this;
    const fd = openSync(this.file, 'r');
    try {
      const chunk = Buffer.alloc(1 << 20);
      for (let n; (n = readSync(fd, chunk, 0, chunk.length, this.offset)) > 0;) {
        this.offset += n;
        this.take(chunk.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
    return this;
  }

  /** The canonical line of `key` in `db` (a JSON string's text), if the lines hold it. */
  line(db: number, key: string): string | undefined {
    return this.keys.get(`${db} ${JSON.stringify(key)}`);
  }

  private take(bytes: Buffer): void {
    let from = 0;
    for (let eol = bytes.indexOf(10); eol >= 0; eol = bytes.indexOf(10, from)) {
      this.partial.push(bytes.subarray(from, eol));
      this.apply(Buffer.concat(this.partial).toString());
      this.partial = [];
      from = eol + 1;
    }
    if (from < bytes.length) this.partial.push(Buffer.from(bytes.subarray(from)));
  }

  private apply(line: string): void {
    const event = /^\{"event":"([a-z-]+)"/.exec(line)?.[1] ?? 'key';
    this.counts.set(event, (this.counts.get(event) ?? 0) + 1);
    if (event === 'full-sync-start') {
      // A shard's snapshot replaces its own keys only.
      const { reason, shard } = JSON.parse(line) as { reason: string; shard?: string };
      for (const id of [...this.keys.keys()]) {
        if (shard === undefined || this.shardOf.get(id) === shard) this.keys.delete(id);
      }
      this.fullSyncs.push(reason);
    } else if (event === 'key' || event === 'upsert' || event === 'delete') {
      let canonical = line.replace(STATE_HEAD, '{');
      const shard = SHARD_FIELDS.exec(canonical)?.[1];
      canonical = canonical.replace(SHARD_FIELDS, '{');
      const [, db, key] = DB_KEY.exec(canonical.slice(0, 4096))!;
      const id = `${db} ${key}`;
      if (event === 'delete') {
        this.keys.delete(id);
        return;
      }
      this.keys.set(id, canonical);
      if (shard !== undefined) this.shardOf.set(id, shard);
      if (event === 'upsert') this.upserts.set(id, (this.upserts.get(id) ?? 0) + 1);
    }
  }
}
