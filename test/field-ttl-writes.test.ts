// Writes of hash field TTLs for a target without them: HSETEX as HSET of its fields, TTL-only commands
// left out. The inputs are the forms Redis 8.2 replicated in a by-hand session (HPEXPIRE → HPEXPIREAT,
// HSETEX PX → PXAT), and Valkey 9.0's HSETEX syntax.
import { describe, expect, it } from 'vitest';
import { isFieldTtlWrite, withoutFieldTtls } from '../src/sync/field-ttl-writes.js';

const bytes = (args: string[]) => args.map((a) => new TextEncoder().encode(a));
const text = (args: Uint8Array[] | null) => args && args.map((a) => new TextDecoder().decode(a));

describe('field TTL writes for a target without field TTLs', () => {
  it.each([
    [['hsetex', 'h', 'PXAT', '1795252725064', 'FIELDS', '2', 'e', '5', 'f', '6'], ['HSET', 'h', 'e', '5', 'f', '6']],
    [['hsetex', 'h', 'FNX', 'KEEPTTL', 'FIELDS', '1', 'g', '7'], ['HSET', 'h', 'g', '7']],
    // Valkey 9.0: key and field conditions, then the TTL; a field may be called FIELDS.
    [['HSETEX', 'h', 'NX', 'FXX', 'EX', '10', 'FIELDS', '1', 'FIELDS', 'v'], ['HSET', 'h', 'FIELDS', 'v']],
    // Not well formed (3 fields announced, 1 given): left as it is, for the target to refuse.
    [['hsetex', 'h', 'FIELDS', '3', 'a', '1'], ['hsetex', 'h', 'FIELDS', '3', 'a', '1']],
  ])('%j becomes %j', (args, want) => {
    expect(isFieldTtlWrite(args[0]!.toLowerCase())).toBe(true);
    expect(text(withoutFieldTtls(args[0]!.toLowerCase(), bytes(args)))).toEqual(want);
  });

  it.each([
    ['HPEXPIREAT', 'h', '1795252775050', 'NX', 'FIELDS', '1', 'b'],
    ['hpersist', 'h', 'FIELDS', '1', 'a'],
    ['HEXPIRE', 'h', '100', 'FIELDS', '1', 'a'],
    ['HGETEX', 'h', 'PERSIST', 'FIELDS', '1', 'c'],
  ])('%s (TTLs only) is left out', (...args) => {
    expect(isFieldTtlWrite(args[0]!.toLowerCase())).toBe(true);
    expect(withoutFieldTtls(args[0]!.toLowerCase(), bytes(args))).toBeNull();
  });

  it('other hash writes are not field TTL writes', () => {
    for (const name of ['hset', 'hdel', 'hgetdel', 'hincrby', 'hmset']) expect(isFieldTtlWrite(name)).toBe(false);
  });
});
