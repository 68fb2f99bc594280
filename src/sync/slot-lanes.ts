// Each hash slot's blocks in order, through a target cluster that reshards or fails over under them. A
// block answered MOVED, ASK or TRYAGAIN applied nothing (slot-fence.ts makes every block of a migrating
// slot refused whole), and neither did the blocks of its slot sent after it on that connection: the
// cluster keeps refusing a slot once it moved or while it migrates. So a refused block is sent again, to
// the node MOVED names (or, while the slot migrates, to the same node after a pause), once the slot's
// blocks before it are applied; the slot's later blocks go after it. A slot whose blocks all apply waits
// for nothing: its blocks are pipelined as before.

/** A reply saying the slot is elsewhere (MOVED: where), or on its way there (ASK, TRYAGAIN). */
export interface Redirect {
  redirect: 'MOVED' | 'ASK' | 'TRYAGAIN';
  /** MOVED's node: host and port. */
  node?: { host: string; port: number };
  message: string;
}

export function isRedirect(value: unknown): value is Redirect {
  return typeof value === 'object' && value !== null && 'redirect' in value;
}

/** The redirect an error reply's text says, or null (another error). */
export function redirectOf(message: string): Redirect | null {
  const [code, , address] = message.split(' ');
  if (code === 'ASK' || code === 'TRYAGAIN') return { redirect: code, message };
  if (code !== 'MOVED' || !address) return null;
  const colon = address.lastIndexOf(':');
  return { redirect: 'MOVED', node: { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) }, message };
}

/** How long a slot may keep refusing its blocks before the sync starts over (reading the topology again). */
const DEFAULT_GIVE_UP_MS = 60_000;
const FIRST_PAUSE_MS = 5;
const MAX_PAUSE_MS = 500;

/** A block of a slot not yet applied: the connection it was last sent on (null: waiting to be sent again). */
interface PendingBlock<C> {
  master: C | null;
}

export class SlotLanes<C> {
  /** Each slot's last block: settles once it is applied (or failed). */
  private readonly lanes = new Map<number, Promise<void>>();
  /** Each slot's blocks not yet applied. */
  private readonly pending = new Map<number, Set<PendingBlock<C>>>();

  /**
   * `masterOf`: the slot's master now. `follow`: makes the node MOVED names the slot's master (its
   * connection opened when new).
   */
  constructor(private readonly masterOf: (slot: number) => C, private readonly follow: (slot: number, node: { host: string; port: number }) => Promise<void>,
    private readonly giveUp: (slot: number, last: Redirect) => Error, private readonly giveUpMs = DEFAULT_GIVE_UP_MS) {}

  /**
   * Sends a block of `slot` with `send` (to the connection given; resolving with its outcome, or with a
   * Redirect when the slot's master refused it whole), in order after the slot's blocks before it; sent
   * again as the redirects say until applied. Rejects with what `send` rejects with, or `giveUp`'s error.
   */
  run<T>(slot: number, send: (master: C) => Promise<T | Redirect>): Promise<T> {
    const before = this.lanes.get(slot);
    const master = this.masterOf(slot);
    let blocks = this.pending.get(slot);
    if (!blocks) this.pending.set(slot, blocks = new Set());
    // Sent at once only behind blocks all sent on this same connection, where the cluster orders it after
    // them (refused too if they are). Else (one is waiting to go again, or went elsewhere: the slot moved)
    // it waits until they are applied.
    const alongside = [...blocks].every((b) => b.master === master);
    const block: PendingBlock<C> = { master: null };
    blocks.add(block);
    const first = alongside ? this.sendTo(block, master, send) : null;
    const done = this.settle(slot, block, first, before, send).finally(() => {
      blocks.delete(block);
      if (blocks.size === 0 && this.pending.get(slot) === blocks) this.pending.delete(slot);
    });
    const lane = done.then(() => undefined, () => undefined);
    this.lanes.set(slot, lane);
    void lane.then(() => {
      if (this.lanes.get(slot) === lane) this.lanes.delete(slot);
    });
    return done;
  }

  private sendTo<T>(block: PendingBlock<C>, master: C, send: (master: C) => Promise<T | Redirect>): Promise<T | Redirect> {
    block.master = master;
    return send(master);
  }

  private async settle<T>(slot: number, block: PendingBlock<C>, first: Promise<T | Redirect> | null, before: Promise<void> | undefined,
    send: (master: C) => Promise<T | Redirect>): Promise<T> {
    const outcome = first ? await first : null;
    if (outcome !== null && !isRedirect(outcome)) return outcome;
    block.master = null; // the slot's later blocks wait for this one
    await before;
    const deadline = Date.now() + this.giveUpMs;
    let redirect: Redirect | null = outcome as Redirect | null;
    for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
      if (redirect?.node) await this.follow(slot, redirect.node);
      else if (redirect) await new Promise((resolve) => setTimeout(resolve, pause)); // migrating: its end moves it
      const again = await this.sendTo(block, this.masterOf(slot), send);
      if (!isRedirect(again)) return again;
      block.master = null;
      if (Date.now() > deadline) throw this.giveUp(slot, again);
      redirect = again;
    }
  }
}
