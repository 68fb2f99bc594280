// withBackoff: attempts again after failures it is told to retry, with delays doubling up to a bound,
// and stops on a failure it is not, or when its signal ends the waiting.
import { describe, expect, it } from 'vitest';
import { withBackoff } from '../src/node/backoff.js';

describe('withBackoff', () => {
  it('attempts again after retryable failures, the delay doubling up to its bound, and resolves with the answer', async () => {
    const delays: number[] = [];
    const answer = await withBackoff(async (before) => {
      if (before < 4) throw new Error(`failure ${before}`);
      return `answer after ${before}`;
    }, (_err, delay) => {
      delays.push(delay);
      return true;
    }, { initialDelayMs: 1, maxDelayMs: 4 });
    expect(answer).toBe('answer after 4');
    expect(delays).toEqual([1, 2, 4, 4]);
  });

  it('rejects at once with a failure not retried', async () => {
    let attempts = 0;
    await expect(withBackoff(async () => {
      attempts++;
      throw new Error('fatal');
    }, () => false)).rejects.toThrow('fatal');
    expect(attempts).toBe(1);
  });

  it('rejects with the last failure once its signal aborts the waiting', async () => {
    const abort = new AbortController();
    let attempts = 0;
    const done = withBackoff(async () => {
      attempts++;
      throw new Error(`failure ${attempts}`);
    }, () => true, { initialDelayMs: 60_000, signal: abort.signal });
    await new Promise((r) => setTimeout(r, 20));
    abort.abort();
    await expect(done).rejects.toThrow('failure 1');
    expect(attempts).toBe(1);
  });
});
