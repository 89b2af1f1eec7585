/**
 * Coalesces small writes: an item added while no write is running is written
 * at once; items added while one runs wait for it and then go together, up to
 * `maxBatch` per write. Under load that turns many one-row statements into a
 * few many-row ones (one round trip, one system call) without delaying a
 * lone write. Each `add` settles when its own batch has been written, or
 * fails with that batch's error.
 */
export class WriteBatcher<T> {
  private queue: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private running = false;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly maxBatch = 500,
  ) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.write(batch.map((entry) => entry.item));
        for (const entry of batch) entry.resolve();
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.running = false;
  }
}
