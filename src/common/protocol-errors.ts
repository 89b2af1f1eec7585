import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, toErrorResponse } from './error-response.js';
import { requestIdFrom } from './request-context.js';

/**
 * Requests refused before any route runs still answer in the contract's
 * shape, with a code and an `x-request-id`.
 */

/** Requests the router cannot take: an undecodable path (400), a path parameter over 100 characters (414). */
export function frameworkErrors(error: Error, request: FastifyRequest, reply: FastifyReply): void {
  const { body } = toErrorResponse(error);
  void reply.code(body.statusCode).header('x-request-id', request.id).header('content-type', 'application/json; charset=utf-8').send(body);
}

/**
 * An `Expect` header other than `100-continue` (Node's `checkExpectation`):
 * 417 in the contract's shape, where Node would answer a bare 417.
 */
export function expectationFailed(request: IncomingMessage, response: ServerResponse): void {
  const body = errorBody(417, 'EXPECTATION_FAILED', 'Only "Expect: 100-continue" is supported');
  response.writeHead(417, {
    'content-type': 'application/json; charset=utf-8',
    'x-request-id': requestIdFrom(request.headers['x-request-id']),
    connection: 'close',
  });
  response.end(JSON.stringify(body));
}

/**
 * Requests the HTTP parser refuses (Node's `clientError`): headers over the
 * size limit (431), ambiguous framing, invalid header bytes, a bad request
 * line (400). The answer is written to the socket, which is then closed.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [statusCode, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ([431, 'HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts'] as const)
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ([408, 'REQUEST_TIMEOUT', 'The request took too long to arrive'] as const)
        : ([400, 'MALFORMED_REQUEST', 'The request is not valid HTTP/1.1'] as const);
  const body = errorBody(statusCode, code, message);
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${statusCode} ${body.error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
        `x-request-id: ${randomUUID()}\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy();
}
