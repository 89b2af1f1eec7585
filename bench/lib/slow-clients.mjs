// @ts-check
/**
 * Slow clients: sockets that send a request's headers, then its body one byte
 * every 2 s, as a client on a hostile or broken link does. The service must cut
 * each at HTTP_REQUEST_TIMEOUT_MS (30 s by default) and keep answering others
 * meanwhile: GET /health's median with the sockets held, against its median
 * with none, in the same run.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { plainRow, ratioRow } from './compare.mjs';
import { log } from './report.mjs';
import { fixed, percentile } from './stats.mjs';

/** The service's default HTTP_REQUEST_TIMEOUT_MS (the bench does not set it). */
const REQUEST_TIMEOUT_MS = 30_000;
const SOCKETS = 2_000;
const DRIP_EVERY_MS = 2_000;
const HEALTH_SAMPLES = 200;

/** @typedef {import('./bench-context.mjs').Bench} Bench */
/** @typedef {import('./report.mjs').Row} Row */

/** @param {string} url @returns {Promise<number>} the median of HEALTH_SAMPLES sequential GET /health, in ms */
async function healthMedian(url) {
  /** @type {number[]} */
  const times = [];
  for (let i = 0; i < HEALTH_SAMPLES; i++) {
    const started = performance.now();
    const response = await fetch(`${url}/health`);
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`GET /health answered ${response.status}`);
    times.push(performance.now() - started);
  }
  return percentile(times, 50);
}

/**
 * Opens `count` slow-body sockets; resolves once all are connected, with a promise of
 * when each was closed (ms after its connect) and what it was answered.
 * @param {URL} url @param {number} count
 */
async function openSlowBodies(url, count) {
  /** @type {Array<{ socket: net.Socket, connectedAt: number, answer: string, closedAt: number }>} */
  const clients = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) });
    // The server closes a cut socket while bytes are still arriving: the client sees a reset, which is expected.
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const client = { socket, connectedAt: Date.now(), answer: '', closedAt: 0 };
    socket.once('close', () => (client.closedAt = Date.now()));
    socket.on('data', (chunk) => (client.answer += chunk.toString('latin1')));
    socket.write(
      `PATCH /drivers/${randomUUID()}/location HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
    );
    clients.push(client);
  }
  const drip = setInterval(() => {
    for (const { socket } of clients) if (socket.writable) socket.write(' ');
  }, DRIP_EVERY_MS);
  const closed = Promise.all(
    clients.map(async (client) => {
      if (!client.closedAt) await new Promise((closed) => client.socket.once('close', closed));
      return { afterMs: client.closedAt - client.connectedAt, timedOut: /^HTTP\/1\.1 408 /.test(client.answer) };
    }),
  ).finally(() => clearInterval(drip));
  return { closed };
}

/** @param {Bench} bench @returns {Promise<Row[]>} */
export async function slowClientsFigure(bench) {
  const url = bench.service.url;
  log(`slow clients: GET /health alone, then with ${SOCKETS} slow-body sockets held`);
  const quiet = await healthMedian(url);
  const { closed } = await openSlowBodies(new URL(url), SOCKETS);
  const held = await healthMedian(url);
  const results = await closed;
  const cut = results.filter((r) => r.timedOut).length;
  const latest = Math.max(...results.map((r) => r.afterMs));
  // Node checks the timeout every second, and a socket connected under load waits a moment to be accepted.
  const inTime = results.filter((r) => r.timedOut && r.afterMs <= REQUEST_TIMEOUT_MS + 2_000).length;
  return [
    ratioRow(`GET /health p50 with ${SOCKETS} slow bodies held vs none`, 'ms', held, quiet, {
      text: '≤ 100 ms',
      holds: () => held <= 100,
    }),
    plainRow(
      `slow bodies answered 408 and closed within HTTP_REQUEST_TIMEOUT_MS + 2 s (${REQUEST_TIMEOUT_MS / 1000} s)`,
      `${inTime} / ${SOCKETS} (${cut} answered 408; last closed after ${fixed(latest / 1000, 1)} s)`,
      `${SOCKETS} / ${SOCKETS}`,
      inTime === SOCKETS,
    ),
  ];
}
