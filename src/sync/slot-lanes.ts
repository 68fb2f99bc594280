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

export class SlotLanes<C> {
  /** Each slot's last block: settles once it is applied (or failed). */
  private readonly lanes = new Map<number, Promise<void>>();
  /** The connection each slot's last block went to (a new one: its earlier blocks must be applied first). */
  private readonly lastSent = new Map<number, C>();

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
    // On the connection of the slot's blocks before it, the cluster orders it after them; on another
    // (the slot moved), it waits until they are applied.
    const first = !before || this.lastSent.get(slot) === master ? this.sendTo(slot, master, send) : null;
    if (!first) this.lastSent.delete(slot); // the slot's next blocks wait too
    const done = this.settle(slot, first, before, send);
    const lane = done.then(() => undefined, () => undefined);
    this.lanes.set(slot, lane);
    void lane.then(() => {
      if (this.lanes.get(slot) === lane) {
        this.lanes.delete(slot);
        this.lastSent.delete(slot);
      }
    });
    return done;
  }

  private sendTo<T>(slot: number, master: C, send: (master: C) => Promise<T | Redirect>): Promise<T | Redirect> {
    this.lastSent.set(slot, master);
    return send(master);
  }

  private async settle<T>(slot: number, first: Promise<T | Redirect> | null, before: Promise<void> | undefined,
    send: (master: C) => Promise<T | Redirect>): Promise<T> {
    const outcome = first ? await first : null;
    if (outcome !== null && !isRedirect(outcome)) return outcome;
    await before;
    const deadline = Date.now() + this.giveUpMs;
    let redirect: Redirect | null = outcome as Redirect | null;
    for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
      if (redirect?.node) await this.follow(slot, redirect.node);
      else if (redirect) await new Promise((resolve) => setTimeout(resolve, pause)); // migrating: its end moves it
      const again = await this.sendTo(slot, this.masterOf(slot), send);
      if (!isRedirect(again)) return again;
      if (Date.now() > deadline) throw this.giveUp(slot, again);
      redirect = again;
    }
  }
}
