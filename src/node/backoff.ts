// Retrying with a growing pause: what waits for a server that may come back (a master failing over, a
// sentinel naming no replica yet) does alike.
import { sleep } from './abortable-sleep.js';

export interface BackoffOptions {
  /** Delays between attempts: doubling from initialDelayMs (100) to maxDelayMs (5000). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Ends the waiting: the last failure is thrown. */
  signal?: AbortSignal;
}

/**
 * What `attempt` resolves with, called again (with the number of attempts before) after each failure
 * that `retryable` accepts (given the delay before the next attempt); rejects with a failure it does not,
 * or with the last one once `signal` ends the waiting.
 */
export async function withBackoff<T>(attempt: (attemptsBefore: number) => Promise<T>, retryable: (err: unknown, delayMs: number) => boolean,
  { initialDelayMs = 100, maxDelayMs = 5000, signal }: BackoffOptions = {}): Promise<T> {
  for (let delay = initialDelayMs, before = 0; ; delay = Math.min(delay * 2, maxDelayMs), before++) {
    try {
      return await attempt(before);
    } catch (err) {
      if (signal?.aborted || !retryable(err, delay)) throw err;
      await sleep(delay, signal ?? new AbortController().signal);
      if (signal?.aborted) throw err;
    }
  }
}
