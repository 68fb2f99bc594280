// Keys as text for line-oriented formats (CSV): printable text as is; a backslash, control characters
// and bytes that are not valid UTF-8 as escapes (\\, \xHH), so every key stays on one line and can be
// turned back into its exact bytes.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function hex(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, '0')}`;
}

/** Length of the valid UTF-8 sequence starting at i, or 0. */
function utf8SequenceAt(b: Uint8Array, i: number): number {
  const lead = b[i]!;
  const n = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 && lead < 0xe0 ? 2 : 0;
  if (n === 0 || i + n > b.length) return 0;
  try {
    strictUtf8.decode(b.subarray(i, i + n));
    return n;
  } catch {
    return 0;
  }
}

export function escapedKey(key: Uint8Array): string {
  let out = '';
  let plainFrom = 0;
  const flush = (to: number) => { if (to > plainFrom) out += strictUtf8.decode(key.subarray(plainFrom, to)); };
  for (let i = 0; i < key.length;) {
    const c = key[i]!;
    if (c >= 0x20 && c < 0x7f && c !== 0x5c) { i++; continue; }
    const n = c >= 0x80 ? utf8SequenceAt(key, i) : 0;
    if (n > 0) { i += n; continue; }
    flush(i);
    out += c === 0x5c ? '\\\\' : hex(c);
    plainFrom = ++i;
  }
  flush(key.length);
  return out;
}
