// Writes that set or clear hash field TTLs (Redis 7.4+, Valkey 9.0+), for a target without them: HSETEX
// becomes the HSET of its fields, and the commands that only change TTLs are left out. The target's
// fields still end as the source's, because the source propagates each field's expiry as an HDEL.
const TTL_ONLY = new Set(['hexpire', 'hpexpire', 'hexpireat', 'hpexpireat', 'hpersist', 'hgetex']);

const utf8 = new TextDecoder();
const HSET = new TextEncoder().encode('HSET');

/** Whether the command (lower-case name) sets or clears field TTLs. */
export function isFieldTtlWrite(name: string): boolean {
  return name === 'hsetex' || TTL_ONLY.has(name);
}

/**
 * The write as a target without field TTLs should apply it: HSETEX key [conditions] [TTL] FIELDS n f v ...
 * as HSET key f v ... (the source applied it, so its conditions held), null for a TTL-only command.
 * An HSETEX without a well-formed FIELDS part is returned as it is, for the target to refuse.
 */
export function withoutFieldTtls(name: string, args: Uint8Array[]): Uint8Array[] | null {
  if (TTL_ONLY.has(name)) return null;
  const at = args.findIndex((a, i) => i >= 2 && utf8.decode(a).toUpperCase() === 'FIELDS');
  const count = at < 0 ? NaN : Number(utf8.decode(args[at + 1] ?? new Uint8Array()));
  if (!Number.isSafeInteger(count) || count <= 0 || args.length !== at + 2 + 2 * count) return args;
  return [HSET, args[1]!, ...args.slice(at + 2)];
}
