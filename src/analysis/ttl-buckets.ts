// Keys by time to live, measured from when the dump was saved (its ctime AUX field): what `TTL key`
// would have said at that moment. Keys whose expire time had already passed were still in the file
// (Redis drops them lazily or when it loads the dump) and are counted apart.

export const TTL_BUCKETS = ['expired', 'under-1h', 'under-1d', 'under-7d', 'longer', 'none'] as const;
export type TtlBucket = (typeof TTL_BUCKETS)[number];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The bucket of a key whose absolute expire time is `expireMs` (null: none) in a dump saved at `savedAtMs`. */
export function ttlBucket(expireMs: number | bigint | null, savedAtMs: number): TtlBucket {
  if (expireMs === null) return 'none';
  const left = Number(expireMs) - savedAtMs;
  if (left < 0) return 'expired'; // Redis: expired once now > when
  if (left < HOUR) return 'under-1h';
  if (left < DAY) return 'under-1d';
  if (left < 7 * DAY) return 'under-7d';
  return 'longer';
}
