// @ts-check
/** A small JSON client over node:http with keep-alive sockets, cheap enough to share two cores with the service. */
import http from 'node:http';

/**
 * @typedef {object} Answer
 * @property {number} status HTTP status, or 0 when no answer came (connection error, timeout)
 * @property {any} body parsed JSON, the raw text when not JSON, or the error message
 * @property {number} ms time to the complete answer
 */

/**
 * @typedef {object} RequestOptions
 * @property {string} [token] sent as `Authorization: Bearer <token>`
 * @property {string | object} [body] a string is sent as is (signed bodies), an object as JSON
 * @property {Record<string, string>} [headers]
 */

/**
 * @param {string} baseUrl
 * @param {{ maxSockets?: number, timeoutMs?: number }} [options]
 */
export function createClient(baseUrl, { maxSockets = 64, timeoutMs = 30_000 } = {}) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets, noDelay: true });

  /**
   * @param {string} method
   * @param {string} path
   * @param {RequestOptions} [options]
   * @returns {Promise<Answer>}
   */
  function request(method, path, { token, body, headers = {} } = {}) {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const started = performance.now();
    return new Promise((resolve) => {
      const req = http.request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method,
          path,
          timeout: timeoutMs,
          headers: {
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...headers,
          },
        },
        (res) => {
          /** @type {Buffer[]} */
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: parse(Buffer.concat(chunks).toString()), ms: performance.now() - started }),
          );
          res.on('error', (error) => resolve({ status: 0, body: error.message, ms: performance.now() - started }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', (error) => resolve({ status: 0, body: error.message, ms: performance.now() - started }));
      req.end(payload);
    });
  }

  return { request, close: () => agent.destroy() };
}

/** @param {string} text */
function parse(text) {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

/**
 * Runs `task` for every item with at most `concurrency` in flight; resolves to the results in order.
 * @template T, R
 * @param {T[]} items
 * @param {number} concurrency
 * @param {(item: T, index: number) => Promise<R>} task
 * @returns {Promise<R[]>}
 */
export async function mapLimit(items, concurrency, task) {
  /** @type {R[]} */
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
