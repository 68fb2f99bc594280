// Things worth telling the user that do not stop a command.
import type { DuplicateCheckGap } from '../core/wasm.js';

export function warn(message: string): void {
  process.stderr.write(`redistap: warning: ${message}\n`);
}

export function warnTrailing(bytes: number): void {
  if (bytes > 0) warn(`${bytes} bytes after the end of the RDB were ignored (e.g. a replication EOF mark)`);
}

/** One warning for all module values a format leaves out, saying why. */
export function warnModulesLeftOut(count: number, why: string): void {
  if (count > 0) warn(`${count} module value(s) left out: ${why}`);
}

/** When the duplicate-key check did not cover every key: keys past its cap, or memory ran out. */
export function warnDuplicateCheckGap(gap: DuplicateCheckGap | null): void {
  if (!gap) return;
  warn(gap.reason === 'cap'
    ? `the duplicate-key check covered only the first ${gap.keys} keys: the keys after them were not checked`
    : `the duplicate-key check was incomplete (out of memory after ${gap.keys} keys): duplicates may be missed`);
}

/** One warning for the keys seen again in their db: each copy was written, but Redis would not load the file. */
export function warnDuplicateKeys(repeats: Map<number, number>): void {
  const perDb = [...repeats].sort(([a], [b]) => a - b);
  if (perDb.length === 0) return;
  const total = perDb.reduce((n, [, count]) => n + count, 0);
  const where = perDb.map(([db, count]) => `${count} in db ${db}`).join(', ');
  warn(`${total} keys repeat one written before in the same db (${where}): every copy was written, but Redis refuses `
    + 'to load such a file ("Duplicated key found in RDB file")');
}
