// Command names interned per instance: the host turns an ID into a string once, instead of decoding the
// name of every command (a replication stream repeats a handful of names millions of times). Names are
// compared with ASCII case folded, as Redis looks commands up, eight bytes at a time. The table is small
// and never evicts: once it is full (a stream with hundreds of distinct names, or a hostile one), new
// names get ID 0.
import { NAME_IDS } from "../../src/core/resp-abi";

/** Longest name interned, in 64-bit words (Redis's longest command name has 24 characters). */
const WORDS: usize = 4;
const SLOT: usize = 8 + WORDS * 8; // u64 length (0: free), then the folded name, zero-padded
const PROBES: u32 = 8;
const slots: usize = memory.data(<i32>(<usize>NAME_IDS * SLOT), 8);
/** The name being looked up, folded and zero-padded. */
const folded: usize = memory.data(<i32>(WORDS * 8), 8);

// The last short name looked up, as its raw bytes: streams repeat names, and comparing one word is
// cheaper than folding and hashing it again.
let lastRaw: u64 = 0;
let lastLength: usize = 0;
let lastId: u32 = 0;

export function namesReset(): void {
  memory.fill(slots, 0, <usize>NAME_IDS * SLOT);
  lastLength = 0;
}

const ONES: u64 = 0x0101010101010101;
const HIGH: u64 = 0x8080808080808080;

/** The eight bytes with ASCII upper case folded to lower case (SWAR: no branch per byte). */
@inline function foldWord(x: u64): u64 {
  const low7 = x & ~HIGH;
  const atLeastA = low7 + ONES * (0x80 - 0x41);
  const pastZ = low7 + ONES * (0x80 - 0x5b);
  const upper = atLeastA & ~pastZ & ~x & HIGH;
  return x | (upper >> 2);
}

/**
 * The ID of the name in [start, end): 1..NAME_IDS, or 0 when it is too long or the table is full. Reads
 * up to 7 bytes past `end` (masked off): callers pass names followed by at least that much buffer.
 */
export function nameId(start: usize, end: usize): u32 {
  const n = end - start;
  if (n == 0 || n > WORDS * 8) return 0;
  if (n <= 8) {
    const raw = load<u64>(start) & (n == 8 ? ~(<u64>0) : ((<u64>1) << (<u64>n * 8)) - 1);
    if (n == lastLength && raw == lastRaw) return lastId;
    lastId = lookUp(start, n);
    lastRaw = raw;
    lastLength = lastId ? n : 0;
    return lastId;
  }
  return lookUp(start, n);
}

function lookUp(start: usize, n: usize): u32 {
  const words = (n + 7) >> 3;
  let h: u64 = <u64>n;
  for (let k: usize = 0; k < words; k++) {
    let w = load<u64>(start + k * 8);
    const left = n - k * 8;
    if (left < 8) w &= ((<u64>1) << (<u64>left * 8)) - 1;
    w = foldWord(w);
    store<u64>(folded + k * 8, w);
    h = (h ^ w) * 0x9e3779b97f4a7c15;
  }
  const home = <u32>(h >> 56);
  for (let p: u32 = 0; p < PROBES; p++) {
    const index = (home + p) & (NAME_IDS - 1);
    const slot = slots + <usize>index * SLOT;
    const len = <usize>load<u64>(slot);
    if (len == 0) {
      store<u64>(slot, <u64>n);
      memory.copy(slot + 8, folded, words * 8);
      return index + 1;
    }
    if (len == n && sameWords(slot + 8, words)) return index + 1;
  }
  return 0;
}

function sameWords(stored: usize, words: usize): bool {
  for (let k: usize = 0; k < words; k++) if (load<u64>(stored + k * 8) != load<u64>(folded + k * 8)) return false;
  return true;
}
