// The error a sync stops with when repeating would not cure what went wrong.

/** A failure that repeating would not cure: the sync stops with it. */
export class SyncError extends Error {
  override name = 'SyncError';
}
