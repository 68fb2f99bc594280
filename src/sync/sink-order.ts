// The order a sync's sink keeps (target-sink.ts, cluster-target-sink.ts): batches of commands are sent
// as they come, many in flight; a step (a copy's start or end, deleting owned keys) runs once every batch
// before it has settled, and every batch after it waits for it. Once anything failed, everything after
// fails with it: nothing may be applied after a gap.
export class SinkOrder {
  /** The first failure (of a write, or reported by the sink: a lease lost, a connection dropped). */
  failure: unknown = null;
  /** The step running, while it runs. */
  private step: Promise<void> | null = null;
  /** Settles once every batch handed over so far has (on several connections, no one of them orders them all). */
  private settled: Promise<void> = Promise.resolve();

  /**
   * Sends a batch: `send` at once (after a step running), or, for a step, once everything before has
   * settled. `applied`: called once it and every batch before it are applied.
   */
  run(isStep: boolean, send: () => Promise<void>, applied?: () => void): Promise<void> {
    let done: Promise<void>;
    if (!isStep) {
      done = this.step ? this.step.then(send) : send();
    } else {
      const step: Promise<void> = this.settled.then(send).finally(() => {
        if (this.step === step) this.step = null;
      });
      this.step = step;
      done = step;
    }
    this.settled = Promise.all([this.settled, done]).then(applied, () => undefined);
    return done.catch((err: unknown) => {
      this.failure ??= err;
      throw err;
    });
  }

  /** A step is running (or waiting for what is before it). */
  get stepRunning(): boolean {
    return this.step !== null;
  }
}
