import { afterEach, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebhookSender } from '../src/outbox/webhook-sender.js';

/** What `answer` returns to reset the connection without answering. */
const RESET = Symbol('reset');

/**
 * A receiver on a raw socket, so the test decides exactly what each
 * connection does: `answer(connection, request)` returns the raw response, or
 * RESET to reset the connection without answering.
 */
async function rawReceiver(answer: (connection: number, request: number) => string | typeof RESET) {
  const seen: { connection: number; head: string; body: string }[] = [];
  let connections = 0;
  const server = net.createServer((socket) => {
    const connection = ++connections;
    let requests = 0;
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const body = buffered.slice(end + 4, end + 4 + length);
        buffered = buffered.slice(end + 4 + length);
        const reply = answer(connection, ++requests);
        seen.push({ connection, head, body });
        if (reply === RESET) {
          socket.resetAndDestroy();
          return;
        }
        socket.write(reply);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return { url, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const ok = 'HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n';
const signal = () => AbortSignal.timeout(5_000);

describe('WebhookSender', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('keeps the connection alive, sends the headers and body, and reports status and Retry-After', async () => {
    const receiver = await rawReceiver((_connection, request) =>
      request === 1 ? ok : 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy',
    );
    const sender = new WebhookSender(receiver.url, 4);
    cleanups.push(() => sender.close(), receiver.close);

    expect(await sender.post({ 'content-type': 'application/json', 'webhook-id': 'msg_1' }, '{"n":"é"}', signal())).toEqual({
      statusCode: 204,
      retryAfter: null,
    });
    expect(await sender.post({ 'webhook-id': 'msg_2' }, '{}', signal())).toEqual({ statusCode: 503, retryAfter: '7' });

    expect(receiver.seen.map((r) => r.connection)).toEqual([1, 1]);
    expect(receiver.seen[0].head).toMatch(/^POST \/hooks HTTP\/1\.1\r\n/);
    expect(receiver.seen[0].head).toMatch(/\r\nwebhook-id: msg_1\r\n/i);
    // The length is counted in bytes, so a multi-byte body arrives whole.
    expect(receiver.seen[0].head).toMatch(/\r\ncontent-length: 10\r\n/i);
    expect(Buffer.from(receiver.seen[0].body, 'latin1').toString('utf8')).toBe('{"n":"é"}');
  });

  it('does not follow a redirect: the 3xx is the answer', async () => {
    const receiver = await rawReceiver(() => 'HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n');
    const sender = new WebhookSender(receiver.url, 4);
    cleanups.push(() => sender.close(), receiver.close);
    expect((await sender.post({}, '{}', signal())).statusCode).toBe(302);
    expect(receiver.seen).toHaveLength(1);
  });

  it('sends again on a new connection when a reused one was reset before any answer', async () => {
    // The first connection answers once, then resets on its next request, as a receiver that dropped it would.
    const receiver = await rawReceiver((connection, request) => (connection === 1 && request === 2 ? RESET : ok));
    const sender = new WebhookSender(receiver.url, 1);
    cleanups.push(() => sender.close(), receiver.close);

    expect((await sender.post({ 'webhook-id': 'msg_a' }, '{}', signal())).statusCode).toBe(204);
    expect((await sender.post({ 'webhook-id': 'msg_b' }, '{}', signal())).statusCode).toBe(204);
    expect(receiver.seen.map((r) => [r.connection, /webhook-id: (\S+)/i.exec(r.head)?.[1]])).toEqual([
      [1, 'msg_a'],
      [1, 'msg_b'],
      [2, 'msg_b'],
    ]);
  });

  it('fails on a reset of a new connection, and on a timeout, without sending again', async () => {
    const resetting = await rawReceiver(() => RESET);
    const sender = new WebhookSender(resetting.url, 1);
    cleanups.push(() => sender.close(), resetting.close);
    await expect(sender.post({}, '{}', signal())).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(resetting.seen).toHaveLength(1);

    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const hanging = new WebhookSender(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/`, 1);
    cleanups.push(
      () => hanging.close(),
      () => new Promise<void>((resolve) => silent.close(() => resolve())),
    );
    const controller = new AbortController();
    const posted = hanging.post({}, '{}', controller.signal);
    controller.abort(new Error('timed out'));
    await expect(posted).rejects.toThrow();
  });
});
