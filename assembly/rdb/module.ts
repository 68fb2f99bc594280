// Module values (MODULE_2 keys and MODULE_AUX payloads) are skipped without knowing the module: since
// RDB 8 a module's serialization is a sequence of typed opcodes ending in EOF, so it is self-describing.
import { ERR_MODULE_CORRUPT, ERR_BAD_LENGTH } from "../../src/core/abi";
import { begin, commit, readLen, lenKind, LEN_PLAIN, skip, short, cur, offsetOf, pos } from "./reader";
import { readString, S_READY, S_SHORT, S_BIG, S_FULL, M_SKIP } from "./strings";
import { MOD_EOF, MOD_SINT, MOD_UINT, MOD_FLOAT, MOD_DOUBLE, MOD_STRING } from "./types";
import { R_CONT, R_NEED, R_FULL, R_DONE, R_ERR, fail } from "../status";

/** Size in bytes of the module value skipped last (valid after R_DONE). */
export let moduleBytes: i64 = 0;
let moduleStart: i64 = 0;

export function moduleBegin(): void {
  moduleStart = offsetOf(pos);
}

/** Skips one module opcode and its payload; R_DONE after the EOF opcode. */
export function moduleStep(): i32 {
  begin();
  const at = cur;
  const op = readLen();
  if (short) return R_NEED;
  if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at));
  if (op == MOD_EOF) {
    commit();
    moduleBytes = offsetOf(pos) - moduleStart;
    return R_DONE;
  }
  if (op == MOD_SINT || op == MOD_UINT) {
    readLen();
    if (short) return R_NEED;
    if (lenKind != LEN_PLAIN) return fail(ERR_BAD_LENGTH, 0, offsetOf(at));
  } else if (op == MOD_FLOAT) {
    if (!skip(4)) return R_NEED;
  } else if (op == MOD_DOUBLE) {
    if (!skip(8)) return R_NEED;
  } else if (op == MOD_STRING) {
    const r = readString(M_SKIP);
    if (r == S_SHORT) return R_NEED;
    if (r == S_FULL) return R_FULL;
    if (r != S_READY && r != S_BIG) return R_ERR;
  } else {
    return fail(ERR_MODULE_CORRUPT, <i64>op, offsetOf(at));
  }
  commit();
  return R_CONT;
}
