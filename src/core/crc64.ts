// CRC-64/Jones (Redis's RDB and DUMP checksum) of bytes held in JS, computed by the RDB core: the bytes
// are copied into its input area a block at a time.
import { instantiateRdbCore, loadRdbCoreSync, type RdbCoreExports } from './wasm.js';

const BLOCK = 1 << 16;

export class Crc64 {
  private readonly core: RdbCoreExports;
  private readonly at: number;

  constructor() {
    this.core = instantiateRdbCore(loadRdbCoreSync());
    this.core.init(BLOCK, 64, 4096, 0, 0, 0, 0, -1);
    this.at = this.core.inputPtr();
  }

  /** The CRC of `bytes`, continuing from `crc` (0 for a fresh checksum). */
  update(crc: bigint, bytes: Uint8Array): bigint {
    for (let from = 0; from < bytes.length; from += BLOCK) {
      const block = bytes.subarray(from, from + BLOCK);
      new Uint8Array(this.core.memory.buffer, this.at, block.length).set(block);
      crc = this.core.crc64(crc, this.at, block.length);
    }
    return BigInt.asUintN(64, crc);
  }
}
