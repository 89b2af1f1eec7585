export interface BatcherOptions {
  /** Items in one run at most (500). */
  maxBatch?: number;
  /**
   * Runs in flight at once (1). With one, items that arrive while a run is
   * going wait for it and then go together; with more, each event-loop
   * turn's items go at its end while earlier runs are still going.
   */
  maxRunning?: number;
  /**
   * When a run fails, run its items again one at a time, so an item the
   * database refuses fails alone (true). False: every item of the run fails
   * with its error, for runs that fail as a whole (a server that is down or
   * does not answer) and whose items must not be applied twice.
   */
  retryAlone?: boolean;
}

/**
 * Coalesces small statements: items added while no run is going are sent
 * together at the end of the current event-loop turn (every request whose
 * data arrived in that turn, every caller a finished batch let go on);
 * items added while one runs wait for it and then go together, up to
 * `maxBatch` per run. Under load that turns many one-row statements into a
 * few many-row ones (one round trip, one system call each), while a lone one
 * waits no longer than the turn. Each `add` settles with its own result when
 * its batch has run (`run` returns one result per item, in order, or
 * nothing), or fails with its own error: when a batch fails, its items go
 * again one at a time (unless `retryAlone` is false), so an item the
 * database refuses fails alone.
 */
export class Batcher<T, R = void> {
  private queue: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  private running = 0;
  private scheduled = false;
  private readonly maxBatch: number;
  private readonly maxRunning: number;
  private readonly retryAlone: boolean;

  constructor(
    private readonly run: (items: T[]) => Promise<R[] | void>,
    { maxBatch = 500, maxRunning = 1, retryAlone = true }: BatcherOptions = {},
  ) {
    this.maxBatch = maxBatch;
    this.maxRunning = maxRunning;
    this.retryAlone = retryAlone;
  }

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.running < this.maxRunning && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.drain();
        });
      }
    });
  }

  private async drain(): Promise<void> {
    if (this.running >= this.maxRunning || this.queue.length === 0) return;
    this.running += 1;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.run(batch.map((entry) => entry.item));
        batch.forEach((entry, i) => entry.resolve((results ? results[i] : undefined) as R));
      } catch (error) {
        if (batch.length === 1 || !this.retryAlone) for (const entry of batch) entry.reject(error);
        // One item the database refuses must not fail the others: each goes again alone.
        else for (const entry of batch) await this.runAlone(entry);
      }
    }
    this.running -= 1;
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
