// Keys that appear more than once in one database of a file. Redis refuses to load such a file (rdb.c:
// "Duplicated key found in RDB file"), so a reader should say so rather than print both copies silently.
//
// The formats written from entries or key records in JS note their keys here; `parse --format jsonl`
// has the core's JSON writer note them in its own instance. Both count with the core's check
// (assembly/duplicate-keys.ts: a 64-bit fingerprint a key, 8 bytes, partitioned as they arrive, counted
// per bucket in cache-sized tables), here in a small instance of the module that holds only that: each
// key's bytes are copied in and noted, one call a key. At most 4,194,304 keys are noted (32 MiB); the keys
// after those are not checked, and gap() says so (as it does when memory ran out). A fingerprint shared by two different keys would count as a duplicate:
// for n keys in a db that happens with probability about n²/2^65 (5·10⁻⁷ at the cap).
import * as abi from '../core/abi.js';
import { applyTestDuplicateCap, duplicateCheckGapOf, instantiateRdbCore, loadRdbCoreSync, repeatedKeysOf, type DuplicateCheckGap, type RdbCoreExports } from '../core/wasm.js';

export class DuplicateKeys {
  private readonly core: RdbCoreExports;
  private memory: Uint8Array;
  private readonly note: RdbCoreExports['duplicatesAdd']; // called once a key: looked up once
  /** Where the next key may be written, if not longer than DUPLICATES_STAGE (0: no memory for more). */
  private at: number;

  constructor() {
    this.core = instantiateRdbCore(loadRdbCoreSync());
    // The parser's own buffers at their smallest: this instance never parses.
    if (!this.core.init(4096, 64, 0, abi.MODE_FILE, 0, 0, 0, -1)) throw new RangeError('could not set up the duplicate-key check memory');
    applyTestDuplicateCap(this.core);
    if (!this.core.duplicatesEnable()) {
      throw new RangeError('could not set up the duplicate-key check memory');
    }
    this.note = this.core.duplicatesAdd;
    this.at = this.core.duplicatesSpace(abi.DUPLICATES_STAGE);
    this.memory = new Uint8Array(this.core.memory.buffer);
  }

  /** Notes the key bytes[start, end) of `db`. */
  add(db: number, bytes: Uint8Array, start = 0, end = bytes.length): void {
    const n = end - start;
    const at = n <= abi.DUPLICATES_STAGE ? this.at : this.core.duplicatesSpace(n);
    if (at === 0) return; // no memory for more: the keys noted so far are still counted
    let memory = this.memory;
    // (memory.grow detaches the buffer: the view is then empty)
    if (memory.length === 0) memory = this.memory = new Uint8Array(this.core.memory.buffer);
    if (n > 32) memory.set(bytes.subarray(start, end), at);
    else for (let i = 0; i < n; i++) memory[at + i] = bytes[start + i]!;
    this.at = this.note(db, at, n);
  }

  /** For each db with duplicates, how many keys repeat one noted before in it (copies after the first). */
  perDb(): Map<number, number> {
    return repeatedKeysOf(this.core);
  }

  /** After perDb(): null when the check covered every key, else how many it covered and why not all. */
  gap(): DuplicateCheckGap | null {
    return duplicateCheckGapOf(this.core);
  }
}
