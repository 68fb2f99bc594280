// Value spans (valueSpans / OPT_VALUE_SPANS): where each key's value lies in the file, so that a copy can
// hand a server the value exactly as the file holds it. Checked on every fixture, whole and cut into
// pieces: type byte + span + version + CRC64 is a DUMP payload of the same value. (RESTORE of such
// payloads into a live server: rdb-restore-commands.test.ts.)
import { describe, expect, it } from 'vitest';
import type { RdbEntry } from '../src/rdb/entry.js';
import { parseDump } from '../src/rdb/parse.js';
import { bytesOf, EXPECTED_ERRORS, fixtures, type Fixture } from './helpers/fixtures.js';
import { CHECKSUM_BROKEN, parseAll, rawPayload, rdbVersionOf, spansOf } from './helpers/keyspace.js';

const readable = fixtures().filter((f) => !(f.name in EXPECTED_ERRORS) || CHECKSUM_BROKEN.has(f.name));

function entriesOf(f: Fixture): Promise<RdbEntry[]> {
  return parseAll(bytesOf(f), !CHECKSUM_BROKEN.has(f.name));
}

describe('value spans', () => {
  it.each(readable.map((f) => [f.name, f] as const))('%s: one span per key; each is a DUMP payload of the same value, however the file is cut', async (_name, f) => {
    const file = bytesOf(f);
    const verify = !CHECKSUM_BROKEN.has(f.name);
    const spans = await spansOf(file, 0, verify);
    const entries = await entriesOf(f);
    expect(spans).toHaveLength(entries.length);
    expect(await spansOf(file, 7, verify)).toEqual(spans);
    if (file.length < 200_000) expect(await spansOf(file, 1, verify)).toEqual(spans);
    const version = rdbVersionOf(file);
    for (let i = 0; i < spans.length; i++) {
      const entry = entries[i]!;
      if (entry.type === 'module') continue; // the core skips module values; a payload of one is opaque too
      const again = await parseDump(rawPayload(file, spans[i]!, version), entry.key);
      expect({ ...again, db: entry.db, expireMs: entry.expireMs, idleSeconds: entry.idleSeconds, lfuFreq: entry.lfuFreq }).toEqual(entry);
    }
  });
});
