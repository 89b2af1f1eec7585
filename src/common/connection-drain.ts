import { Server } from 'node:net';
import type { Server as HttpServer } from 'node:http';

/** A worker is drained once no request has arrived for this long and none is in flight. */
export const DRAIN_QUIET_MS = 1_000;
const POLL_MS = 50;

/**
 * Graceful hand-over for a rolling restart (`pm2 reload`). Draining stops
 * accepting connections, so new ones go to the other workers, while the
 * keep-alive connections already open are still served: every answer from
 * then on carries `Connection: close`, so each client leaves after its next
 * request, cleanly. Draining ends when no connection is left, or when none
 * has sent anything for DRAIN_QUIET_MS and nothing is in flight; the
 * application's close then cuts the idle rest.
 *
 * Closing idle keep-alive connections at once (what `http.Server#close`
 * does) would reset requests a client is writing to them at that moment.
 */
export class ConnectionDrain {
  private inFlight = 0;
  private lastRequestAt = 0;
  private isDraining = false;

  get draining(): boolean {
    return this.isDraining;
  }

  /** Counts a request from its start until its response is finished or abandoned. */
  track(response: NodeJS.EventEmitter): void {
    this.inFlight++;
    this.lastRequestAt = Date.now();
    response.once('close', () => this.inFlight--);
  }

  /** Resolves when the connections have drained, or after `timeoutMs` at most. */
  async drain(server: HttpServer, timeoutMs: number): Promise<void> {
    if (this.isDraining) return;
    this.isDraining = true;
    // net.Server's close stops accepting but, unlike http.Server's, leaves open connections alone.
    if (server.listening) Server.prototype.close.call(server);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const open = await new Promise<number>((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
      if (open === 0) return;
      if (this.inFlight === 0 && Date.now() - this.lastRequestAt >= DRAIN_QUIET_MS) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
