// Step results inside a core (RDB or RESP) and the error state its exports report.

export const R_CONT: i32 = 0; // progress made; run the next step
export const R_NEED: i32 = 1; // the step needs bytes that have not arrived; nothing was consumed
export const R_FULL: i32 = 2; // the event buffer (or scratch) must be drained first; nothing was consumed
export const R_DONE: i32 = 3; // the RDB ended
export const R_ERR: i32 = 4;

export let errCode: i32 = 0;
export let errDetail: i64 = 0;
export let errOffset: i64 = 0;

/** Records the first error; later ones are ignored so the report names the root cause. */
export function fail(code: i32, detail: i64, offset: i64): i32 {
  if (errCode == 0) {
    errCode = code;
    errDetail = detail;
    errOffset = offset;
  }
  return R_ERR;
}

export function clearError(): void {
  errCode = 0; errDetail = 0; errOffset = 0;
}
