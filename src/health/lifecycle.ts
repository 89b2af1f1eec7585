import { Injectable } from '@nestjs/common';

/**
 * Whether the process is shutting down. `main.ts` says so on SIGTERM, before
 * the grace period; `/health/ready` then answers 503 while requests are still
 * served, so a load balancer moves traffic away before connections close.
 */
@Injectable()
export class Lifecycle {
  private stopping = false;

  get shuttingDown(): boolean {
    return this.stopping;
  }

  beginShutdown(): void {
    this.stopping = true;
  }
}
