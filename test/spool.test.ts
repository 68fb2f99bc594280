// The spool keeps stream bytes in order in a file nobody else can see, and gives them back chunk by chunk.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Spool } from '../src/replica/spool.js';

describe('Spool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redistap-spool-test-'));
  afterEach(() => expect(readdirSync(dir)).toEqual([])); // the file is unlinked once open
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const drain = (spool: Spool) => {
    const parts: number[] = [];
    for (let c = spool.read(); c; c = spool.read()) parts.push(...c);
    return parts;
  };

  it('returns what was appended, in order, in chunks of at most its read size', () => {
    const spool = new Spool(dir, 7);
    expect(spool.read()).toBeNull();
    spool.append(Uint8Array.of(1, 2, 3));
    spool.append(new Uint8Array(0));
    spool.append(Uint8Array.from({ length: 20 }, (_, i) => 10 + i));
    expect(spool.size).toBe(23);
    expect([...spool.read()!]).toEqual([1, 2, 3, 10, 11, 12, 13]);
    expect(spool.size).toBe(16);
    spool.append(Uint8Array.of(99));
    expect(drain(spool)).toEqual([...Array.from({ length: 16 }, (_, i) => 14 + i), 99]);
    expect(spool.size).toBe(0);
    spool.close();
  });

  it('starts over once emptied, and keeps working after', () => {
    const spool = new Spool(dir, 4);
    spool.append(Uint8Array.of(1, 2, 3, 4, 5));
    expect(drain(spool)).toEqual([1, 2, 3, 4, 5]);
    spool.append(Uint8Array.of(6, 7));
    expect([...spool.read()!]).toEqual([6, 7]);
    expect(spool.read()).toBeNull();
    spool.close();
    expect(spool.size).toBe(0);
  });
});
