// Sorted-set scores: binary in the event, or stored as text and read the way Redis's strtod reads them
// (inf/-inf included).
import { F_SCORE_TEXT } from './abi.js';
import type { EventBatch } from './event-batch.js';

export function parseScoreText(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'inf' || t === '+inf' || t === 'infinity' || t === '+infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  return Number(t);
}

/** The score of E_ZSET_MEMBER event i; `scoreText` is the E_SCORE_TEXT that preceded it, if any. */
export function memberScore(b: EventBatch, i: number, scoreText: string | null): number {
  return b.flags(i) & F_SCORE_TEXT ? parseScoreText(scoreText ?? '') : b.score(i);
}
