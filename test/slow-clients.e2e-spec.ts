import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import net, { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from './support/databases.js';
import { admin, startTestApp, TestApp } from './support/test-app.js';

const REQUEST_TIMEOUT_MS = 1_000;

interface Dripped {
  /** What the server answered before it closed the socket. */
  answer: string;
  /** Bytes of the request sent before the close. */
  sent: number;
  elapsedMs: number;
}

/**
 * Sends `head` at once, then `rest` one byte every `everyMs`, until the server closes the
 * socket (or all of it is sent and answered): a client on a slow or hostile link.
 */
async function drip(port: number, head: string, rest: string, everyMs: number): Promise<Dripped> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const started = Date.now();
  let answer = '';
  let sent = head.length;
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.write(head);
  const timer = setInterval(() => {
    if (sent - head.length >= rest.length || socket.destroyed || !socket.writable) return;
    socket.write(rest[sent - head.length]);
    sent += 1;
  }, everyMs);
  await once(socket, 'close');
  clearInterval(timer);
  return { answer, sent, elapsedMs: Date.now() - started };
}

/** Slow clients (contract: bad input gets a clear 4xx): a request must arrive within HTTP_REQUEST_TIMEOUT_MS. */
describe('slow clients', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    database = await createTestDatabase('slow_clients');
    t = await startTestApp({ DATABASE_URL: database.url, HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
    const server = t.app.getHttpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await t?.close();
    await database?.drop();
  });

  const body = JSON.stringify({ lat: 52.52, lon: 13.405, pad: 'x'.repeat(900) });
  const location = (id: string, headers = '') =>
    `PATCH /drivers/${id}/location HTTP/1.1\r\nHost: x\r\n${headers}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;

  it('answers a body dripped a byte at a time 408 REQUEST_TIMEOUT and closes its socket, with no credentials needed to be cut', async () => {
    const slow = await drip(port, location(randomUUID()), body, 50);
    expect(slow.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(slow.answer.slice(slow.answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ statusCode: 408, code: 'REQUEST_TIMEOUT' });
    // Cut before the body was complete, and not before the limit.
    expect(slow.sent).toBeLessThan(location(randomUUID()).length + body.length);
    expect(slow.elapsedMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
  });

  it('cuts slow headers the same way', async () => {
    const slow = await drip(port, 'GET /health HTTP/1.1\r\n', 'Host: x\r\nX-Slow: ' + 'y'.repeat(500) + '\r\n\r\n', 50);
    expect(slow.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(slow.elapsedMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
  });

  it('keeps serving others while 200 slow bodies are held, and a request that arrives in time is answered', async () => {
    const slow = Array.from({ length: 200 }, () => drip(port, location(randomUUID()), body, 100));
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    // The body's last bytes a little late, well within the limit: answered (401: no credentials), not cut.
    const inTime = await drip(port, location(randomUUID(), 'Connection: close\r\n') + body.slice(0, -3), body.slice(-3), 20);
    expect(inTime.answer).toMatch(/^HTTP\/1\.1 401 /);
    const results = await Promise.all(slow);
    expect(results.filter((r) => !/^HTTP\/1\.1 408 /.test(r.answer))).toEqual([]);
    await fetch(`http://127.0.0.1:${port}/drivers?limit=1`, { headers: admin }).then((r) => expect(r.status).toBe(200));
  });
});
