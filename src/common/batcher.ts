/**
 * Coalesces small statements: items added while no run is going are sent
 * together at the end of the current event-loop turn (every request whose
 * data arrived in that turn, every caller a finished batch let go on);
 * items added while one runs wait for it and then go together, up to
 * `maxBatch` per run. Under load that turns many one-row statements into a
 * few many-row ones (one round trip, one system call each), while a lone one
 * waits no longer than the turn. Each `add` settles with its own result when its batch has run
 * (`run` returns one result per item, in order, or nothing), or fails with
 * its own error: when a batch fails, its items go again one at a time, so an
 * item the database refuses fails alone.
 */
export class Batcher<T, R = void> {
  private queue: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  private running = false;

  constructor(
    private readonly run: (items: T[]) => Promise<R[] | void>,
    private readonly maxBatch = 500,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.run(batch.map((entry) => entry.item));
        batch.forEach((entry, i) => entry.resolve((results ? results[i] : undefined) as R));
      } catch (error) {
        if (batch.length === 1) batch[0].reject(error);
        // One item the database refuses must not fail the others: each goes again alone.
        else for (const entry of batch) await this.runAlone(entry);
      }
    }
    this.running = false;
  }

  private async runAlone(entry: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }): Promise<void> {
    try {
      const results = await this.run([entry.item]);
      entry.resolve((results ? results[0] : undefined) as R);
    } catch (error) {
      entry.reject(error);
    }
  }
}
