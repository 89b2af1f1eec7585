// @ts-check
/**
 * A stand-in for Vendure's webhook endpoint: answers 200 at once and notes
 * when each webhook-id first arrived. It does not verify signatures (the
 * test suites do); it only times the relay.
 */
import { once } from 'node:events';
import http from 'node:http';

export async function startReceiver() {
  /** @type {Map<string, number>} webhook-id → first arrival (ms since the epoch) */
  const arrivals = new Map();
  const server = http.createServer((req, res) => {
    const id = String(req.headers['webhook-id'] ?? '');
    if (!arrivals.has(id)) arrivals.set(id, Date.now());
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${address.port}/vendure/webhooks`,
    arrivals,
    /**
     * Resolves once every id has arrived, or rejects after `timeoutMs`.
     * @param {string[]} ids
     */
    async waitFor(ids, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (ids.some((id) => !arrivals.has(id))) {
        if (Date.now() > deadline) throw new Error(`${ids.filter((id) => !arrivals.has(id)).length} webhooks never arrived`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
