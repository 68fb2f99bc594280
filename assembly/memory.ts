// Linear-memory layout of one parser instance:
// [input buffer][event buffer][scratch → grows][key log → grows][arena → grows].
// Nothing here uses the AssemblyScript runtime allocator: the buffers are fixed regions past
// __heap_base; scratch grows (memory.grow) up to a caller-set limit; the arena (used only by the
// in-module writers, addressed by offsets) is moved up whenever scratch or the key log needs its room,
// and the key log (duplicate-keys.ts, only with the JSON writer's duplicate check) whenever scratch does.

export let inputBase: usize = 0;
export let inputCap: u32 = 0;
export let eventsBase: usize = 0;
export let eventCap: u32 = 0; // in records
export let scratchBase: usize = 0;
export let scratchLimit: usize = 0; // bytes scratch may grow to

/** Next free scratch byte (relative to scratchBase). */
export let scratchTop: usize = 0;
/**
 * Scratch bytes that must survive the next call into the core: a blob still being filled or walked.
 * Everything above it is reclaimed when a call starts, because the caller drained every event by then.
 */
export let scratchKeep: usize = 0;

const PAGE: usize = 65536;

function ensureMemory(end: usize): bool {
  const have = (<usize>memory.size()) * PAGE;
  if (end <= have) return true;
  const pages = <i32>((end - have + PAGE - 1) / PAGE);
  return memory.grow(pages) >= 0;
}

export function layout(inCap: u32, evCap: u32, scratchMax: usize): bool {
  inputBase = (__heap_base + 15) & ~<usize>15;
  inputCap = inCap;
  // 16 bytes between the input and the events: a core may keep a sentinel byte just past its input.
  eventsBase = (inputBase + inCap + 16 + 15) & ~<usize>15;
  eventCap = evCap;
  scratchBase = (eventsBase + <usize>evCap * 32 + 15) & ~<usize>15;
  scratchLimit = scratchMax;
  scratchTop = 0;
  scratchKeep = 0;
  return ensureMemory(scratchBase + 65536);
}

/** Called at the start of every feed/resume: scratch above the kept region is free again. */
export function scratchReclaim(): void {
  scratchTop = scratchKeep;
}

export const SCRATCH_OK: i32 = 0;
export const SCRATCH_DRAIN: i32 = 1; // no room until the caller drains events (then it is reclaimed)
export const SCRATCH_TOO_LARGE: i32 = 2; // no room even when empty

/**
 * Makes room for n more scratch bytes at scratchTop. The caller then writes at scratchPtr() and calls
 * scratchCommit(n). DRAIN means: return ST_EVENTS_FULL and re-run the step after the drain.
 */
export function scratchReserve(n: usize, eventsPending: bool): i32 {
  const need = scratchTop + n;
  if (need > scratchLimit || need < scratchTop) {
    if (eventsPending && scratchTop > scratchKeep) return SCRATCH_DRAIN;
    return SCRATCH_TOO_LARGE;
  }
  const above = logBase != 0 ? logBase : arenaBase;
  if (above != 0 && scratchBase + need > above) {
    if (!moveAbove((scratchBase + need + ARENA_GAP - above + 15) & ~<usize>15)) return SCRATCH_TOO_LARGE;
  } else if (!ensureMemory(scratchBase + need)) return SCRATCH_TOO_LARGE;
  return SCRATCH_OK;
}

// ---------------------------------------------------------------- arena (canonical JSON writer)

/** Start of the arena, 0 while no writer uses it. Holders keep offsets, never addresses. */
export let arenaBase: usize = 0;
/** Bytes of the arena in use. */
export let arenaUsed: usize = 0;
const ARENA_GAP: usize = 1 << 20;

export function arenaInit(): bool {
  arenaBase = (scratchBase + 65536 + ARENA_GAP + 15) & ~<usize>15;
  arenaUsed = 0;
  return ensureMemory(arenaBase + 65536);
}

function moveArena(to: usize): bool {
  to = (to + 15) & ~<usize>15;
  if (!ensureMemory(to + arenaUsed + 64)) return false;
  memory.copy(to, arenaBase, arenaUsed);
  arenaBase = to;
  return true;
}

/** Known-good end of memory, so arenaEnsure rarely asks memory.size(). */
let memoryEnd: usize = 0;

/**
 * Makes room for n more arena bytes (after arenaUsed), plus 64 bytes of slack so word-wise readers may
 * look a little past the end; false when memory cannot grow.
 */
export function arenaEnsure(n: usize): bool {
  const end = arenaBase + arenaUsed + n + 64;
  if (end <= memoryEnd) return true;
  if (!ensureMemory(end)) return false;
  memoryEnd = (<usize>memory.size()) * PAGE;
  return true;
}

/** Moves the key log, if any, and the arena up by delta (a multiple of 16). */
function moveAbove(delta: usize): bool {
  if (!moveArena(arenaBase + delta)) return false;
  if (logBase != 0) {
    memory.copy(logBase + delta, logBase, logUsed);
    logBase += delta;
    logEnd = logEndBelow(arenaBase);
  }
  return true;
}

// ---------------------------------------------------------------- key log (duplicate-keys.ts)

/** Start of the key log, 0 while there is none. */
export let logBase: usize = 0;
/** Bytes of the key log in use. */
export let logUsed: usize = 0;
/** Where the key log must end: the arena's start. */
let logEnd: usize = 0;
const LOG_GAP: usize = 16 << 20;
/** The key log's bytes at most, working memory above it included (tests lower it to run out of memory). */
let logLimit: usize = <usize>-1;

/** Sets the key log's limit (0: none): a test's way to make it run out of memory. */
export function setLogLimit(n: usize): void {
  logLimit = n == 0 ? <usize>-1 : n;
  if (n != 0 && logEnd - logBase > n) logEnd = logBase + n;
}

/** Starts an empty key log where the arena is, and moves the arena up (call after arenaInit). */
export function logInit(): bool {
  logBase = arenaBase;
  logUsed = 0;
  logEnd = logBase;
  return logEnsure(65536);
}

/**
 * Makes room for n more key log bytes (after logUsed), for the log itself or for working memory above
 * it (the duplicate check's); when the arena is in the way, it moves up, leaving a gap of address space
 * (memory nobody wrote takes none).
 */
export function logEnsure(n: usize): bool {
  const end = logBase + logUsed + n;
  return end <= logEnd || logGrow(end);
}

function logGrow(end: usize): bool {
  if (end - logBase > logLimit) return false;
  if (!moveArena(end + max(LOG_GAP, logUsed >> 2))) return false;
  logEnd = logEndBelow(arenaBase);
  return true;
}

/** Where the log may end below `arena`: there, or sooner under a test's limit. */
function logEndBelow(arena: usize): usize {
  return logLimit == <usize>-1 ? arena : min(arena, logBase + logLimit);
}

/** Log offset up to which memory is there for the key log. */
export function logRoom(): usize {
  return logEnd - logBase;
}

export function setLogUsed(n: usize): void {
  logUsed = n;
}

export function setArenaUsed(n: usize): void {
  arenaUsed = n;
}

@inline export function scratchPtr(): usize {
  return scratchBase + scratchTop;
}

@inline export function scratchCommit(n: usize): void {
  scratchTop += n;
}

export function scratchSetKeep(end: usize): void {
  scratchKeep = end;
}
