import { Injectable } from '@nestjs/common';

/**
 * Whether the process is shutting down. `main.ts` says so on SIGTERM, before
 * the grace period; `/health/ready` then answers 503 while requests are still
 * served, so a load balancer moves traffic away before connections close.
 * After the grace period, `beginDrain` tells whoever holds connections open
 * on purpose (tracking streams) to let them go, so the drain that follows
 * waits for requests in flight only.
 */
@Injectable()
export class Lifecycle {
  private stopping = false;
  private readonly drainListeners: Array<() => void> = [];

  get shuttingDown(): boolean {
    return this.stopping;
  }

  beginShutdown(): void {
    this.stopping = true;
  }

  /** Calls `listener` when the connection drain begins. */
  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  beginDrain(): void {
    for (const listener of this.drainListeners.splice(0)) listener();
  }
}
