import { Server } from 'node:net';
import type { Server as HttpServer } from 'node:http';

const POLL_MS = 50;

/**
 * Graceful hand-over for a rolling restart (`pm2 reload`). Draining stops
 * accepting connections, so new ones go to the other workers, while the
 * keep-alive connections already open are still served: every answer from
 * then on carries `Connection: close`, so each client leaves after its next
 * request, cleanly. A connection that stays idle is closed by the server's
 * keep-alive timeout, after the client itself, told the timeout by the
 * `Keep-Alive` header, has stopped using it. Draining ends when no
 * connection is left (or at the deadline; the application's close then cuts
 * what remains).
 *
 * Closing idle keep-alive connections at once (what `http.Server#close`
 * does) would reset requests a client is writing to them at that moment.
 */
export class ConnectionDrain {
  private isDraining = false;

  get draining(): boolean {
    return this.isDraining;
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
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
