// Redis Cluster's hash slot of a key: CRC16 (XMODEM: polynomial 0x1021, initial 0) of the key, or of its
// hash tag (the bytes between the first '{' and the next '}', when not empty), modulo 16384. Keys that
// share a tag share a slot, which is how multi-key commands stay on one shard.

export const HASH_SLOTS = 16384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** The key's hash slot, 0..16383. */
export function hashSlot(key: Uint8Array): number {
  const open = key.indexOf(0x7b); // {
  if (open >= 0) {
    const close = key.indexOf(0x7d, open + 1); // }
    if (close > open + 1) return crc16(key, open + 1, close) & (HASH_SLOTS - 1);
  }
  return crc16(key) & (HASH_SLOTS - 1);
}

/** Whether a key's slot is in `ranges` (inclusive slot ranges, as a shard serves them). */
export function inSlots(ranges: ReadonlyArray<readonly [number, number]>): (key: Uint8Array) => boolean {
  const member = new Uint8Array(HASH_SLOTS);
  for (const [first, last] of ranges) member.fill(1, first, last + 1);
  return (key) => member[hashSlot(key)] === 1;
}

/** Slot ranges as a cluster lists them: 0-5460,6000. */
export function slotRanges(slots: ReadonlyArray<readonly [number, number]>): string {
  return slots.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(',') || 'none';
}

let tags: string[] | null = null;

/**
 * For each slot, the shortest base-36 string whose slot it is (computed once, on first use): a key
 * `<base>{<tag>}…` lives in that slot, so something kept per slot can sit beside the slot's data, inside
 * the same MULTI/EXEC as its writes. Strings of up to 4 characters cover all 16384 slots.
 */
export function slotTag(slot: number): string {
  if (!tags) {
    const found: Array<string | undefined> = new Array(HASH_SLOTS);
    let missing = HASH_SLOTS;
    const encoder = new TextEncoder();
    for (let length = 1; missing > 0 && length <= 4; length++) {
      for (let n = 0; missing > 0 && n < 36 ** length; n++) {
        const tag = n.toString(36).padStart(length, '0');
        const slot = crc16(encoder.encode(tag)) & (HASH_SLOTS - 1);
        if (found[slot] === undefined) {
          found[slot] = tag;
          missing--;
        }
      }
    }
    if (missing > 0) throw new Error(`no tag of up to 4 characters for ${missing} slots`);
    tags = found as string[];
  }
  return tags[slot]!;
}
