// Sorted-set scores stored as text, read the way Redis's strtod reads them (inf/-inf included).

export function parseScoreText(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'inf' || t === '+inf' || t === 'infinity' || t === '+infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  return Number(t);
}
