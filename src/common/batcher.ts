/**
 * Coalesces small statements: an item added while no run is going is sent at
 * once; items added while one runs wait for it and then go together, up to
 * `maxBatch` per run. Under load that turns many one-row statements into a
 * few many-row ones (one round trip, one system call each) without delaying
 * a lone one. Each `add` settles with its own result when its batch has run
 * (`run` returns one result per item, in order, or nothing), or fails with
 * that batch's error.
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
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.run(batch.map((entry) => entry.item));
        batch.forEach((entry, i) => entry.resolve((results ? results[i] : undefined) as R));
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.running = false;
  }
}

/** A Batcher of writes, each settling when its batch is written. */
export class WriteBatcher<T> extends Batcher<T, void> {}
