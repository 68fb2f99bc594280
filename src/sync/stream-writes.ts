// Stream writes for a target before Redis 7.0 (RDB 10), which keeps no entries-read, entries-added or
// max-deleted-ID counters: XGROUP CREATE/SETID and XSETID go without those options. Nothing is lost,
// since such a target has nowhere to keep them.
const COUNTER_OPTIONS = new Set(['ENTRIESREAD', 'ENTRIESADDED', 'MAXDELETEDID']);
/** Where options start: XGROUP <sub> <key> <group> <id> [...], XSETID <key> <id> [...]. */
const OPTIONS_AT: Record<string, number> = { xgroup: 5, xsetid: 3 };

const utf8 = new TextDecoder();

/** Whether the command (lower-case name) may carry counter options. */
export function setsStreamCounters(name: string): boolean {
  return OPTIONS_AT[name] !== undefined;
}

/** The command's arguments without the counter options and their values (the same array when it has none). */
export function withoutStreamCounters(name: string, args: Uint8Array[]): Uint8Array[] {
  const from = OPTIONS_AT[name];
  if (from === undefined) return args;
  const kept = args.slice(0, from);
  for (let i = from; i < args.length; i++) {
    if (COUNTER_OPTIONS.has(utf8.decode(args[i]).toUpperCase())) i++; // and its value
    else kept.push(args[i]!);
  }
  return kept.length === args.length ? args : kept;
}
