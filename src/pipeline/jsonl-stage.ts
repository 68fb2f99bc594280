// tail's stage (stage.ts): the source's events as JSON lines (docs/tail-jsonl.md): each snapshot key as
// its canonical line (as `redistap parse` writes it), each write as a command line, a MULTI/EXEC block
// between a multi and an exec line, and the control lines of what changes a consumer's data (a full sync,
// a flush, a resume, a new replication ID). The filter, when given, leaves out writes and keys; control
// lines always come.
import { canonicalLine, jsonBytes } from '../rdb/canonical-json.js';
import type { ReplicaCommand, ReplicaEvent } from '../replica/events.js';
import type { EventFilter } from './event-filter.js';
import type { Stage, StageOutput } from './stage.js';

/** A write or a MULTI/EXEC block of the source. */
interface Writes {
  replid: string;
  commands: ReplicaCommand[];
  /** MULTI's first byte for a block, null for a single command. */
  firstOffset: number | null;
  offset: number;
}

export class JsonlStage implements Stage<Uint8Array> {
  /** `filter`: null for every write and key (made before the stage, from the source's command table). */
  constructor(private readonly filter: EventFilter | null) {}

  route(sink: string): unknown {
    return { format: 'jsonl', filter: this.filter?.record ?? null, sink };
  }

  handle(event: ReplicaEvent, output: StageOutput<Uint8Array>): boolean {
    switch (event.type) {
      case 'entry': {
        const { entry } = event;
        if (this.filter && !this.filter.snapshotKey(entry.db, entry.key, entry.type)) return false;
        const line = canonicalLine(entry);
        if (line !== null) output.emit(Buffer.from(`${line}\n`));
        return false;
      }
      case 'command': return this.writes({ replid: event.replid, commands: [event.command], firstOffset: null, offset: event.command.offset }, output);
      case 'transaction': return this.writes(event, output);
      default: {
        const line = controlLine(event);
        if (line !== null) output.emit(Buffer.from(line));
        return false;
      }
    }
  }

  /** The lines of the writes the filter selects; true when it left them all out. */
  private writes(writes: Writes, output: StageOutput<Uint8Array>): boolean {
    const commands = this.filter ? writes.commands.filter((c) => this.selects(c, output)) : writes.commands;
    if (commands.length === 0) return true;
    const { replid, firstOffset, offset } = writes;
    output.emit(Buffer.from(firstOffset === null ? commandLine(replid, commands[0]!) : transactionLines(replid, commands, firstOffset, offset)));
    return false;
  }

  private selects(command: ReplicaCommand, output: StageOutput<Uint8Array>): boolean {
    const chosen = this.filter!.write(command.name, command.db, command);
    if (chosen === 'keys-unknown') {
      const warning = this.filter!.unknownKeysWarning(command.name, command.offset);
      if (warning) output.warn(warning);
      return false;
    }
    return chosen !== null;
  }
}

function commandLine(replid: string, c: ReplicaCommand): string {
  return `{"replid":"${replid}","offset":${c.offset},"db":${c.db},"cmd":[${c.args.map(jsonBytes).join(',')}]}\n`;
}

/** A MULTI/EXEC block: its commands between a multi line (MULTI's first byte, how many follow) and an exec line. */
function transactionLines(replid: string, commands: ReplicaCommand[], firstOffset: number, offset: number): string {
  return `{"event":"multi","replid":"${replid}","offset":${firstOffset},"commands":${commands.length}}\n` +
    commands.map((c) => commandLine(replid, c)).join('') +
    `{"event":"exec","replid":"${replid}","offset":${offset}}\n`;
}

/**
 * The control line of a lifecycle event that changes what a consumer of the lines holds, or null.
 * Connection events (link up, link down) change nothing there and go to standard error only.
 */
function controlLine(e: ReplicaEvent): string | null {
  switch (e.type) {
    case 'full-sync-start': return `{"event":"full-sync-start","replid":"${e.replid}","offset":${e.offset},"reason":"${e.reason}"}\n`;
    case 'flush': return `{"event":"flush","db":${e.db},"cause":"${e.cause}"}\n`;
    case 'full-sync-end': return `{"event":"full-sync-end","replid":"${e.replid}","offset":${e.offset}}\n`;
    case 'resumed': return `{"event":"resumed","replid":"${e.replid}","offset":${e.offset}}\n`;
    case 'replid-changed': return `{"event":"replid-changed","from":"${e.from}","to":"${e.to}","offset":${e.offset}}\n`;
    default: return null;
  }
}
