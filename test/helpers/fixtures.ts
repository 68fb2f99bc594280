// The shared RDB fixture corpus (../shared/fixtures/rdb): each <name>.rdb with, when a server could load
// it, the expected canonical lines in <name>.jsonl.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURE_DIR = fileURLToPath(new URL('../../../shared/fixtures/rdb/', import.meta.url));

export interface Fixture {
  name: string;
  path: string;
  size: number;
  /** Expected canonical lines, or null when no server could load the file. */
  expected: string[] | null;
}

export function fixtures(): Fixture[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.rdb'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -4);
      const jsonl = `${FIXTURE_DIR}${name}.jsonl`;
      return {
        name,
        path: FIXTURE_DIR + f,
        size: statSync(FIXTURE_DIR + f).size,
        expected: existsSync(jsonl) ? readFileSync(jsonl, 'utf8').split('\n').filter((l) => l !== '') : null,
      };
    });
}

export function fixture(name: string): Fixture {
  const f = fixtures().find((x) => x.name === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return f;
}

export function bytesOf(f: Fixture): Uint8Array {
  return new Uint8Array(readFileSync(f.path));
}

/** Fixtures that are broken on purpose, and the error each must produce; every other fixture parses. */
export const EXPECTED_ERRORS: Record<string, string> = {
  'pub-redis-corrupt_ziplist': 'ziplist-corrupt',
  'pub-librdb-future_v19': 'unsupported-version',
  'pub-librdb-redis_ent_opcode_ram_lru': 'unknown-type',
  'pub-librdb-invalid_chksum_v8': 'checksum',
};
