// RDB files built byte by byte in tests, for cases whose expected output is derived by hand.

/** An RDB 9 file: header, the given body, EOF and a zero (unchecked) checksum. */
export function handmade(...body: number[][]): Uint8Array {
  return handmadeVersion(9, ...body);
}

/** An RDB file of the given version (1-99): header, the body, EOF and a zero (unchecked) checksum. */
export function handmadeVersion(version: number, ...body: number[][]): Uint8Array {
  const magic = [...`REDIS${String(version).padStart(4, '0')}`].map((c) => c.charCodeAt(0));
  return new Uint8Array([...magic, ...body.flat(), 0xff, 0, 0, 0, 0, 0, 0, 0, 0]);
}

/** A short RDB string (length < 64, one length byte) of ASCII text. */
export const str = (s: string): number[] => [s.length, ...[...s].map((c) => c.charCodeAt(0))];

/** A short RDB string holding the given bytes. */
export const blob = (bytes: number[]): number[] => [bytes.length, ...bytes];

/** A listpack of short ASCII strings (each < 64 bytes: 1-byte encoding, 1-byte backlen). */
export function listpack(...items: string[]): number[] {
  const entries = items.flatMap((s) => [0x80 | s.length, ...[...s].map((c) => c.charCodeAt(0)), 1 + s.length]);
  const total = 6 + entries.length + 1;
  return [total & 0xff, (total >> 8) & 0xff, 0, 0, items.length & 0xff, items.length >> 8, ...entries, 0xff];
}
